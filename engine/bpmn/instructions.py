"""Task instructions as Jinja templates: filled from the instance's data in jinja2's immutable sandbox, and checked.

An analyst writes a task's instructions (spiffworkflow:instructionsForEndUser) as Markdown with Jinja in it:
``{{ reference }}``, ``{% for r in consultation_responses %}…{% endfor %}``, ``{% if r.late %}…{% endif %}``. A line
holding nothing but block tags disappears, newline and all (SpiffArena's ``trim_blocks`` and ``lstrip_blocks``);
unlike SpiffArena, a block tag ending a line of text does not swallow that line's newline.

What the reader sees of the data is text: every ``{{ value }}`` goes through ``finalize``, which backslash-escapes
Markdown punctuation, so a value holding ``**x**`` or ``<script>`` shows those characters and never becomes Markdown
or HTML. A name (or attribute, or item) the data does not have renders empty, however deep: ``{{ r.missing.deep }}``.

What is bounded, per rendering:
- Reach: jinja2's ImmutableSandboxedEnvironment (no ``_``-prefixed or internal attributes, no mutating methods, no
  ``str.format`` tricks); reading an unsafe attribute is an error rather than an empty value. The globals are
  ``range`` (at most 100 000 items), ``dict``, ``cycler`` and ``joiner``: no ``namespace`` (no state carried across
  loop iterations) and no ``lipsum``.
- Time: every loop item, attribute or item lookup, call and piece of output checks a deadline (TIME_LIMIT seconds),
  and all loops together may take at most MAX_LOOP_ITEMS items.
- Size: the output stops at MAX_OUTPUT characters (the text is cut, with a notice); all ``{{ }}`` of one rendering,
  including what macros and ``{% set %}`` blocks capture, may give at most MAX_CAPTURED. ``*``, ``**`` and ``%`` are
  refused when their result would be longer than MAX_OUTPUT, and so are widths over it (``center``, ``indent``,
  ``format``, ``str.ljust``, ``'{:>n}'.format``…) and calls passing strings longer than MAX_ARGUMENT (a macro
  doubling a string on every call). Not bounded: one filter or method call on data already in hand runs to its end
  before the next check (e.g. ``|sort`` of a huge list); the data is the instance's, so that stays small.

Filters for people: ``{{ closed_at | date }}`` gives "16 December 2026" (London), ``| date(true)`` adds the time,
``{{ cost_impact_gbp | money }}`` gives "£1,250,000".

A template that cannot be rendered is shown as written, with a short notice; the deployment lint refuses one that does
not compile (``template_problem``), so that is rare.
"""
from __future__ import annotations

import inspect
import re
import time
import types
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import do_center, do_format, do_indent
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["MAX_LOOP_ITEMS", "MAX_OUTPUT", "TIME_LIMIT", "FilledInstructions", "TemplateProblem", "fill",
           "template_problem"]

#: seconds one rendering may take
TIME_LIMIT = 0.5
#: characters of output shown; the rest is cut with a notice
MAX_OUTPUT = 20_000
#: loop items, all loops of one rendering together
MAX_LOOP_ITEMS = 10_000
#: characters all `{{ }}` of one rendering may produce, including what macros and `{% set %}` blocks capture
MAX_CAPTURED = 10 * MAX_OUTPUT
#: characters of all the string arguments of one call (a macro, a method)
MAX_ARGUMENT = 200_000

LONDON = ZoneInfo("Europe/London")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:])")
_PERCENT_WIDTH = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_GUARDED_ITER = "guarded_iter"  # the environment attribute every `{% for %}` iterates through
_JINJA_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_TAG_LINE = re.compile(r"[ \t]*(?:\{%(?:(?!%\}).)*%\}[ \t]*)+")
_LINE_START_TAG = re.compile(r"^([ \t]*\{%)(?![+-])")
_LINE_END_TAG = re.compile(r"(?<![+-])(%\})$")


@dataclass(frozen=True)
class FilledInstructions:
    """Markdown ready to be rendered, and why it is not simply the filled template (cut short, or shown as
    written), or None."""
    markdown: str
    notice: str | None = None


@dataclass(frozen=True)
class TemplateProblem:
    """Why instructions do not compile as a template, and the line of the instructions (1-based) where, if known."""
    message: str
    line: int | None


class _Budget:
    """What one rendering has used so far: its deadline, loop items and characters output through `{{ }}`."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + TIME_LIMIT
        self.loop_items = 0
        self.characters = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OverBudget(f"they took longer than {TIME_LIMIT:g} s to fill in")


class _OverBudget(SecurityError):
    """The rendering ran out of time, loop items or characters."""


_budget: ContextVar[_Budget | None] = ContextVar("instruction_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _as_text(value: Any) -> str:
    """`finalize`: a `{{ value }}` as text, its Markdown punctuation escaped; nothing for None or a missing name."""
    if value is None or isinstance(value, Undefined):
        return ""
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(value))
    if "\n" in text:  # a value's own lines stay lines ("one issue per line"): Markdown hard breaks
        text = "  \n".join(line.strip() for line in text.strip().splitlines() if line.strip())
    budget = _budget.get()
    if budget is not None:
        budget.tick()
        budget.characters += len(text)
        if budget.characters > MAX_CAPTURED:
            raise _OverBudget(f"they produce more than {MAX_CAPTURED:,} characters")
    return text


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and abs(width) > MAX_OUTPUT:
        raise SecurityError(f"{what} wider than {MAX_OUTPUT:,} characters is not allowed")


def _check_percent_format(template: Any) -> None:
    """`'%5s' % x` and `|format`: refuse `*` widths and widths or precisions over MAX_OUTPUT."""
    if not isinstance(template, str):
        return
    for match in _PERCENT_WIDTH.finditer(template):
        for part in match.groups():
            if part == "*":
                raise SecurityError("'*' widths in a format are not allowed")
            if part:
                _check_width(int(part), "a format")


def _check_brace_format(template: str) -> None:
    """`'{:>9}'.format(x)`: refuse widths or precisions over MAX_OUTPUT (nested `{}` widths are refused too)."""
    for field in _BRACE_FIELD.findall(template):
        spec = field[1:-1].partition(":")[2]
        for number in re.findall(r"\d+", spec):
            _check_width(int(number), "a format")
    if re.search(r"\{[^{}]*:[^{}]*\{", template):
        raise SecurityError("nested widths in a format are not allowed")


def _center(value: str, width: int = 80) -> str:
    _check_width(width, "center")
    return do_center(value, width)


def _indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width, "indent")
    if isinstance(width, str):
        _check_width(len(width), "indent")
    return do_indent(value, width, first, blank)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_percent_format(value)
    return do_format(value, *args, **kwargs)


def _date(value: Any, with_time: bool = False) -> Any:
    """An ISO date or date-time (text or value) as people read it in London: '16 December 2026' (with ', 14:30' when
    asked); anything else unchanged."""
    try:
        moment = value if isinstance(value, (date, datetime)) else datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return value
    if isinstance(moment, datetime):
        if moment.tzinfo is not None:
            moment = moment.astimezone(LONDON)
        text = f"{moment.day} {moment:%B %Y}"
        return f"{text}, {moment:%H:%M}" if with_time else text
    return f"{moment.day} {moment:%B %Y}"


def _money(value: Any) -> Any:
    """A sum in pounds with thousands separators: '£1,250,000' (pence shown only when there are any)."""
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return value
    return f"£{amount:,.0f}" if amount == int(amount) else f"£{amount:,.2f}"


class _InstructionEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox with missing names empty, values escaped as text, and the budget checked."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, finalize=_as_text, autoescape=False, trim_blocks=True,
                         lstrip_blocks=True)
        for name in ("namespace", "lipsum"):
            self.globals.pop(name, None)
        self.filters.update(center=_center, indent=_indent, format=_format, date=_date, money=_money)

    # -- reach and time ---------------------------------------------------------------------------------------------

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"instructions cannot read {attribute!r}")

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        _tick()
        strings = sum(len(a) for a in (*args, *kwargs.values()) if isinstance(a, str))
        if strings > MAX_ARGUMENT:
            raise SecurityError(f"a call with more than {MAX_ARGUMENT:,} characters of text is not allowed")
        method = inspect.unwrap(obj)  # the sandbox hands out str.format wrapped in its own formatter
        if isinstance(method, types.BuiltinMethodType) and isinstance(getattr(method, "__self__", None), str):
            if method.__name__ in _PADDING_METHODS:
                for each in (*args, *kwargs.values()):
                    _check_width(each, f"str.{method.__name__}")
            elif method.__name__ in ("format", "format_map"):
                _check_brace_format(method.__self__)
        return super().call(context, obj, *args, **kwargs)

    def guarded_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """What every `{% for %}` loops over: the iterable, checking the deadline and the loop budget per item."""
        budget = _budget.get()
        for item in iterable:
            if budget is not None:
                budget.tick()
                budget.loop_items += 1
                if budget.loop_items > MAX_LOOP_ITEMS:
                    raise _OverBudget(f"their loops go round more than {MAX_LOOP_ITEMS:,} times")
            yield item

    # -- size -------------------------------------------------------------------------------------------------------

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and len(seq) * times > MAX_OUTPUT:
                    raise SecurityError(f"a repetition longer than {MAX_OUTPUT:,} is not allowed")
        elif operator == "**":
            if (isinstance(left, int) and isinstance(right, int) and right > 0
                    and max(abs(left).bit_length(), 1) * right > 4096):
                raise SecurityError("a power larger than 4096 bits is not allowed")
        elif operator == "%":
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    # -- compiling ---------------------------------------------------------------------------------------------------

    def compile_instructions(self, text: str) -> Any:
        """The template, with every `{% for %}` iterating through `guarded_iter` (which no template name can
        shadow: it is an attribute of the environment)."""
        tree = self.parse(_keep_text_lines(text))
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.EnvironmentAttribute(_GUARDED_ITER), [loop.iter], [], None, None,
                                   lineno=loop.iter.lineno)
        return self.template_class.from_code(self, self.compile(tree), self.make_globals(None), None)


_ENVIRONMENT = _InstructionEnvironment()


def _keep_text_lines(text: str) -> str:
    """Whitespace as an analyst writing Markdown expects it: a line of nothing but block tags disappears, newline and
    all (trim_blocks, lstrip_blocks); a block tag within a line of text leaves the line's indent and end alone (the
    `{%+` and `+%}` modifiers are added). Lines are neither added nor removed, so line numbers stay true."""
    lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        if "{%" in body and not _TAG_LINE.fullmatch(body):
            body = _LINE_END_TAG.sub(r"+\1", _LINE_START_TAG.sub(r"\1+", body))
        lines.append(body + line[len(line.rstrip("\r\n")):])
    return "".join(lines)


@lru_cache(maxsize=256)
def _compiled(text: str) -> Any:
    return _ENVIRONMENT.compile_instructions(text)


def template_problem(text: str | None) -> TemplateProblem | None:
    """Why these instructions would not render as a template (syntax, an unknown filter or test, a `_` attribute),
    or None when they compile."""
    if not (text or "").strip():
        return None
    try:
        tree = _ENVIRONMENT.parse(_keep_text_lines(text))
        internals = []
        for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
            name = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(name, str) and name.startswith("_"):
                internals.append((node.lineno, name))
        if internals:  # the first line's innermost lookup (found last: an outer lookup is visited before its inner)
            line = min(found for found, _ in internals)
            name = [each for found, each in internals if found == line][-1]
            return TemplateProblem(f"instructions cannot read {name!r}", line)
        _ENVIRONMENT.compile_instructions(text)
    except TemplateSyntaxError as err:
        return TemplateProblem(err.message or str(err), err.lineno)
    return None


def fill(text: str | None, data: dict | None) -> FilledInstructions:
    """The instructions' Markdown with the instance's data filled in. A template that fails (an error, refused by
    the sandbox, too slow) comes back as written with a notice; output over MAX_OUTPUT comes back cut, with one."""
    if not text:
        return FilledInstructions("")
    token = _budget.set(_Budget())
    pieces: list[str] = []
    length = 0
    try:
        template = _compiled(text)
        for piece in template.generate(dict(data or {})):
            _tick()
            pieces.append(piece)
            length += len(piece)
            if length > MAX_OUTPUT:
                return _cut(pieces)
    except Exception as err:  # noqa: BLE001 - the template is the analyst's: whatever it raises, show it as written
        return FilledInstructions(_tags_as_text(text), _as_written(err))
    finally:
        _budget.reset(token)
    return FilledInstructions("".join(pieces))


def _tags_as_text(text: str) -> str:
    """The instructions as written: their Markdown kept, their Jinja tags escaped so they show exactly as typed."""
    return _JINJA_TAG.sub(lambda m: _MARKDOWN_PUNCTUATION.sub(r"\\\1", m.group(0)), text)


def _cut(pieces: list[str]) -> FilledInstructions:
    shown = "".join(pieces)[:MAX_OUTPUT]
    return FilledInstructions(shown, f"These instructions are longer than {MAX_OUTPUT:,} characters: "
                                     "the rest is not shown.")


def _as_written(err: Exception) -> str:
    reason = err.message if isinstance(err, TemplateError) and err.message else str(err) or type(err).__name__
    if len(reason) > 160:
        reason = reason[:157] + "…"
    return (f"These instructions could not be filled in with this request's data ({reason}), "
            "so they are shown as written.")
