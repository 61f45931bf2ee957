"""One search box across what a person may read: requests, escalations and appeals (by reference or title, and by
any answer for who may see every answer) and, for who may read them, the decision, action and RAID logs."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import String, cast, or_, select

from engine.governance import logs
from engine.governance.policy import READ_LOGS, SEE_ALL_REQUESTS, policy_of
from engine.services.identity import require_user
from engine.store.models import Instance

MIN_LENGTH = 2
LOG_NAMES = ("decisions", "actions", "raid")


@dataclass
class Found:
    """What matched: instances newest first (at most `limit`, `more` when there were others) and log entries."""

    text: str
    instances: list[dict] = field(default_factory=list)
    more: bool = False
    logs: dict[str, list[dict]] = field(default_factory=dict)


class Search:
    def __init__(self, db, clock, collaboration, logbook):
        self.db = db
        self.clock = clock
        self.collaboration = collaboration
        self.logbook = logbook

    def find(self, username: str, text: str, limit: int = 50) -> Found:
        """Everything matching `text` that this person may read; nothing for fewer than MIN_LENGTH characters."""
        text = (text or "").strip()[:200]
        found = Found(text)
        if len(text) < MIN_LENGTH:
            return found
        like = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self.db.read() as session:
            user = require_user(session, username)
            rules = policy_of(session)
            states: set[str] = set()
            for process_id in self.collaboration.repository.process_ids(session):
                version = self.collaboration.repository.latest(session, process_id)
                states |= self.collaboration.states_open_to_industry(session, version.id)
            # the answers' text for who may see every answer (it holds confidential responses); else the headings
            columns = [Instance.reference, Instance.title]
            if rules.allows(user, SEE_ALL_REQUESTS):
                columns.append(cast(Instance.facts, String))
            matches = or_(*(column.ilike(like, escape="\\") for column in columns))
            rows = session.scalars(select(Instance).where(rules.visible_to(session, user, states), matches)
                                   .order_by(Instance.started_at.desc(), Instance.id.desc()).limit(limit + 1)).all()
            may_read_logs = rules.allows(user, READ_LOGS)
        found.instances = [{"id": r.id, "process_id": r.process_id, "reference": r.reference, "title": r.title,
                            "status": r.status, "state": r.state, "started_at": r.started_at.isoformat()}
                           for r in rows[:limit]]
        found.more = len(rows) > limit
        if may_read_logs:
            found.logs = {name: self.logbook.rows(name, logs.LogQuery(text=text))[:limit] for name in LOG_NAMES}
        return found
