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
- Time: every loop item, attribute or item lookup, call and piece of output checks a deadline (TIME_LIMIT seconds
  of processor time, engine.bpmn.budget), and all loops together may take at most MAX_LOOP_ITEMS items.
- Size: the output stops at MAX_OUTPUT characters (the text is cut, with a notice). All ``{{ }}`` of one rendering
  (including what macros and ``{% set %}`` blocks capture) and everything its ``~``, ``+``, ``*``, ``|join`` and
  ``|sum`` make may come to at most MAX_CAPTURED characters and items, so no chain of doublings gets far. ``*``,
  ``**`` and ``%`` are refused when their result would be longer than MAX_OUTPUT (a repeated list counts what its
  items hold: ``[[1]*19999]*5000`` is 100 million), and so are widths over it (``center``, ``indent``, ``format``,
  ``str.ljust``, ``'{:>n}'.format``…), ``|batch`` and ``|slice`` counts over it, text of a list or dict
  (``{{ x }}``, ``|string``, ``|tojson``, ``|pprint``) longer than MAX_CAPTURED, and calls passing strings longer
  than MAX_ARGUMENT (a macro doubling a string on every call). Not bounded: one filter or method call on data
  already in hand runs to its end before the next check (e.g. ``|sort`` of a huge list); the data is the
  instance's, so that stays small.
- The same sandbox (``BudgetedSandbox``, with ``within_budget()``) renders the notice and e-mail wording
  (engine/delivery/wording.py).

Filters for people: ``{{ closed_at | date }}`` gives "16 December 2026" (London), ``| date(true)`` adds the time,
``{{ cost_impact_gbp | money }}`` gives "£1,250,000".

A template that cannot be rendered is shown as written, with a short notice; the deployment lint refuses one that does
not compile (``template_problem``), so that is rare.
"""
from __future__ import annotations

import inspect
import re
import types
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Iterable, Iterator
from zoneinfo import ZoneInfo

from jinja2 import ChainableUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes, pass_environment
from jinja2 import pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import (do_batch, do_center, do_format, do_indent, do_pprint, do_replace, do_tojson,
                            make_attrgetter, sync_do_join, sync_do_slice)
from markupsafe import soft_str
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.bpmn.budget import TimeWatch, expanded_size

__all__ = ["MAX_CAPTURED", "MAX_LOOP_ITEMS", "MAX_OUTPUT", "TIME_LIMIT", "BudgetedSandbox", "FilledInstructions",
           "TemplateProblem", "fill", "template_problem", "within_budget"]

#: seconds one rendering may take
TIME_LIMIT = 0.5
#: characters of output shown; the rest is cut with a notice
MAX_OUTPUT = 20_000
#: loop items, all loops of one rendering together
MAX_LOOP_ITEMS = 10_000
#: characters (and items) all `{{ }}` of one rendering may produce, including what macros and `{% set %}` blocks
#: capture, with what its `~`, `+`, `*`, `|join` and `|sum` make
MAX_CAPTURED = 10 * MAX_OUTPUT
#: characters of all the string arguments of one call (a macro, a method)
MAX_ARGUMENT = 200_000

LONDON = ZoneInfo("Europe/London")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~&\"'=:])")
_PERCENT_WIDTH = re.compile(r"%[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_FIELD = re.compile(r"\{[^{}]*\}")
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_GUARDED_ITER = "guarded_iter"  # the environment attribute every `{% for %}` iterates through
_GUARDED_CONCAT = "guarded_concat"  # the environment attribute every `~` joins its pieces with
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
        self.clock = TimeWatch(TIME_LIMIT)
        self.loop_items = 0
        self.characters = 0

    def tick(self) -> None:
        if self.clock.exceeded():
            raise _OverBudget(f"they took longer than {TIME_LIMIT:g} s to fill in")

    def charge(self, made: int) -> None:
        self.characters += made
        if self.characters > MAX_CAPTURED:
            raise _OverBudget(f"they produce more than {MAX_CAPTURED:,} characters")


class _OverBudget(SecurityError):
    """The rendering ran out of time, loop items or characters."""


_budget: ContextVar[_Budget | None] = ContextVar("instruction_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _charge(made: int) -> None:
    """Count characters or items a rendering made against MAX_CAPTURED (and check the deadline)."""
    budget = _budget.get()
    if budget is not None:
        budget.tick()
        budget.charge(made)


class within_budget:
    """``with within_budget(): ...``: renderings inside share one budget (time, loop items, characters)."""

    def __enter__(self) -> None:
        self._token = _budget.set(_Budget())

    def __exit__(self, *exc: Any) -> None:
        _budget.reset(self._token)


def _check_text_size(value: Any) -> None:
    """Refuse writing out a list or dict (as ``{{ x }}``, ``|string``, ``|tojson``…) longer than MAX_CAPTURED."""
    if isinstance(value, (list, tuple, set, frozenset, dict)) and (
            expanded_size(value, MAX_CAPTURED, text=True) > MAX_CAPTURED):
        raise SecurityError(f"writing out a value longer than {MAX_CAPTURED:,} characters is not allowed")


def _as_text(value: Any) -> str:
    """`finalize`: a `{{ value }}` as text, its Markdown punctuation escaped; nothing for None or a missing name."""
    if value is None or isinstance(value, Undefined):
        return ""
    _check_text_size(value)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(value))
    if "\n" in text:  # a value's own lines stay lines ("one issue per line"): Markdown hard breaks
        text = "  \n".join(line.strip() for line in text.strip().splitlines() if line.strip())
    _charge(len(text))
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


@pass_environment
def _sum(environment: Any, iterable: Iterable[Any], attribute: Any = None, start: Any = 0) -> Any:
    """`|sum`; lists and tuples are added up in linear time, and what they make is counted."""
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    if not isinstance(start, (list, tuple)):
        return sum(iterable, start)
    result = list(start)
    for item in iterable:
        if not isinstance(item, type(start)):
            raise TypeError(f"can only add {type(start).__name__}s to a {type(start).__name__}")
        _check_made(len(result) + len(item))
        _charge(len(item))
        result.extend(item)
    return result if isinstance(start, list) else tuple(result)


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
    """`|join`, refused when the joined text would be longer than MAX_CAPTURED."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    pieces = list(value)
    size = len(d) * max(len(pieces) - 1, 0)
    for piece in pieces:
        size += len(piece) if isinstance(piece, str) else expanded_size(piece, MAX_CAPTURED, text=True)
        if size > MAX_CAPTURED:
            break
    _check_made(size)
    _charge(size)
    return sync_do_join(eval_ctx, pieces, d)


def _string(value: Any) -> str:
    _check_text_size(value)
    return soft_str(value)


def _pprint(value: Any) -> str:
    _check_text_size(value)
    return do_pprint(value)


@pass_eval_context
def _tojson(eval_ctx: Any, value: Any, indent: int | None = None) -> Any:
    _check_text_size(value)
    _check_width(indent, "tojson's indent")
    return do_tojson(eval_ctx, value, indent)


@pass_eval_context
def _replace(eval_ctx: Any, s: Any, old: str, new: str, count: int | None = None) -> str:
    text = soft_str(s)
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _check_made(len(text) + found * (len(new) - len(old)))
        _charge(found * (len(new) - len(old)))
    return do_replace(eval_ctx, s, old, new, count)


def _check_count(count: Any, what: str) -> None:
    if isinstance(count, int) and abs(count) > MAX_OUTPUT:
        raise SecurityError(f"{what} of more than {MAX_OUTPUT:,} is not allowed")


def _batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
    _check_count(linecount, "|batch")
    return do_batch(value, linecount, fill_with)


@pass_environment
def _slice(environment: Any, value: Any, slices: int, fill_with: Any = None) -> Any:
    _check_count(slices, "|slice")
    return sync_do_slice(value, slices, fill_with)


def _check_made(size: int) -> None:
    if size > MAX_CAPTURED:
        raise SecurityError(f"a result longer than {MAX_CAPTURED:,} is not allowed")


class BudgetedSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox with govflow's budgets: every `{% for %}` iterates through `guarded_iter` and every
    `~` joins through `guarded_concat` (environment attributes no template name can shadow), lookups and calls check
    the deadline, and the operators and filters that make much from little check sizes first. Render inside
    `within_budget()`."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in ("namespace", "lipsum"):
            self.globals.pop(name, None)
        self.filters.update(center=_center, indent=_indent, format=_format, sum=_sum, join=_join, string=_string,
                            pprint=_pprint, tojson=_tojson, replace=_replace, batch=_batch, slice=_slice)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.EnvironmentAttribute(_GUARDED_ITER), [loop.iter], [], None, None,
                                   lineno=loop.iter.lineno)
        for concat in tree.find_all(nodes.Concat):
            concat.nodes = [nodes.Call(nodes.EnvironmentAttribute(_GUARDED_CONCAT), concat.nodes, [], None, None,
                                       lineno=concat.lineno)]
        return tree

    # -- reach and time ---------------------------------------------------------------------------------------------

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"templates cannot read {attribute!r}")

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
            elif method.__name__ == "join" and args:
                return _join(context.eval_ctx, args[0], method.__self__)
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

    def guarded_concat(self, *pieces: Any) -> str:
        """`a ~ b ~ c`: the pieces as text, what they come to counted against MAX_CAPTURED."""
        for piece in pieces:
            _check_text_size(piece)
        text = "".join(soft_str(piece) for piece in pieces)
        _check_made(len(text))
        _charge(len(text))
        return text

    # -- size -------------------------------------------------------------------------------------------------------

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(times, int) and times > 0:
                    held = len(seq) if isinstance(seq, str) else expanded_size(seq, MAX_OUTPUT // times)
                    if held * times > MAX_OUTPUT:
                        raise SecurityError(f"a repetition longer than {MAX_OUTPUT:,} is not allowed (counting "
                                            "what repeated lists hold)")
                    _charge(held * times)
        elif operator == "**":
            if (isinstance(left, int) and isinstance(right, int) and right > 0
                    and max(abs(left).bit_length(), 1) * right > 4096):
                raise SecurityError("a power larger than 4096 bits is not allowed")
        elif operator == "%":
            _check_percent_format(left)
            _check_text_size(right)
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)):
                _check_made(len(left) + len(right))
                _charge(len(left) + len(right))
        return super().call_binop(context, operator, left, right)


class _InstructionEnvironment(BudgetedSandbox):
    """The budgeted sandbox with missing names empty and values escaped as text."""

    def __init__(self) -> None:
        super().__init__(undefined=ChainableUndefined, finalize=_as_text, autoescape=False, trim_blocks=True,
                         lstrip_blocks=True)
        self.filters.update(date=_date, money=_money)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"instructions cannot read {attribute!r}")

    def compile_instructions(self, text: str) -> Any:
        """The template (its loops and `~` already guarded by the parse)."""
        tree = self.parse(_keep_text_lines(text))
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
