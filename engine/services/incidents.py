"""Incidents: what the system found wrong and cannot put right by itself, opened in the transaction that found it,
told to whoever hears of incidents (the admins), and closed with a reason by someone who may administer.

Kinds: `stranded` (a running instance with no open task, no waiting timer and no message or signal it can accept),
`timer_failed` (a timer's step failed on every attempt), `created_overdue` (a task whose due date had passed when it
was created), `delivery_failed` (an effect after a commit — a follow-up start, a notice — failed on every attempt).
A `created_overdue` incident comes from a diagram's due date or the settings it reads, so whoever may edit the process
library (the analysts) is told of it too.
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.delivery import wording
from engine.store import audit
from engine.errors import Conflict, NotFound
from engine.store.models import Incident, Instance
from engine.delivery.notices import add_notice, recipients_of
from engine.governance.policy import EDIT_LIBRARY, HEAR_INCIDENTS, policy_of

KIND_WORDS = {
    "stranded": "Instance stranded",
    "timer_failed": "Timer failing",
    "created_overdue": "Task created overdue",
    "delivery_failed": "Effect not delivered",
}
#: kinds whose cause is in a diagram or its settings: told to whoever may edit the library as well
MODEL_KINDS = frozenset({"created_overdue"})


def open_incident(session: Session, now: datetime, kind: str, message: str, *, instance_id: int | None = None,
                  element_ids: Iterable[str] = (), command: str = "", actor: str = "",
                  email_on: bool = True, **details) -> Incident:
    """Record an incident in the caller's transaction, audit it and tell whoever hears of incidents (admins)."""
    incident = Incident(kind=kind, instance_id=instance_id, element_ids=sorted(set(element_ids)), command=command,
                        actor=actor, message=message, details=audit._jsonable(details), opened_at=now)
    session.add(incident)
    session.flush()
    audit.record(session, now, "system", "incident.opened", instance_id=instance_id, incident_id=incident.id,
                 kind=kind, message=message, elements=incident.element_ids, command=command)
    label = _instance_label(session, instance_id)
    subject, body = wording.render("incident", title=KIND_WORDS.get(kind), label=label, message=message,
                                   command=command, actor=actor)
    policy = policy_of(session)
    told = policy.holders(session, HEAR_INCIDENTS)
    if kind in MODEL_KINDS:
        told += policy.holders(session, EDIT_LIBRARY)
    add_notice(session, recipients_of(told), "incident", subject, body, f"/manage/incidents#incident-{incident.id}",
               now, email_on, instance_id=instance_id)
    return incident


def is_open(session: Session, kind: str, instance_id: int | None, **match) -> bool:
    """Whether an open incident of this kind already stands for the instance (and these details)."""
    rows = session.scalars(select(Incident).where(Incident.kind == kind, Incident.instance_id == instance_id,
                                                  Incident.resolved_at.is_(None))).all()
    return any(all(row.details.get(k) == v for k, v in match.items()) for row in rows)


def resolve_open(session: Session, now: datetime, by: str, reason: str, *, kind: str | None = None,
                 instance_id: int | None = None, **match) -> int:
    """Close the open incidents that match (what an admin's retry or a moved token put right)."""
    query = select(Incident).where(Incident.resolved_at.is_(None))
    if kind is not None:
        query = query.where(Incident.kind == kind)
    if instance_id is not None:
        query = query.where(Incident.instance_id == instance_id)
    closed = 0
    for row in session.scalars(query):
        if all(row.details.get(k) == v for k, v in match.items()):
            _close(session, row, now, by, reason)
            closed += 1
    return closed


def resolve(session: Session, now: datetime, incident_id: int, by: str, reason: str) -> Incident:
    row = session.get(Incident, incident_id)
    if row is None:
        raise NotFound(f"There is no incident {incident_id}")
    if row.resolved_at is not None:
        raise Conflict(f"Incident {incident_id} was closed by {row.resolved_by} already")
    _close(session, row, now, by, reason)
    return row


def _close(session: Session, row: Incident, now: datetime, by: str, reason: str) -> None:
    row.resolved_at, row.resolved_by, row.resolution = now, by, reason
    audit.record(session, now, by, "incident.resolved", instance_id=row.instance_id, incident_id=row.id,
                 kind=row.kind, reason=reason)


def listing(session: Session, include_closed: bool = False, limit: int = 500) -> list[dict]:
    query = select(Incident, Instance.reference).outerjoin(Instance, Instance.id == Incident.instance_id)
    if not include_closed:
        query = query.where(Incident.resolved_at.is_(None))
    rows = session.execute(query.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)).all()
    return [as_dict(row, reference) for row, reference in rows]


def as_dict(row: Incident, reference: str | None = None) -> dict:
    return {"id": row.id, "kind": row.kind, "title": KIND_WORDS.get(row.kind, row.kind),
            "instance_id": row.instance_id, "reference": reference, "element_ids": list(row.element_ids or []),
            "command": row.command, "actor": row.actor, "message": row.message, "details": row.details or {},
            "opened_at": row.opened_at.isoformat(),
            "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
            "resolved_by": row.resolved_by, "resolution": row.resolution}


def _instance_label(session: Session, instance_id: int | None) -> str:
    if instance_id is None:
        return ""
    instance = session.get(Instance, instance_id)
    if instance is None:
        return f"instance {instance_id}"
    return instance.reference or f"{instance.process_id} #{instance.id}"
