"""The audit trail as a whole: check every hash chain (`verify`) and anchor the chains' heads (`anchor`)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.clock import Clock
from engine.store import audit
from engine.store.db import Database
from engine.store.models import AuditEvent


class AuditTrail:
    """Verify and anchor the audit chains of one database (engine/store/audit.py says how they are built)."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def verify(self) -> dict[str, Any]:
        """Walk every chain in one snapshot: {"intact", "events", "chains", "anchors", "first_break", "breaks"},
        each break with the event id where it shows, its chain and what differs."""
        with self.db.read() as session:
            if not self.db.is_sqlite:  # one snapshot for the heads and the events, whatever commits meanwhile
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return audit.verify(session).as_dict()

    def anchor(self, by: str = "system") -> dict[str, Any]:
        """Write an anchor vouching for every chain that moved since the last one; with its event id and hash (the
        digest to keep outside the database: any later rewrite of what it vouches for no longer matches it)."""
        with self.db.write() as session:
            vouched = audit.anchor(session, self.clock.now(), by)
        with self.db.read() as session:
            event_id, digest = session.execute(select(AuditEvent.id, AuditEvent.hash).where(
                AuditEvent.action == audit.ANCHORED, AuditEvent.actor == by)
                .order_by(AuditEvent.id.desc()).limit(1)).one()
        return {**vouched, "event_id": event_id, "digest": digest}
