"""Reading another instance's record from a diagram: `process_record(reference)` (e.g. the SRO reopening CR001 after
an appeal needs the change request's data). Read-only, inside the command's transaction."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store.models import Instance


def process_record(session: Session, reference: str) -> dict[str, Any] | None:
    """The latest instance with this reference (any process, any status) as plain data, or None."""
    instance = session.scalars(select(Instance).where(Instance.reference == str(reference))
                               .order_by(Instance.id.desc()).limit(1)).first()
    if instance is None:
        return None
    return {"process_id": instance.process_id, "instance_id": instance.id, "status": instance.status,
            "state": instance.state, "reference": instance.reference, "title": instance.title,
            "started_by": instance.started_by, "data": dict(instance.facts or {})}


def record_functions(session: Session) -> dict:
    """Script functions (the session is only used when a function is called, so lint can build them without one)."""
    return {"process_record": lambda reference: process_record(session, reference)}
