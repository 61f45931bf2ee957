"""The programme's logs as a service: the decision, action and RAID logs (engine/governance/logs.py) read, edited
by the PMO and admins, and exported — one read or one transaction each, every change and export audited."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from engine.errors import NotFound
from engine.governance import logs
from engine.governance.logs import (ACTION_COLUMNS, ACTION_FIELDS, ACTION_STATUSES, DECISION_COLUMNS,  # noqa: F401
                                     RAGS, RAID_COLUMNS, RAID_FIELDS, RAID_STATUSES, RAID_TYPES,
                                     LogQuery)  # the logs' shape, for the pages
from engine.store import audit

LONDON = ZoneInfo("Europe/London")
NAMES = ("decisions", "actions", "raid")


class Logbook:
    """The decision, action and RAID logs over one database and clock."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def rows(self, name: str, q: LogQuery = LogQuery()) -> list[dict]:
        """A log's entries (`decisions`, `actions` or `raid`) matching the query; actions as of today."""
        with self.db.read() as session:
            if name == "decisions":
                return logs.decisions(session, q)
            if name == "actions":
                return logs.actions(session, self.clock.now().astimezone(LONDON).date(), q)
            if name == "raid":
                return logs.raid(session, q)
        raise NotFound(f"There is no {name} log")

    def entry(self, name: str, item_id: int) -> dict:
        """One editable entry of the action or RAID log."""
        found = [r for r in self.rows(name, LogQuery()) if r.get("id") == item_id and r.get("editable", True)]
        if not found:
            raise NotFound(f"There is no {name} entry {item_id}")
        return found[0]

    def save_action(self, by: str, values: dict, action_id: int | None = None) -> dict:
        """Add an action (or change action `action_id`); the PMO and admins only (a refusal is audited)."""
        if action_id is None:
            return logs.add_action(self, by, **values)
        return logs.update_action(self, action_id, by, **values)

    def save_raid(self, by: str, values: dict, item_id: int | None = None) -> dict:
        """Add a RAID item (or change item `item_id`); the PMO and admins only (a refusal is audited)."""
        if item_id is None:
            return logs.add_raid(self, by, **values)
        return logs.update_raid(self, item_id, by, **values)

    def record_export(self, name: str, username: str, kind: str, filters: dict) -> None:
        """An export of a log is a disclosure: audited (`log.exported`), as the register's are."""
        with self.db.write() as session:
            audit.record(session, self.clock.now(), username, "log.exported", log=name, format=kind, filters=filters)
