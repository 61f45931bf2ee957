"""The govflow keyword `"x-govflow-not-before": "today"` on a date field: its answer may not be before today's date
in Europe/London, by the govflow Clock (a decision date, a deadline, a meeting date). `"x-govflow-not-before-message"`
beside it gives the words shown when the answer is too early; without it govflow words one from the field's title."""
from __future__ import annotations

from collections.abc import Iterator
from contextvars import ContextVar
from datetime import date
from typing import Any

from jsonschema.exceptions import ValidationError

NOT_BEFORE = "x-govflow-not-before"
NOT_BEFORE_MESSAGE = "x-govflow-not-before-message"
VALUES = ("today",)  # what "x-govflow-not-before" may say

#: today's date while a submission is checked (None: the rule is not checked, as for a schema's own check)
TODAY: ContextVar[date | None] = ContextVar("govflow_form_today", default=None)


def not_before(validator, value: Any, instance: Any, schema: dict) -> Iterator[ValidationError]:
    """The jsonschema check of the keyword: an ISO date (or date-time) string before today fails."""
    today = TODAY.get()
    if today is None or value != "today" or not isinstance(instance, str) or len(instance) < 10:
        return
    try:
        given = date.fromisoformat(instance[:10])
    except ValueError:
        return  # "format": "date" says why
    if given < today:
        yield ValidationError(f"{instance} is before {today.isoformat()}")


def message(title: str, node: dict) -> str:
    """The words for a date before today: the field's own, else built from its title."""
    own = node.get(NOT_BEFORE_MESSAGE)
    if isinstance(own, str) and own.strip():
        return own
    if not title or title.rstrip().endswith("?"):
        return f"The date{f' for ‘{title}’' if title else ''} must be today or in the future"
    return f"{title} must be today or in the future"


def keyword_problem(node: Any, path: str = "") -> str | None:
    """The first misuse of the keyword anywhere in a form schema: an unknown value, a field that is not a date, or a
    message that is not words."""
    if isinstance(node, list):
        for item in node:
            found = keyword_problem(item, path)
            if found:
                return found
        return None
    if not isinstance(node, dict):
        return None
    where = f"field '{path}'" if path else "the form"
    if NOT_BEFORE in node:
        if node[NOT_BEFORE] not in VALUES:
            return f"{where}: \"{NOT_BEFORE}\" must be one of {', '.join(repr(v) for v in VALUES)}, " \
                   f"not {node[NOT_BEFORE]!r}"
        if node.get("format") not in ("date", "date-time"):
            return f"{where}: \"{NOT_BEFORE}\" is for a field with \"format\": \"date\" (or \"date-time\")"
    if NOT_BEFORE_MESSAGE in node:
        text = node[NOT_BEFORE_MESSAGE]
        if not isinstance(text, str) or not text.strip():
            return f"{where}: \"{NOT_BEFORE_MESSAGE}\" must be a sentence"
        if NOT_BEFORE not in node:
            return f"{where}: \"{NOT_BEFORE_MESSAGE}\" needs \"{NOT_BEFORE}\" beside it"
    for key, child in node.items():
        if key == "properties" and isinstance(child, dict):
            for name, prop in child.items():
                found = keyword_problem(prop, f"{path}.{name}" if path else name)
                if found:
                    return found
        elif key in ("items", "allOf", "anyOf", "oneOf", "if", "then", "else", "not", "$defs"):
            found = keyword_problem(child if key != "$defs" else list(child.values()) if isinstance(child, dict)
                                    else child, path + "[]" if key == "items" else path)
            if found:
                return found
    return None
