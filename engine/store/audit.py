"""Audit events: one row for every state change, written in the same transaction as the change.

A transaction's events are queued on its session and inserted together, in one statement, just before it commits
(after the session's own flush, so the rows they refer to exist); a rollback drops them with everything else.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from engine.store.models import AuditEvent

_PENDING = "govflow.audit_pending"


def record(session: Session, at: datetime, actor: str, action: str, *, instance_id: int | None = None,
           task_id: str | None = None, element_id: str | None = None, **details: Any) -> None:
    """Queue an audit event on the session: it is written when the command's transaction commits."""
    session.info.setdefault(_PENDING, []).append(
        {"at": at, "actor": actor, "action": action, "instance_id": instance_id, "task_id": task_id,
         "element_id": element_id, "details": _jsonable(details)})


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.flush()
        session.execute(insert(AuditEvent), rows)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
