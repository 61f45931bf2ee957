"""Camunda and FEEL syntax in files from other modelers: recognise it, and give the Python to write instead.

govflow's conditions, scripts, timer expressions and DMN cells are Python (run in the sandbox). Diagrams drawn for
Camunda carry JUEL (`${amount > 5}`, `#{approved}`) and FEEL (`date("2025-01-01")`, `[1..5]`, `"a","b"`,
`not("x")`, `x = 5`, `if … then … else …`), which either does not compile as Python or compiles and means
something else. `recognise` names the construct and, where the conversion is mechanical, the Python that does the
same; the suggestion is only offered when it compiles in the sandbox itself.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from engine.bpmn.sandbox import SandboxError, check_expression, check_script

__all__ = ["Foreign", "recognise", "NOUNS", "cell_compiles"]

CONDITION, EXPRESSION, SCRIPT, TIMER = "condition", "expression", "script", "timer"
INPUT_CELL, OUTPUT_CELL, INPUT_EXPRESSION = "input_cell", "output_cell", "input_expression"
NOUNS = {CONDITION: "conditions", EXPRESSION: "expressions", SCRIPT: "scripts", TIMER: "timer expressions",
         INPUT_CELL: "DMN cells", OUTPUT_CELL: "DMN cells", INPUT_EXPRESSION: "DMN input expressions"}


@dataclass(frozen=True)
class Foreign:
    """Camunda or FEEL syntax found in `text`: what it is, and the Python to write (None when not mechanical)."""

    text: str
    construct: str
    python: str | None = None
    hint: str | None = None

    def reason(self, context: str) -> str:
        noun = NOUNS[context]
        if self.python is not None:
            return f"`{self.text}` is {self.construct}; govflow {noun} are Python: `{self.python}`"
        return f"`{self.text}` is {self.construct}; govflow {noun} are Python" + (f": {self.hint}" if self.hint else "")


# ---- compiling, as the lint does -------------------------------------------------------------------------------------


def _compiles(text: str, context: str) -> bool:
    try:
        if context == SCRIPT:
            check_script(text)
        elif context == INPUT_CELL:
            return cell_compiles(text)
        else:
            check_expression(text)
    except SandboxError:
        return False
    return True


def cell_compiles(text: str) -> bool:
    """An input cell as Spiff reads it: '-' or empty, an expression with '?', a value, or an operator and a value."""
    cell = text.strip()
    if cell in ("", "-"):
        return True
    if "?" in cell:
        return _expression_compiles(_QUESTION.sub("dmninputexpr", cell))
    return _expression_compiles(cell) or _expression_compiles(f"dmninputexpr {cell}")


def _expression_compiles(text: str) -> bool:
    try:
        check_expression(text)
    except SandboxError:
        return False
    return True


_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # a '?' outside quotes, as Spiff replaces it

# ---- strings are set aside while the rest is read ------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')
_HOLE = re.compile(r"\x00(\d+)\x00")


class _Masked:
    """The text with each string literal replaced by a placeholder, so patterns never match inside strings."""

    def __init__(self, text: str):
        self.strings: list[str] = []

        def hide(match: re.Match) -> str:
            self.strings.append(match.group(0))
            return f"\x00{len(self.strings) - 1}\x00"

        self.text = _STRING.sub(hide, text)

    def restore(self, text: str, as_python: bool = False) -> str:
        def show(match: re.Match) -> str:
            literal = self.strings[int(match.group(1))]
            if as_python:
                try:
                    return repr(ast.literal_eval(literal))
                except (ValueError, SyntaxError):
                    return literal
            return literal

        return _HOLE.sub(show, text)

    def value(self, item: str) -> str | None:
        """A cell item as a Python value's source (strings in Python's own quotes), or None if it is not a literal."""
        item = item.strip()
        if _HOLE.fullmatch(item):
            return self.restore(item, as_python=True)
        if re.fullmatch(r"[-+]?\d+(\.\d+)?", item):
            return item
        if item in _LITERALS:
            return _LITERALS[item]
        if item in ("True", "False", "None"):
            return item
        return None


_LITERALS = {"true": "True", "false": "False", "null": "None"}

# ---- the constructs ---------------------------------------------------------------------------------------------

_CAMUNDA_WHOLE = re.compile(r"^([$#])\{(.*)\}$", re.S)
_CAMUNDA_PART = re.compile(r"[$#]\{([^{}]*)\}")
_GET_VARIABLE = re.compile(r"\bexecution\.getVariable\(\s*\x00(\d+)\x00\s*\)")
_SET_VARIABLE = re.compile(r"^(\s*)execution\.setVariable\(\s*\x00(\d+)\x00\s*,\s*(.+?)\s*\)\s*;?\s*$", re.M)
_IF_THEN_ELSE = re.compile(r"^if\s+(.+?)\s+then\s+(.+?)\s+else\s+(.+)$", re.S)
_QUANTIFIED = re.compile(r"^(some|every)\s+([A-Za-z_]\w*)\s+in\s+(.+?)\s+satisfies\s+(.+)$", re.S)
_FOR_RETURN = re.compile(r"^for\s+([A-Za-z_]\w*)\s+in\s+(.+?)\s+return\s+(.+)$", re.S)
_BETWEEN = re.compile(r"([\w.\x00]+(?:\([^()]*\))?)\s+between\s+(\S+)\s+and\s+(\S+)")
_RANGE = re.compile(r"([\[(\]])\s*([^\[\]()]+?)\s*\.\.\s*([^\[\]()]+?)\s*([\])\[])")
_IN_RANGE = re.compile(r"([\w.]+(?:\([^()]*\))?)\s+in\s+" + _RANGE.pattern)
_FEEL_EQUALS = re.compile(r"(?<![=!<>])=(?!=)")
_LITERAL_WORD = re.compile(r"(?<![\w.])(true|false|null)(?!\w)")
_TEMPORAL = re.compile(r"(?<![\w.])(date and time|date|time|duration)\(\s*(\x00\d+\x00)\s*\)")
_AT_LITERAL = re.compile(r"@\x00\d+\x00")
_SPACED_FUNCTIONS = {
    "string length": lambda a: f"len({a[0]})" if len(a) == 1 else None,
    "upper case": lambda a: f"{a[0]}.upper()" if len(a) == 1 else None,
    "lower case": lambda a: f"{a[0]}.lower()" if len(a) == 1 else None,
    "starts with": lambda a: f"{a[0]}.startswith({a[1]})" if len(a) == 2 else None,
    "ends with": lambda a: f"{a[0]}.endswith({a[1]})" if len(a) == 2 else None,
    "list contains": lambda a: f"{a[1]} in {a[0]}" if len(a) == 2 else None,
    "is defined": None, "get value": None, "get entries": None, "string join": None, "index of": None,
    "distinct values": None, "insert before": None, "day of week": None, "day of year": None,
    "month of year": None, "week of year": None, "years and months duration": None,
}
_WORD_FUNCTIONS = {  # FEEL functions Python does not have (compiles, then fails with a NameError)
    "contains": lambda a: f"{a[1]} in {a[0]}" if len(a) == 2 else None,
    "string": lambda a: f"str({a[0]})" if len(a) == 1 else None,
    "number": lambda a: f"float({a[0]})" if len(a) == 1 else None,
    "count": lambda a: f"len({a[0]})" if len(a) == 1 else None,
    "substring": None, "matches": None, "concatenate": None, "flatten": None, "mean": None, "floor": None,
    "ceiling": None, "decimal": None, "append": None,
}
_JUEL_OPERATORS = ((re.compile(r"&&"), " and "), (re.compile(r"\|\|"), " or "), (re.compile(r"!(?!=)"), " not "),
                   (re.compile(r"\s+eq\s+"), " == "), (re.compile(r"\s+ne\s+"), " != "),
                   (re.compile(r"\s+lt\s+"), " < "), (re.compile(r"\s+gt\s+"), " > "),
                   (re.compile(r"\s+le\s+"), " <= "), (re.compile(r"\s+ge\s+"), " >= "),
                   (re.compile(r"(?<!\w)empty\s+"), "not "))
_NOT_CALL = re.compile(r"(?<![\w.])not\(")
_NOT_SIMPLE = re.compile(r"(?<![\w.])not\(\s*([A-Za-z_][\w.]*)\s*\)")


def recognise(source: str, context: str) -> Foreign | None:
    """Camunda or FEEL syntax in one condition, expression, timer, DMN cell or script (scripts line by line: the
    Foreign's text is then the line), or None when there is none to report."""
    if context == SCRIPT:
        for line in source.splitlines():
            found = _recognise_script_line(line)
            if found is not None:
                return found
        return None
    text = source.strip()
    if not text or (context == INPUT_CELL and text == "-"):
        return None
    masked = _Masked(text)
    compiles = _compiles(text, context)
    constructs: list[str] = []
    hints: list[str] = []
    python = _convert(masked, masked.text, context, compiles, constructs, hints)
    if not constructs:
        return None
    if python is not None:
        python = re.sub(r"[ \t]{2,}", " ", python).strip()
        if python == text or not _compiles(python, context):
            python = None
    return Foreign(text, constructs[0], python, hints[0] if hints else None)


def _recognise_script_line(line: str) -> Foreign | None:
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    masked = _Masked(text)
    constructs: list[str] = []
    converted = masked.text
    if "${" in converted:
        constructs.append("a Camunda expression")
        converted = _CAMUNDA_PART.sub(lambda m: _juel(m.group(1).strip()), converted)
    converted, n = _SET_VARIABLE.subn(lambda m: f"{m.group(1)}{_name(masked, m.group(2))} = {m.group(3)}", converted)
    if n:
        constructs.append("a Camunda call (execution.setVariable)")
    converted, n = _GET_VARIABLE.subn(lambda m: _name(masked, m.group(1)), converted)
    if n:
        constructs.append("a Camunda call (execution.getVariable)")
    converted, n = _LITERAL_WORD.subn(lambda m: _LITERALS[m.group(1)], converted)
    if n:
        constructs.append(f"a FEEL/JavaScript literal ({', '.join(sorted(set(_LITERAL_WORD.findall(masked.text))))})")
    if not constructs:
        return None
    python = masked.restore(converted).rstrip(";").strip()
    if not _compiles(python, SCRIPT) or python == text:
        python = None
    return Foreign(text, constructs[0], python)


def _name(masked: _Masked, hole: str) -> str:
    """The variable a Camunda call names, as Python (a string that is not a plain name is kept as a lookup)."""
    literal = masked.strings[int(hole)]
    try:
        name = ast.literal_eval(literal)
    except (ValueError, SyntaxError):
        return literal
    return name if isinstance(name, str) and name.isidentifier() else literal


def _convert(masked: _Masked, text: str, context: str, compiles: bool, constructs: list[str],
             hints: list[str]) -> str | None:
    """`text` (strings masked) rewritten as Python, noting each construct met; None when it cannot be rewritten."""
    whole = _CAMUNDA_WHOLE.match(text)
    if whole:
        constructs.append("a Camunda expression")
        text = _juel(whole.group(2).strip())
    elif _CAMUNDA_PART.search(text) and not (context == SCRIPT):
        constructs.append("a Camunda expression")
        text = _CAMUNDA_PART.sub(lambda m: _juel(m.group(1).strip()), text)

    text, n = _GET_VARIABLE.subn(lambda m: _name(masked, m.group(1)), text)
    if n:
        constructs.append("a Camunda call (execution.getVariable)")

    if context == INPUT_CELL and "?" not in text:
        cell = _unary_tests(masked, text, constructs)
        if cell is not None:
            return masked.restore(cell)

    python: str | None = text
    match = _IF_THEN_ELSE.match(text)
    if match:
        constructs.append("a FEEL if-then-else")
        python = f"{match.group(2)} if {match.group(1)} else {match.group(3)}"
    match = _QUANTIFIED.match(text)
    if match:
        word = match.group(1)
        constructs.append(f"a FEEL quantified expression ({word} … satisfies)")
        function = "any" if word == "some" else "all"
        python = f"{function}({match.group(4)} for {match.group(2)} in {match.group(3)})"
    match = _FOR_RETURN.match(text)
    if match:
        constructs.append("a FEEL for loop (for … return)")
        python = f"[{match.group(3)} for {match.group(1)} in {match.group(2)}]"
    if python is not None and _BETWEEN.search(python):
        constructs.append("a FEEL between test")
        python = _BETWEEN.sub(lambda m: f"{m.group(2)} <= {m.group(1)} <= {m.group(3)}", python)
    if python is not None and _RANGE.search(python):
        constructs.append("a FEEL range")
        python = _IN_RANGE.sub(lambda m: _range_test(m.group(1), *m.group(2, 3, 4, 5)), python)
        if _RANGE.search(python):
            python = None
            hints.append("compare with <= and <, e.g. `1 <= x <= 5`")
    if python is not None:
        python = _functions(python, constructs, hints, context)
    if python is not None and _TEMPORAL.search(python):
        python = _temporal(python, context, constructs, hints)
    if python is not None and _AT_LITERAL.search(python):
        constructs.append("a FEEL temporal literal (@\"…\")")
        hints.append('use date.fromisoformat("…") or datetime.fromisoformat("…")')
        python = None
    if python is not None and context != SCRIPT and not compiles and _FEEL_EQUALS.search(python):
        constructs.append("a FEEL equality (=)")
        python = _FEEL_EQUALS.sub("==", python)
    if python is not None and _LITERAL_WORD.search(python):
        constructs.append(f"a FEEL literal ({', '.join(sorted(set(_LITERAL_WORD.findall(python))))})")
        python = _LITERAL_WORD.sub(lambda m: _LITERALS[m.group(1)], python)
    if python is not None and constructs and _NOT_CALL.search(python):
        python = _NOT_SIMPLE.sub(r"not \1", python)  # FEEL's not(x) is Python's not x
        python = _NOT_CALL.sub("not (", python)
    return masked.restore(python) if python is not None else None


def _juel(text: str) -> str:
    for pattern, python in _JUEL_OPERATORS:
        text = pattern.sub(python, text)
    return text.strip()


def _range_test(subject: str, start: str, low: str, high: str, end: str) -> str:
    low_op = "<=" if start == "[" else "<"
    high_op = "<=" if end == "]" else "<"
    return f"{low.strip()} {low_op} {subject} {high_op} {high.strip()}"


def _unary_tests(masked: _Masked, text: str, constructs: list[str]) -> str | None:
    """FEEL unary tests in an input cell (no '?'): lists of values, negations and ranges, as Python on '?'."""
    negated = re.fullmatch(r"not\s*\((.*)\)", text, re.S)
    if negated:
        constructs.append("a FEEL negation (not(…))")
        inner = _tests(masked, negated.group(1))
        if inner is None:
            return None
        if inner.startswith("? in "):
            return "? not in " + inner[len("? in "):]
        if re.fullmatch(r"\? == [^ ]+", inner):
            return "? != " + inner[len("? == "):]
        return f"not ({inner})"
    items = _split(text)
    single_range = len(items) == 1 and _RANGE.fullmatch(text)
    if len(items) < 2 and not single_range:
        return None
    constructs.append("a FEEL range" if single_range else "a FEEL list of tests")
    if not single_range and all(masked.value(item) is not None for item in items):
        constructs[-1] = "a FEEL list of values"
    return _tests(masked, text)


def _tests(masked: _Masked, text: str) -> str | None:
    items = _split(text)
    values = [masked.value(item) for item in items]
    if len(items) > 1 and all(v is not None for v in values):
        return f"? in [{', '.join(values)}]"
    tests = []
    for item, value in zip(items, values):
        item = item.strip()
        found_range = _RANGE.fullmatch(item)
        if found_range:
            tests.append(_range_test("?", *found_range.groups()))
        elif value is not None:
            tests.append(f"? == {value}")
        elif re.match(r"(<=|>=|<|>|!=)\s*\S", item):
            tests.append(f"? {item}")
        else:
            return None
    return " or ".join(tests) if tests else None


def _split(text: str) -> list[str]:
    """Top-level comma-separated items (not inside brackets or parentheses)."""
    items, depth, current = [], 0, ""
    for char in text:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    items.append(current)
    return [i.strip() for i in items if i.strip()]


def _functions(text: str, constructs: list[str], hints: list[str], context: str) -> str | None:
    for name, convert in _SPACED_FUNCTIONS.items():
        text = _call(text, name, convert, constructs, hints)
        if text is None:
            return None
    if context in (CONDITION, EXPRESSION, TIMER, INPUT_CELL, OUTPUT_CELL, INPUT_EXPRESSION):
        for name, convert in _WORD_FUNCTIONS.items():
            text = _call(text, name, convert, constructs, hints)
            if text is None:
                return None
    return text


def _call(text: str, name: str, convert, constructs: list[str], hints: list[str]) -> str | None:
    pattern = re.compile(r"(?<![\w.])" + re.escape(name).replace(r"\ ", r"\s+") + r"\s*\(")
    while True:
        match = pattern.search(text)
        if match is None:
            return text
        constructs.append(f"a FEEL function ({name}(…))")
        close = _closing(text, match.end() - 1)
        if close is None or convert is None:
            hints.append("write it with Python's own functions and operators")
            return None
        python = convert(_split(text[match.end():close]))
        if python is None:
            hints.append("write it with Python's own functions and operators")
            return None
        text = text[:match.start()] + python + text[close + 1:]


def _closing(text: str, opening: int) -> int | None:
    depth = 0
    for index in range(opening, len(text)):
        if text[index] == "(":
            depth += 1
        elif text[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


def _temporal(text: str, context: str, constructs: list[str], hints: list[str]) -> str | None:
    def convert(match: re.Match) -> str:
        kind, literal = match.group(1), match.group(2)
        constructs.append(f"a FEEL {kind}(…)")
        if kind == "date":
            return f"date.fromisoformat({literal})"
        if kind == "date and time":
            return f"datetime.fromisoformat({literal})"
        if kind == "duration" and context == TIMER:
            return literal
        hints.append("use timedelta(...) for a duration, datetime.fromisoformat(...) for a moment")
        return "\x01"

    converted = _TEMPORAL.sub(convert, text)
    return None if "\x01" in converted else converted
