"""The functions every diagram expression and script may call, bound to one command's clock and transaction:
those of engine/bpmn/functions.py, and those that read or write records (references, totals, meetings, logs, seats,
notices, follow-up starts)."""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.bpmn.functions import clock_functions
from engine.delivery import outbox, wording
from engine.governance.audiences import notify_audience
from engine.clock import Clock
from engine.governance.groups import group_functions
from engine.governance.records import record_functions
from engine.governance.meetings import meeting_functions
from engine.governance.logs import log_functions
from engine.governance.seats import seat_functions
from engine.store.models import Instance, ReferenceCounter

def script_functions(session: Session, clock: Clock, settings: dict[str, Any], process_id: str,
                     instance_id: int | None = None, actor: str = "system") -> dict[str, Callable]:
    """Build the sandbox's function table for one command (`instance_id`: the instance it runs, when known;
    `actor`: who acts in the command)."""

    def next_reference(prefix: str) -> str:
        return allocate_reference(session, prefix)

    def approved_total(field: str) -> float:
        states = settings.get("approved_states", [])
        rows = session.scalars(select(Instance.facts).where(Instance.process_id == process_id,
                                                            Instance.state.in_(states)))
        return float(sum(_number(facts.get(field)) for facts in rows))

    def count_instances(process: str, **facts: Any) -> int:
        """How many instances of a process have these facts (e.g. appeals of one decision)."""
        query = select(Instance.facts).where(Instance.process_id == process,
                                             Instance.status.in_(("running", "completed")))
        return sum(1 for row in session.scalars(query) if all(row.get(k) == v for k, v in facts.items()))

    def start_process(process: str, data: dict, on_behalf_of: str | None = None) -> None:
        """Start another process once this command has committed (an outbox effect, delivered with retries: e.g.
        the SRO reopening a change request), as the
        person acting now, or on behalf of `on_behalf_of` (an active user: the instance is theirs — "Raised by",
        "My change requests" — and the audit trail keeps who started it)."""
        outbox.enqueue(session, clock.now(), "start_process",
                       {"process": process, "data": dict(data), "on_behalf_of": on_behalf_of},
                       instance_id=instance_id, actor=actor)

    def notify(audience: str, subject: str, message: str) -> int:
        """Tell 'participants', a role (by id) or one person (by username) something, in the app and by e-mail.
        Queued in this command's transaction; the e-mails go out after it commits. Returns how many were told."""
        return notify_audience(session, clock.now(), instance_id, audience, subject, message)

    def notify_wording(audience: str, kind: str, **values: Any) -> int:
        """`notify` with the subject and body of a wording template (processes/wording/<kind>.txt) filled with
        `values`: the words stay where analysts keep them."""
        text = wording.render(str(kind), **values)
        return notify_audience(session, clock.now(), instance_id, audience, text.subject, text.body)

    return {
        **clock_functions(clock, settings),
        "notify": notify,
        "notify_wording": notify_wording,
        "next_reference": next_reference,
        "approved_total": approved_total,
        "count_instances": count_instances,
        "start_process": start_process,
        **group_functions(session),
        **seat_functions(session),  # group_members(group_id)
        **record_functions(session),  # process_record(reference)
        **meeting_functions(session, clock, settings, instance_id),  # next_meeting(group_id, ready_on) …
        **log_functions(session, clock),  # log_action(group_id, title, owner, due_on, source)
    }


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


_COUNTERS = ReferenceCounter.__table__
_NEXT_NUMBER = (update(_COUNTERS).where(_COUNTERS.c.prefix == bindparam("counter_prefix"))
                .values(last=_COUNTERS.c.last + 1).returning(_COUNTERS.c.last))


def allocate_reference(session: Session, prefix: str) -> str:
    """Give out the next number for a prefix (CR001, CR002…) inside the command's transaction."""
    number = session.execute(_NEXT_NUMBER, {"counter_prefix": prefix}).scalar()
    if number is None:
        session.add(ReferenceCounter(prefix=prefix, last=1))
        session.flush()
        number = 1
    return f"{prefix}{number:03d}"
