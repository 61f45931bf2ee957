"""Whether a message catch accepts a sender now, and the words when it does not — read off the catching element.

A catch may carry three properties (spiffworkflow:property), so that the diagram, not Python, says who may send:
- `acceptsWhen`: an expression on the instance's record, with the sender's username as `sender`
  (`any(r['sent_by'] == sender for r in consultation_responses)`); without one, every allowed sender is accepted;
- `refusal`: the words for a sender it does not accept;
- `closedRefusal`: the words when the instance does not wait for the message at all (a window closed).
The words are Jinja templates filled from the record as plain text (`{{ consultation_closed_at | date(true) }}`).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.bpmn.definitions import CompiledProcess, ElementInfo
from engine.bpmn.instructions import fill
from engine.bpmn.sandbox import SandboxedEnvironment
from engine.errors import ProcessError

ACCEPTS_WHEN, REFUSAL, CLOSED_REFUSAL = "acceptsWhen", "refusal", "closedRefusal"

_ENVIRONMENT = SandboxedEnvironment()
_MARKDOWN_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # the backslash `fill` puts before Markdown punctuation


def accepts(info: ElementInfo | None, record: Mapping[str, Any], sender: str) -> bool:
    """Whether the catch accepts this sender given the instance's record (True without `acceptsWhen`)."""
    expression = (info.properties.get(ACCEPTS_WHEN) or "").strip() if info else ""
    if not expression:
        return True
    try:
        return bool(_ENVIRONMENT.evaluate(expression, {**record, "sender": sender}))
    except Exception as err:  # the analyst's expression: whatever it raises is reported
        raise ProcessError(f"the acceptsWhen of '{info.name}' ({expression}) failed: {err}") from err


def refusal(info: ElementInfo | None, record: Mapping[str, Any]) -> str | None:
    """The catch's words for a sender it does not accept, filled from the record (None: it has none)."""
    return _words(info, REFUSAL, record)


def closed_refusal(compiled: CompiledProcess, message: str, record: Mapping[str, Any]) -> str | None:
    """The words of the first catch of `message` in this version for when nothing waits for it (None: none)."""
    for info in compiled.elements.values():
        if info.message == message and info.properties.get(CLOSED_REFUSAL):
            return _words(info, CLOSED_REFUSAL, record)
    return None


def _words(info: ElementInfo | None, name: str, record: Mapping[str, Any]) -> str | None:
    text = (info.properties.get(name) or "").strip() if info else ""
    if not text:
        return None
    filled = fill(text, dict(record))
    return text if filled.notice else _MARKDOWN_ESCAPE.sub(r"\1", filled.markdown).strip()
