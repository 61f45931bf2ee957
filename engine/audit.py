"""Audit events: one row for every state change, written in the same transaction as the change."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .models import AuditEvent


def record(session: Session, at: datetime, actor: str, action: str, *, instance_id: int | None = None,
           task_id: str | None = None, element_id: str | None = None, **details: Any) -> AuditEvent:
    """Add an audit event to the session (it commits with the command)."""
    event = AuditEvent(at=at, actor=actor, action=action, instance_id=instance_id, task_id=task_id,
                       element_id=element_id, details=_jsonable(details))
    session.add(event)
    return event


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
