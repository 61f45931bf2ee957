"""The sandbox (RestrictedPython plus a time limit) for every expression and script SpiffWorkflow evaluates.

What is bounded:
- Code: RestrictedPython refuses names and attributes starting with "_", frame/code/generator internals; this
  module also refuses imports, classes, ``with``, ``str.format``/``format_map`` and reading the system clock. Builtins
  are an allowlist: no ``open``, ``__import__``, ``getattr``, ``type``, ``vars``, ``globals``, ``eval``, ``exec``.
- Run time: the compiler inserts a deadline check at the top of every loop body, function and lambda, and into
  every comprehension, so a script or expression stops with SandboxError after ``time_limit`` seconds (default 1 s)
  of its thread's processor time for its own code (time waiting on a loaded machine, in the provided functions or
  in a full garbage collection does not count; three times that of processor time, or ten times that on the wall
  clock, counting everything, stops it anyway: engine.bpmn.budget).
  This needs neither signals nor ``sys.settrace``, so it works in any thread and cannot be caught by the script: a
  caught timeout is raised again at the next check.
- Memory: the same checks stop a run whose process has gained more than MAX_MEMORY (256 MB) of resident memory
  since it began (engine.bpmn.budget), so a loop or comprehension growing data cannot exhaust a worker.
- Size, refused before anything is allocated: any result over MAX_ITEMS items or characters from the operations
  that make much from little: ``+``, ``*`` (counting what a repeated list holds: ``[[1]*1000000]*100`` is 100
  million items), ``%`` formatting, ``range()``, ``sum()`` of lists, ``str.join``, the padding methods (``ljust``,
  ``rjust``, ``center``, ``zfill``, ``expandtabs``), ``replace``, ``translate``, f-string and ``%`` widths and
  precisions, and ``str()``/``repr()``/f-strings of lists and dicts; integers over MAX_INT_BITS bits from ``*``,
  ``**`` and ``<<``. ``print()`` output is discarded without being made.

What is not bounded: one C-level call on data already in hand (``sorted`` of a 1,000,000-item list, ``split`` of a
long string) runs to its end before the next check; those are bounded by the sizes above, not stopped midway.
"""

from __future__ import annotations

import ast
import copy
import builtins
import operator
import re
import textwrap
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from types import CodeType, ModuleType, TracebackType
from typing import Any
from uuid import UUID

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr_raise,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.bpmn.budget import MAX_MEMORY, MemoryWatch, TimeWatch, expanded_size, uncounted

__all__ = [
    "constant_value",
    "DEFAULT_TIME_LIMIT",
    "MAX_INT_BITS",
    "MAX_ITEMS",
    "MAX_MEMORY",
    "STORABLE_TYPES",
    "SandboxError",
    "SandboxedEnvironment",
    "SandboxedScriptEngine",
    "check_expression",
    "check_script",
    "make_script_engine",
]

DEFAULT_TIME_LIMIT = 1.0
MAX_ITEMS = 1_000_000  # longest str/list/tuple/range (items, or characters) a single operation may produce
MAX_INT_BITS = 1_000_000  # largest integer (about 300,000 digits) a single operation may produce
# Types a script may leave in task data (what govflow's serializer can store). ``date`` needs a serializer entry.
STORABLE_TYPES: tuple[type, ...] = (str, int, float, bool, type(None), datetime, date, timedelta, UUID)
_MAX_NESTING = 100


class SandboxError(Exception):
    """Sandboxed code was refused or stopped; ``str()`` reads "Script refused: <reason> (line <n>)"."""

    def __init__(
        self, source: str, reason: str, line: int | None = None, *, kind: str = "Script", outcome: str = "refused"
    ) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        self.kind = kind
        message = f"{kind} {outcome}: {reason}" + (f" (line {line})" if line else "")
        super().__init__(message)  # args[0] is the message: Spiff's error formatter concatenates it


class _Refused(Exception):
    """Raised inside sandboxed code by a guard; the environment turns it into a SandboxError."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Timeout(BaseException):
    """Raised by the deadline check; a BaseException so that ``except Exception`` in a script cannot catch it."""


class _OutOfMemory(BaseException):
    """Raised by the same check once the run has gained more than MAX_MEMORY."""


# ---- compiling ----------------------------------------------------------------------------------------------


def _call(name: str, *args: ast.expr) -> ast.Call:
    """An ``ast.Call`` of the global ``name``."""
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


def _deadline_check(node: ast.AST) -> ast.Expr:
    """The statement ``_tick_()`` at ``node``'s position."""
    check = ast.Expr(value=_call("_tick_"))
    copy_locations(check, node)
    return check


def constant_value(node: ast.AST) -> Any:
    """The value of a constant expression (a number, text, or arithmetic on small numbers: ``10**7``), or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)) and not isinstance(
            node.value, bool):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = constant_value(node.operand)
        return (-value if isinstance(node.op, ast.USub) else value) if isinstance(value, (int, float)) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Pow)):
        left, right = constant_value(node.left), constant_value(node.right)
        if not (isinstance(left, int) and isinstance(right, int)):
            return None
        if isinstance(node.op, ast.Pow) and (right < 0 or right * max(abs(left), 1).bit_length() > 64):
            return None
        return {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                ast.Pow: operator.pow}[type(node.op)](left, right)
    return None


def _static_size(node: ast.AST) -> int | None:
    """Items and characters a literal sequence, or one repeated by a constant, holds (None: not known until run)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return len(node.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        return sum(_static_size(item) or 1 for item in node.elts)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for sequence, times in ((node.left, node.right), (node.right, node.left)):
            size, count = _static_size(sequence), constant_value(times)
            if size is not None and isinstance(count, int):
                return size * max(count, 0)
    return None


_PADDING = frozenset({"ljust", "rjust", "center", "zfill"})


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus govflow's refusals, deadline checks and size-guarded operators. Sizes a
    script states outright (``'x'.ljust(10**9)``, ``[[1]*1000000]*100``, ``f'{x:>1000000000}'``) are refused
    when it is compiled, so that the deployment's lint names them."""

    _SIZE_GUARDS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Mod: "_mod_"}

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> ast.AST:
        self.error(node, "import statements are not allowed")
        return node

    visit_ImportFrom = visit_Import  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, "class definitions are not allowed")
        return node

    def visit_With(self, node: ast.With) -> ast.AST:
        self.error(node, "with statements are not allowed")
        return node

    def visit_While(self, node: ast.While) -> ast.AST:
        node = super().visit_While(node)
        node.body.insert(0, _deadline_check(node))
        return node

    def visit_For(self, node: ast.For) -> ast.AST:
        node = super().visit_For(node)
        node.body.insert(0, _deadline_check(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _deadline_check(node))
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        node.body = ast.BoolOp(op=ast.And(), values=[_call("_tick_"), node.body])  # _tick_() returns True
        copy_locations(node.body, node)
        return node

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        node = super().visit_comprehension(node)
        check = _call("_tick_")
        copy_locations(check, node.iter)
        node.ifs.append(check)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        if isinstance(node.func, ast.Attribute) and node.func.attr in _PADDING and node.args:
            width = constant_value(node.args[0])
            if isinstance(width, int) and width > MAX_ITEMS:
                self.error(node, f"padding wider than {MAX_ITEMS:,} characters is not allowed")
        return super().visit_Call(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        """``f'{x!r:>{n}}'`` becomes ``f'{_format_(x, 114, f">{n}")}'``: the guard checks widths and sizes."""
        if node.format_spec is not None:
            for part in ast.walk(node.format_spec):
                if isinstance(part, ast.Constant) and isinstance(part.value, str) and any(
                        int(number) > MAX_ITEMS for number in _SPEC_NUMBER.findall(part.value)):
                    self.error(node, f"an f-string field wider than {MAX_ITEMS:,} characters is not allowed")
        node = super().visit_FormattedValue(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        guarded = _call("_format_", node.value, ast.Constant(node.conversion), spec)
        replaced = ast.FormattedValue(value=guarded, conversion=-1, format_spec=None)
        for part in ast.walk(replaced):
            if getattr(part, "lineno", None) is None and isinstance(part, ast.expr):
                copy_locations(part, node)
        return replaced

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        size = _static_size(node) if isinstance(node.op, ast.Mult) else None
        if size is not None and size > MAX_ITEMS:
            self.error(node, f"the result would be too large ({size:,} items; the limit is {MAX_ITEMS:,})")
        if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            try:
                _check_mod(node.left.value, ())
            except _Refused as refusal:
                self.error(node, refusal.reason)
        node = super().visit_BinOp(node)
        guard = self._SIZE_GUARDS.get(type(node.op))
        if guard is None:
            return node
        guarded = _call(guard, node.left, node.right)
        copy_locations(guarded, node)
        return guarded


_ERROR_LINE = re.compile(r"^Line (\d+|None): (.*)$", re.DOTALL)
_REWORDINGS = (
    (re.compile(r'^"(.+)" is an invalid variable name because it starts with "_"\.?$'),
     r'names starting with "_" are not allowed ("\1")'),
    (re.compile(r'^"(.+)" is an invalid attribute name because it starts with "_"\.?$'),
     r'attributes starting with "_" are not allowed ("\1")'),
    (re.compile(r'^"(.+)" is a restricted name, that is forbidden to access in RestrictedPython\.$'),
     r'access to "\1" is not allowed'),
    (re.compile(r"^\w*Error: (.*?)(?: at statement: .*)?$", re.DOTALL), r"syntax error: \1"),
)


def _reword(reason: str) -> str:
    """RestrictedPython's error text, said plainly and without a trailing full stop."""
    for pattern, replacement in _REWORDINGS:
        if pattern.match(reason):
            return pattern.sub(replacement, reason)
    reason = reason.rstrip(".")
    return reason[0].lower() + reason[1:] if reason[1:2].islower() else reason


@lru_cache(maxsize=2048)
def _compile(source: str, mode: str) -> tuple[CodeType | None, str | None, int | None]:
    """Compile restricted ``source`` once: (code, None, None) or (None, reason, line)."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(source, filename="<string>", policy=_Policy)
    except (ValueError, TypeError, RecursionError, MemoryError) as err:  # e.g. null bytes, absurd nesting
        return None, f"cannot be compiled ({err})", None
    if not result.errors:
        return result.code, None, None
    located = []
    for index, error in enumerate(result.errors):
        match = _ERROR_LINE.match(error)
        line, reason = (int(match[1]) if match[1] != "None" else None, match[2]) if match else (None, error)
        located.append(((line or 0, -index), line, reason))
    # Report the first line with a refusal; on one line the innermost (leftmost) node, which is reported last.
    _, line, reason = min(located, key=lambda item: item[0])
    return None, _reword(reason), line


def _compiled(source: str, mode: str, kind: str) -> CodeType:
    """The code object for ``source``, or SandboxError with the reason and line."""
    code, reason, line = _compile(source, mode)
    if code is None:
        raise SandboxError(source, reason or "refused", _shown_line(source, line, kind), kind=kind)
    return code


def _shown_line(source: str, line: int | None, kind: str) -> int | None:
    """The line to report: always for scripts, only for multi-line expressions."""
    return line if kind == "Script" or "\n" in source else None


def _prepared(source: str, kind: str) -> str:
    """Expressions lose surrounding whitespace (XML indentation); scripts lose common indentation."""
    if not isinstance(source, str):
        raise SandboxError(repr(source), f"expected text, not {type(source).__name__}", kind=kind)
    return source.strip() if kind == "Expression" else textwrap.dedent(source)


def check_expression(source: str) -> None:
    """Compile an expression (gateway condition, DMN cell, timer) without running it; SandboxError if refused."""
    _compiled(_prepared(source, "Expression"), "eval", "Expression")


def check_script(source: str) -> None:
    """Compile a script (script task, pre/post script) without running it; SandboxError if refused."""
    _compiled(_prepared(source, "Script"), "exec", "Script")


# ---- guards -------------------------------------------------------------------------------------------------

_SEQUENCES = (str, bytes, list, tuple)
_CLOCK_READERS = frozenset({"now", "utcnow", "today"})


def _check_items(count: int) -> None:
    if count > MAX_ITEMS:
        raise _Refused(f"the result would be too large ({count:,} items; the limit is {MAX_ITEMS:,})")


def _check_bits(bits: int) -> None:
    if bits > MAX_INT_BITS:
        raise _Refused(f"the result would be too large (a {bits:,}-bit number; the limit is {MAX_INT_BITS:,} bits)")


def _check_add(a: Any, b: Any) -> None:
    """Refuse ``a + b`` if it would be a sequence longer than MAX_ITEMS."""
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        _check_items(len(a) + len(b))


def _check_mul(a: Any, b: Any) -> None:
    """Refuse ``a * b`` if it would be a sequence longer than MAX_ITEMS, a list repeating more than MAX_ITEMS items
    and characters in all (``[[1]*1000000]*100``, ``['x'*1000]*10000``) or an integer wider than MAX_INT_BITS."""
    if isinstance(a, int) and isinstance(b, int):
        _check_bits(a.bit_length() + b.bit_length())
    elif isinstance(a, _SEQUENCES) and isinstance(b, int):
        _check_repeat(a, b)
    elif isinstance(a, int) and isinstance(b, _SEQUENCES):
        _check_repeat(b, a)


def _check_repeat(sequence: Any, times: int) -> None:
    _check_items(len(sequence) * times)
    if times > 1 and isinstance(sequence, (list, tuple)):
        held = expanded_size(sequence, MAX_ITEMS // times)
        if held * times > MAX_ITEMS:
            raise _Refused(f"the result would be too large (more than {MAX_ITEMS:,} items and characters in all, "
                           "counting what the repeated items hold)")


def _check_text(value: Any) -> None:
    """Refuse writing out a list, tuple, set or dict whose text would be longer than MAX_ITEMS characters."""
    if isinstance(value, (list, tuple, set, frozenset, dict)) and expanded_size(value, MAX_ITEMS, text=True) > MAX_ITEMS:
        raise _Refused(f"the text would be too long (more than {MAX_ITEMS:,} characters)")


def _check_width(width: Any, what: str) -> None:
    if isinstance(width, int) and width > MAX_ITEMS:
        raise _Refused(f"{what} wider than {MAX_ITEMS:,} characters is not allowed")


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_SPEC_NUMBER = re.compile(r"\d+")


def _check_mod(a: Any, b: Any) -> None:
    """Refuse ``text % values`` with ``*`` widths, widths or precisions over MAX_ITEMS, or a longer result."""
    if not isinstance(a, str):
        return
    total = len(a)
    for match in _PERCENT_FIELD.finditer(a):
        for part in match.groups():
            if part == "*":
                raise _Refused("'*' widths in % formatting are not allowed")
            if part:
                _check_width(int(part), "a % format")
                total += int(part)
    total += expanded_size(b, MAX_ITEMS, text=True)
    if total > MAX_ITEMS:
        raise _Refused(f"the text would be too long (more than {MAX_ITEMS:,} characters)")


def _check_pow(a: Any, b: Any) -> None:
    """Refuse ``a ** b`` if it would be an integer wider than MAX_INT_BITS."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        _check_bits(a.bit_length() * b)


def _check_lshift(a: Any, b: Any) -> None:
    """Refuse ``a << b`` if it would be an integer wider than MAX_INT_BITS."""
    if isinstance(a, int) and isinstance(b, int) and a:
        _check_bits(a.bit_length() + b)


def _guarded_add(a: Any, b: Any) -> Any:
    _check_add(a, b)
    return a + b


def _guarded_mul(a: Any, b: Any) -> Any:
    _check_mul(a, b)
    return a * b


def _guarded_pow(a: Any, b: Any, modulo: Any = None) -> Any:
    """``a ** b``, also the ``pow()`` builtin (with a modulo the result is small and not checked)."""
    if modulo is not None:
        return pow(a, b, modulo)
    _check_pow(a, b)
    return a**b


def _guarded_lshift(a: Any, b: Any) -> Any:
    _check_lshift(a, b)
    return a << b


def _guarded_mod(a: Any, b: Any) -> Any:
    _check_mod(a, b)
    return a % b


_CONVERSIONS: dict[int, Callable[[Any], str]] = {ord("s"): str, ord("r"): repr, ord("a"): ascii}


def _guarded_format(value: Any, conversion: int, spec: str) -> str:
    """One ``{value!conversion:spec}`` of an f-string, with its widths, precisions and text size checked."""
    for number in _SPEC_NUMBER.findall(spec):
        _check_width(int(number), "an f-string field")
    _check_text(value)
    if conversion in _CONVERSIONS:
        value = _CONVERSIONS[conversion](value)
    return format(value, spec)


def _guarded_repr(value: Any) -> str:
    _check_text(value)
    return repr(value)


class _GuardedStr:
    """``str`` in scripts: ``str(x)`` refuses a list or dict whose text is too long; ``isinstance(x, str)`` and
    ``str.upper`` work as usual."""

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        if args:
            _check_text(args[0])
        return str(*args, **kwargs)

    def __instancecheck__(self, value: Any) -> bool:
        return isinstance(value, str)

    def __getattr__(self, name: str) -> Any:
        return getattr(str, name)

    def __repr__(self) -> str:
        return "<class 'str'>"


_GUARDED_STR = _GuardedStr()


def _guarded_sum(iterable: Any, start: Any = 0) -> Any:
    """``sum()``; lists and tuples are added up in linear time, at most MAX_ITEMS items in all."""
    if not isinstance(start, (list, tuple)):
        return sum(iterable, start)
    result = list(start)
    for item in iterable:
        if not isinstance(item, type(start)):
            raise TypeError(f'can only concatenate {type(start).__name__} (not "{type(item).__name__}") to '
                            f"{type(start).__name__}")
        _check_items(len(result) + len(item))
        result.extend(item)
    return result if isinstance(start, list) else tuple(result)


def _padding(text: str, width: Any, fill: Any = " ", *rest: Any) -> None:
    _check_width(width, "padding")


def _tabs(text: str, tabsize: Any = 8) -> None:
    if isinstance(tabsize, int):
        _check_items(len(text) + text.count("\t") * max(tabsize, 0))


def _replacement(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(old, str) and isinstance(new, str) and len(new) > len(old):
        found = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        _check_items(len(text) + found * (len(new) - len(old)))


def _translation(text: str, table: Any) -> None:
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        _check_items(len(text) * longest)


# str methods whose result can be much larger than the string: a check of their arguments before the call
_STR_CHECKS: dict[str, Callable[..., None]] = {
    "ljust": _padding, "rjust": _padding, "center": _padding, "zfill": _padding, "expandtabs": _tabs,
    "replace": _replacement, "translate": _translation,
}


def _checked_method(text: str, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """A str method that checks its arguments first (``join`` counts the pieces it is given)."""
    if name == "join":
        def join(pieces: Any) -> str:
            pieces = list(pieces)
            if all(isinstance(piece, str) for piece in pieces):
                _check_items(sum(map(len, pieces)) + len(text) * max(len(pieces) - 1, 0))
            return method(pieces)
        return join
    check = _STR_CHECKS[name]

    def checked(*args: Any, **kwargs: Any) -> Any:
        check(text, *args, **kwargs)
        return method(*args, **kwargs)
    return checked


class _DiscardedPrint(PrintCollector):
    """``print()`` in scripts: nothing is written, and so nothing is made ("printed" reads empty)."""

    def _call_print(self, *objects: Any, **kwargs: Any) -> None:
        return None


def _guarded_range(*args: int) -> range:
    """``range()`` with at most MAX_ITEMS items (so ``list(range(...))`` cannot exhaust memory)."""
    result = range(*args)
    _check_items(len(result))
    return result


_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor, "@=": operator.imatmul,
}
_INPLACE_CHECKS = {"+=": _check_add, "*=": _check_mul, "**=": _check_pow, "<<=": _check_lshift, "%=": _check_mod}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """``target op= value`` for a plain name (RestrictedPython rewrites ``n += 1`` into this call)."""
    if op not in _INPLACE:
        raise _Refused(f"the operator {op} is not supported")
    check = _INPLACE_CHECKS.get(op)
    if check:
        check(target, value)
    return _INPLACE[op](target, value)


def _guarded_getattr(obj: Any, name: str) -> Any:
    """Attribute read: no private names, frame/code internals, ``str.format`` or system clock."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name.startswith("_"):
        raise _Refused(f'attributes starting with "_" are not allowed ("{name}")')
    if name in INSPECT_ATTRIBUTES or name == "mro":
        raise _Refused(f'access to "{name}" is not allowed')
    is_str_type = obj is _GUARDED_STR or (isinstance(obj, type) and issubclass(obj, str))
    if name in ("format", "format_map") and (isinstance(obj, str) or is_str_type):
        raise _Refused(f"str.{name}() is not allowed; use an f-string")
    if name in _CLOCK_READERS and (isinstance(obj, date) or (isinstance(obj, type) and issubclass(obj, date))):
        raise _Refused(f"reading the system clock ({name}) is not allowed; use now()")
    sized = name == "join" or name in _STR_CHECKS
    if sized and is_str_type:
        raise _Refused(f"call {name}() on a string ('text'.{name}(...)), not on str")
    found = safer_getattr_raise(obj, name)
    if sized and isinstance(obj, str):
        return _checked_method(obj, name, found)
    return found


def _guarded_getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _unavailable(name: str) -> Callable[..., Any]:
    """A builtin stand-in that explains why ``name`` cannot be used (task data of the same name hides it)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        if name == "__import__":
            raise _Refused("import statements are not allowed")
        raise _Refused(f"{name}() is not available in scripts")

    return refuse


_UNAVAILABLE = (
    "__import__", "open", "getattr", "setattr", "delattr", "hasattr", "type", "vars", "globals", "locals", "dir",
    "eval", "exec", "compile", "input", "breakpoint", "help", "exit", "quit", "object", "super", "classmethod",
    "staticmethod", "property", "memoryview", "bytearray", "bytes", "iter", "next", "issubclass",
)
# BaseException subclasses that are not Exceptions would escape Spiff's error handling and stop a worker.
_NOT_RAISABLE = ("BaseException", "SystemExit", "KeyboardInterrupt", "GeneratorExit")
_NOT_FROM_SAFE_BUILTINS = ("__build_class__", "setattr", "delattr", "_getattr_", "issubclass", *_NOT_RAISABLE)


def _sandbox_builtins() -> dict[str, Any]:
    """RestrictedPython's safe builtins minus class-building and raw attribute writes, plus govflow's utilities."""
    allowed = {name: value for name, value in safe_builtins.items() if name not in _NOT_FROM_SAFE_BUILTINS}
    for name in ("all", "any", "dict", "enumerate", "frozenset", "list", "max", "min", "reversed", "set", "sorted",
                 "sum", "tuple", "zip"):
        allowed[name] = getattr(builtins, name)
    allowed.update(
        range=_guarded_range,
        pow=_guarded_pow,
        sum=_guarded_sum,
        str=_GUARDED_STR,
        repr=_guarded_repr,
        datetime=datetime,
        date=date,
        timedelta=timedelta,
        timezone=timezone,
    )
    allowed.update({name: _unavailable(name) for name in _UNAVAILABLE})
    return allowed


_BUILTINS = _sandbox_builtins()
_GUARDS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": _guarded_getitem,
    "_getiter_": iter,
    "_write_": full_write_guard,  # dicts and lists are written directly; anything else refuses attribute writes
    "_inplacevar_": _inplacevar,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_apply_": _apply,
    "_print_": _DiscardedPrint,
    "_add_": _guarded_add,
    "_mul_": _guarded_mul,
    "_pow_": _guarded_pow,
    "_lshift_": _guarded_lshift,
    "_mod_": _guarded_mod,
    "_format_": _guarded_format,
}


# ---- running ------------------------------------------------------------------------------------------------


def _visible(name: object) -> bool:
    """Task-data keys a script may see: strings not starting with "_" (those could shadow the guards)."""
    return isinstance(name, str) and not name.startswith("_")


def _sandbox_line(tb: TracebackType | None, scope: dict[str, Any]) -> int | None:
    """The line of the innermost sandboxed frame in a traceback."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_globals is scope:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


_STORABLE_EXACT = frozenset(STORABLE_TYPES)


def _unstorable(value: Any) -> str | None:
    """The type name of the first value that task data cannot hold, or None if all of it can be stored."""
    pending = [(value, 0)]
    visited: set[int] = set()
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind in _STORABLE_EXACT:
            continue
        if kind is dict or kind is list or kind is tuple or isinstance(item, (dict, list, tuple)):
            if id(item) in visited:
                continue
            if depth >= _MAX_NESTING:
                return "structure nested too deeply"
            visited.add(id(item))
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif not isinstance(item, STORABLE_TYPES):
            return kind.__name__
    return None


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that compiles with RestrictedPython and runs under a time limit.

    ``functions`` are globals of every script and expression; task data may not use their names.
    """

    def __init__(
        self, functions: Mapping[str, Callable[..., Any]] | None = None, time_limit: float = DEFAULT_TIME_LIMIT,
        memory_limit: int = MAX_MEMORY,
    ) -> None:
        provided = dict(functions or {})
        for name, function in provided.items():
            if not name.isidentifier() or name.startswith("_"):
                raise ValueError(f"provided function name {name!r} must be an identifier not starting with '_'")
            if not callable(function):
                raise TypeError(f"provided function {name!r} is not callable")
        if time_limit <= 0:
            raise ValueError("time_limit must be positive")
        provided = {name: uncounted(function) for name, function in provided.items()}  # the limit is the script's
        super().__init__(provided)
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self._fixed = {**_GUARDS, **provided}

    def evaluate(self, expression: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> Any:
        """The value of ``expression`` over task data ``context`` (task data wins over ``external_context``)."""
        source = _prepared(expression, "Expression")
        code = _compiled(source, "eval", "Expression")
        scope = self._scope(source, "Expression", context, external_context or {}, strict=False)
        result = self._run(code, scope, source, "Expression")
        problem = _unstorable(result)
        if problem:  # e.g. a generator or lambda, which would run sandboxed code outside the sandbox later
            raise SandboxError(source, f"the result is a {problem}, which is not a data value", kind="Expression")
        if expanded_size(result, MAX_ITEMS) > MAX_ITEMS:
            raise SandboxError(source, f"the result holds more than {MAX_ITEMS:,} items and characters",
                               kind="Expression")
        return result

    def execute(self, script: str, context: dict[str, Any], external_context: dict[str, Any] | None = None) -> bool:
        """Run ``script``; its new, changed and deleted top-level variables update task data ``context``."""
        external = external_context or {}
        source = _prepared(script, "Script")
        code = _compiled(source, "exec", "Script")
        scope = self._scope(source, "Script", context, external, strict=True)
        seen = [name for name in context if _visible(name)]
        self._run(code, scope, source, "Script")
        self._store(source, scope, context, seen, external)
        return True

    def _scope(
        self, source: str, kind: str, context: Mapping[str, Any], external: Mapping[str, Any], strict: bool
    ) -> dict[str, Any]:
        """Globals for one run: guards and functions, then external context, then visible task data."""
        clashes = set(self.globals).intersection({*context, *external})
        if clashes:
            names = ", ".join(sorted(clashes))
            raise SandboxError(
                source, f"task data ({names}) has the name of a provided function; rename the variable or form field",
                kind=kind,
            )
        if strict and set(external).intersection(context):
            names = ", ".join(sorted(set(external).intersection(context)))
            raise SandboxError(source, f"task data ({names}) has the name of a workflow data object", kind=kind)
        scope = dict(self._fixed)
        scope.update((name, value) for name, value in external.items() if _visible(name))
        if strict:
            # Spiff 3.2 copies task data one level deep, so nested values are shared with earlier tasks: a script
            # works on its own deep copy, and what it changes is stored back as new values (pitfall 1).
            scope.update((name, copy.deepcopy(value) if isinstance(value, (dict, list)) else value)
                         for name, value in context.items() if _visible(name))
        else:
            scope.update((name, value) for name, value in context.items() if _visible(name))
        return scope

    def _run(self, code: CodeType, scope: dict[str, Any], source: str, kind: str) -> Any:
        """Evaluate ``code`` in ``scope`` with a deadline and the memory ceiling, turning refusals and stops into
        SandboxError. A stop the script caught (a bare ``except:``) stops it at its next check, or at its end."""
        clock = TimeWatch(self.time_limit)
        memory = MemoryWatch(self.memory_limit)
        running = True
        stopped: list[BaseException] = []

        def tick() -> bool:
            if not running:  # a function or generator the script left in data, called after the run
                raise _Refused("code created by a script cannot run outside it")
            now = time.monotonic()
            if now >= clock.check_at and clock.exceeded(now):
                stopped.append(_Timeout())
            elif memory.exceeded(now):
                stopped.append(_OutOfMemory())
            if stopped:
                raise stopped[-1]
            return True

        scope["_tick_"] = tick
        try:
            result = eval(code, scope)  # noqa: S307 - restricted code object, guarded globals
            if stopped:
                raise stopped[-1]
            return result
        except _Timeout as stop:
            line = _shown_line(source, _sandbox_line(stop.__traceback__, scope), kind)
            reason = f"it took longer than {self.time_limit:g} s"
            raise SandboxError(source, reason, line, kind=kind, outcome="stopped") from None
        except _OutOfMemory as stop:
            line = _shown_line(source, _sandbox_line(stop.__traceback__, scope), kind)
            reason = f"it used more than {self.memory_limit // 2**20:,} MB of memory"
            raise SandboxError(source, reason, line, kind=kind, outcome="stopped") from None
        except _Refused as refusal:
            line = _shown_line(source, _sandbox_line(refusal.__traceback__, scope), kind)
            raise SandboxError(source, refusal.reason, line, kind=kind) from None
        finally:
            running = False

    def _store(
        self, source: str, scope: dict[str, Any], context: dict[str, Any], seen: list[str], external: Mapping[str, Any]
    ) -> None:
        """Copy the script's new, changed and deleted top-level variables into task data (like Spiff's
        TaskDataEnvironment). New and rebound values are checked for storable types; values changed in place
        (``rows.append(x)``) are not walked, to keep this cheap: the serializer reports those.
        """
        updates = {}
        for name, value in scope.items():
            if not _visible(name) or name in self.globals or name in external:
                continue
            if callable(value) or isinstance(value, ModuleType):
                continue
            if name in context and context[name] is value:
                continue
            problem = _unstorable(value)
            if problem:
                raise SandboxError(
                    source, f'variable "{name}" holds a {problem}, which cannot be stored in task data', kind="Script"
                )
            if expanded_size(value, MAX_ITEMS) > MAX_ITEMS:  # a list holding one long string many times, say
                raise SandboxError(source, f'variable "{name}" would hold more than {MAX_ITEMS:,} items and '
                                           "characters in task data", kind="Script")
            updates[name] = value
        for name in seen:
            if name not in scope:  # deleted by the script
                del context[name]
        context.update(updates)


class SandboxedScriptEngine(PythonScriptEngine):
    """Spiff's PythonScriptEngine, with sandbox refusals reported with their reason and line."""

    def evaluate(self, task: Any, expression: str, external_context: dict[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SandboxError as err:
            message = f"Error evaluating expression '{expression}': {err}"
            raise WorkflowTaskException(message, task=task, exception=err) from err
        except SpiffWorkflowException as err:
            err.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as err:
            message = f"Error evaluating expression '{expression}'"
            raise WorkflowTaskException(message, task=task, exception=err) from err

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        if isinstance(err, SandboxError):
            lines = textwrap.dedent(script).splitlines()
            line = err.line or 0
            error_line = lines[line - 1] if 0 < line <= len(lines) else ""
            return WorkflowTaskException(str(err), task=task, exception=err, line_number=line, error_line=error_line)
        return super().create_task_exec_exception(task, script, err)


def make_script_engine(
    functions: Mapping[str, Callable[..., Any]], time_limit: float = DEFAULT_TIME_LIMIT
) -> PythonScriptEngine:
    """A SpiffWorkflow script engine that runs everything in the sandbox, with ``functions`` as globals."""
    return SandboxedScriptEngine(environment=SandboxedEnvironment(functions, time_limit))
