"""A request's history in words: who did what to which step, by name ("Carol Clarke completed ‘Validate the change
request’"), without the engine's bookkeeping (timers set and cancelled, drafts, denied attempts) or element ids."""
from __future__ import annotations

from dataclasses import dataclass

from .display import humanise

QUIET = {"access.denied", "comment.added", "task.draft_saved", "task.draft_discarded", "timer.cancelled",
         "attachment.uploaded", "attachment.removed", "attachment.purged", "timer.retrying",
         "instance.migration_checked", "effect.retried"}


@dataclass
class Moment:
    at: str
    text: str
    reason: str = ""


def _sentence(event: dict, step: str, who: str, person, withdrawals: dict[str, str]) -> str | None:
    action, details = event["action"], event.get("details") or {}
    if action == "instance.started":
        return f"{who} started it"
    if action == "instance.completed":
        state = details.get("state")
        return f"It finished{': ' + humanise(state).lower() if state else ''}"
    if action == "task.created":
        return f"‘{step}’ is waiting" + (f" for {person(details['assignee'])}" if details.get("assignee") else "")
    if action == "task.claimed":
        return f"{who} picked up ‘{step}’"
    if action == "task.unclaimed":
        return f"{who} released ‘{step}’"
    if action == "task.completed":
        return f"{who} completed ‘{step}’"
    if action == "task.reassigned":
        return f"{who} gave ‘{step}’ to {person(details.get('new_holder'))}"
    if action == "task.cancelled":
        return f"‘{step}’ was cancelled"
    if action == "message.received" and details.get("message") in withdrawals:
        return f"{humanise(withdrawals[details['message']])} withdrawn by {who}"
    if action == "message.received":
        return f"{who} sent {humanise(details.get('message') or step).lower()}"
    if action == "timer.fired":
        return f"{step}" if step else "A deadline passed"
    if action == "timer.failed":
        return f"‘{step}’ failed and is being looked at"
    if action == "attachment.attached":
        count = len(details.get("attachments") or [])
        return f"{who} attached {count} file{'s' if count != 1 else ''}"
    if action.startswith("instance."):
        return f"{who} {humanise(action.split('.', 1)[1]).lower()} it"
    return f"{humanise(action)}" + (f": ‘{step}’" if step else "")


def moments(history: list[dict], names: dict[str, str], element_names: dict[str, str],
            withdrawals: dict[str, str] | None = None) -> list[Moment]:
    """The history, newest first, as sentences (`withdrawals`: message name -> the message it withdraws)."""
    def person(username: str | None) -> str:
        return "the system" if username in (None, "", "system") else names.get(username) or username

    found = []
    for event in reversed(history):
        if event["action"] in QUIET:
            continue
        element = event.get("element_id")
        step = element_names.get(element, humanise(element)) if element else ""
        text = _sentence(event, step, person(event.get("actor")), person, withdrawals or {})
        if text:
            details = event.get("details") or {}
            reason = details.get("reason")
            if details.get("message") in (withdrawals or {}):  # a withdrawal's reason is a field of its form
                reason = reason or (details.get("data") or {}).get("reason")
            found.append(Moment(event["at"], text[:1].upper() + text[1:], str(reason or "")))
    return found
