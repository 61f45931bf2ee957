"""The transactional outbox: every effect beyond a command's own rows is a row written in the command's transaction,
and delivered after the commit — exactly once, with retries.

A delivery claims its row in the transaction that performs the effect (`claim`: pending → delivered, only if still
pending), so an effect inside the database (a follow-up start, announcements) happens exactly once even with several
deliverers, and never if the command rolled back. A failed delivery is rolled back with its effect, then recorded in
its own transaction (`record_failure`): retried with backoff, and after the last attempt the row is failed and the
caller opens an incident. Nothing waits in memory: a process that dies after the commit leaves the row for the next
deliverer (the scheduler's sweep, or any process draining the outbox).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from engine.observability import context
from engine.store import audit
from engine.store.models import OutboxEffect

MAX_ATTEMPTS = 5
FIRST_BACKOFF = timedelta(seconds=30)  # then 1, 2, 4 minutes
ENQUEUED = "govflow.outbox_enqueued"  # session.info key: ids written by this transaction


@dataclass(frozen=True)
class Effect:
    id: int
    kind: str
    payload: dict[str, Any]
    instance_id: int | None
    actor: str
    attempts: int
    request_id: str | None = None  # the request that wrote it, for the delivery's log lines

    @classmethod
    def of(cls, row: OutboxEffect) -> "Effect":
        return cls(row.id, row.kind, dict(row.payload or {}), row.instance_id, row.actor, row.attempts,
                   row.request_id)


_INSERT = insert(OutboxEffect.__table__).returning(OutboxEffect.__table__.c.id)


def enqueue(session: Session, now: datetime, kind: str, payload: dict[str, Any], *, instance_id: int | None = None,
            actor: str = "") -> int:
    """Write an effect in the caller's transaction; it is delivered after the commit (never if it rolls back).
    Returns its id."""
    row = {"kind": kind, "payload": audit._jsonable(payload), "instance_id": instance_id, "actor": actor,
           "status": "pending", "attempts": 0, "created_at": now, "due_at": now,
           "request_id": context.current().get("request_id")}
    effect_id = session.execute(_INSERT, row).scalar_one()
    session.info.setdefault(ENQUEUED, []).append(
        Effect(effect_id, kind, row["payload"], instance_id, actor, 0, row["request_id"]))
    return effect_id


def enqueued_by(session: Session) -> list[Effect]:
    """The effects this transaction wrote, as written (for delivering them at once after its commit, without
    reading them back)."""
    return list(session.info.get(ENQUEUED, ()))


def due(session: Session, now: datetime, limit: int = 200) -> list[Effect]:
    """Pending effects due now, oldest first."""
    query = select(OutboxEffect).where(OutboxEffect.status == "pending", OutboxEffect.due_at <= now)
    rows = session.scalars(query.order_by(OutboxEffect.due_at, OutboxEffect.id).limit(limit)).all()
    return [Effect.of(row) for row in rows]


_OUTBOX = OutboxEffect.__table__
_CLAIM = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("effect_id"), _OUTBOX.c.status == "pending")
          .values(status="delivered", delivered_at=bindparam("at"), attempts=_OUTBOX.c.attempts + 1))


def claim(session: Session, effect_id: int, now: datetime) -> bool:
    """In the transaction that performs the effect, as its first write: mark it delivered if it is still pending.
    False: another deliverer did it first (nothing to do). One prebuilt statement on the table: an effect's row is
    never loaded as an object before its claim."""
    return bool(session.execute(_CLAIM, {"effect_id": effect_id, "at": now}).rowcount)


def record_failure(session: Session, effect_id: int, now: datetime, error: str) -> bool:
    """After a failed delivery (rolled back): count the attempt and back off; True when that was the last one and
    the effect is now failed."""
    row = session.get(OutboxEffect, effect_id)
    if row is None or row.status != "pending":
        return False
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
        return True
    row.due_at = now + FIRST_BACKOFF * 2 ** (row.attempts - 1)
    return False


def retry(session: Session, effect_id: int, now: datetime) -> OutboxEffect | None:
    """Put a failed effect back in the queue with a fresh count of attempts."""
    row = session.get(OutboxEffect, effect_id)
    if row is None or row.status != "failed":
        return None
    row.status, row.attempts, row.due_at = "pending", 0, now
    return row


def listing(session: Session, status: str | None = None, limit: int = 200) -> list[dict]:
    query = select(OutboxEffect)
    if status is not None:
        query = query.where(OutboxEffect.status == status)
    rows = session.scalars(query.order_by(OutboxEffect.id.desc()).limit(limit)).all()
    return [{"id": r.id, "kind": r.kind, "status": r.status, "instance_id": r.instance_id, "actor": r.actor,
             "attempts": r.attempts, "created_at": r.created_at.isoformat(), "due_at": r.due_at.isoformat(),
             "delivered_at": r.delivered_at.isoformat() if r.delivered_at else None, "last_error": r.last_error,
             "payload": r.payload} for r in rows]


def depth(session: Session) -> tuple[int, datetime | None]:
    """(pending effects, the oldest one's creation) — a stuck outbox shows here."""
    count, oldest = session.execute(select(func.count(), func.min(OutboxEffect.created_at))
                                    .where(OutboxEffect.status == "pending")).one()
    return count or 0, oldest
