"""The groups' meetings as a service: the calendar with each meeting's agenda, one meeting's page, planning the usual
meetings (and planning them ahead, `meetings_planned_ahead_days`), adding an extraordinary one, and the secretariat's
agenda — items added, ordered and removed, the meeting marked held, each item's decision recorded at the meeting,
which completes the item's decision task (engine/governance/meetings.py, agendas.py) — one read or one transaction
each; a refusal is audited."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from engine.calendar import ENGLAND_AND_WALES
from engine.errors import Forbidden
from engine.governance import agendas, meetings
from engine.governance.agendas import ITEM_KINDS, KIND_WORDS  # noqa: F401 (the agenda's kinds, for the pages)
from engine.services.commands import deny
from engine.store import audit

PLANNED_AHEAD_DAYS = 92  # unless settings.yaml's meetings_planned_ahead_days says otherwise


class MeetingCalendar:
    """Meetings over one database, clock and configuration (processes/settings.yaml gives the papers deadlines);
    the runtime completes the decision tasks the secretariat records at a meeting."""

    def __init__(self, db, clock, config, runtime=None):
        self.db = db
        self.clock = clock
        self.config = config
        self.runtime = runtime

    def _today(self) -> date:
        return self.clock.now().astimezone(ENGLAND_AND_WALES.tz).date()

    @contextmanager
    def _audited_refusal(self, by: str, attempted: str, **details):
        """A refusal (Forbidden) is audited in its own transaction, then raised."""
        try:
            yield
        except Forbidden as refused:
            with self.db.write() as session:
                audit.record(session, self.clock.now(), by, "access.denied", attempted=attempted,
                             reason=str(refused), **details)
            raise

    # --- the calendar -------------------------------------------------------------------------------------------

    def meetings(self, group_id: str | None = None, start: date | None = None, end: date | None = None) -> list[dict]:
        """The meetings (of one group, between two days when given) with their agendas, by day."""
        return meetings.meetings(self, group_id, start, end)

    def meeting(self, meeting_id: int) -> dict:
        """One meeting with its agenda: each item's instance, what was decided on it and its open decision task."""
        return meetings.meeting_page(self, meeting_id)

    def schedule_usual(self, start: date, end: date, by: str, group_id: str | None = None) -> list[dict]:
        """Plan the groups' (or one group's) usual meetings between two days; those already planned are kept."""
        return meetings.schedule_usual_meetings(self, start, end, by=by, group_id=group_id)

    def plan_ahead(self, by: str = "system", group_id: str | None = None, start: date | None = None,
                   end: date | None = None) -> list[dict]:
        """Plan every group's (or one group's) usual meetings from `start` (today) to `end` (by default
        `meetings_planned_ahead_days` ahead): the scheduler does it each working day, the PMO with
        `govflow meetings plan`. Those already planned are kept; returns the new ones."""
        if by != "system":
            with self._audited_refusal(by, "plan meetings"), self.db.read() as session:
                agendas.require_secretariat(session, by, "plan meetings")
        days = int(meetings.settings_of(self).get("meetings_planned_ahead_days") or PLANNED_AHEAD_DAYS)
        start = start or self._today()
        return self.schedule_usual(start, end or start + timedelta(days=days), by, group_id)

    def add_extraordinary(self, group_id: str, held_on: Any, by: str, note: str = "") -> dict:
        """Add an extraordinary meeting of a group (the PMO and admins; a refusal is audited)."""
        return meetings.add_extraordinary_meeting(self, group_id, held_on, by, note)

    # --- the secretariat's agenda ---------------------------------------------------------------------------------

    def add_item(self, meeting_id: int, by: str, kind: str, reference: str = "", title: str = "") -> dict:
        """Put a change request, an escalation (by reference), a paper or any other business (a title) at the end of
        a meeting's agenda."""
        with self._audited_refusal(by, "change an agenda", meeting_id=meeting_id):
            with self.db.write() as session:
                item = agendas.add_item(session, self.clock.now(), by, meeting_id, kind, reference, title)
                return {"id": item.id, "kind": item.kind, "reference": item.reference, "title": item.title,
                        "instance_id": item.instance_id}

    def move_item(self, meeting_id: int, item_id: int, position: int, by: str) -> None:
        """Move an item to a place on the agenda (1 = first)."""
        with self._audited_refusal(by, "change an agenda", meeting_id=meeting_id):
            with self.db.write() as session:
                agendas.move_item(session, self.clock.now(), by, meeting_id, item_id, position)

    def remove_item(self, meeting_id: int, item_id: int, by: str) -> dict:
        """Take an item off a meeting's agenda."""
        with self._audited_refusal(by, "change an agenda", meeting_id=meeting_id):
            with self.db.write() as session:
                item = agendas.remove_item(session, self.clock.now(), by, meeting_id, item_id)
                return {"id": item.id, "reference": item.reference, "title": item.title}

    def mark_held(self, meeting_id: int, by: str) -> dict:
        """Mark a meeting held (on its day or after)."""
        with self._audited_refusal(by, "mark a meeting held", meeting_id=meeting_id):
            with self.db.write() as session:
                return meetings.meeting_dict(agendas.mark_held(session, self.clock.now(), self._today(), by,
                                                               meeting_id))

    def decision_task(self, meeting_id: int, item_id: int, by: str):
        """The open decision task of an item that `by` may record now (its row, as the inbox shows it)."""
        settings = meetings.settings_of(self)
        with self.db.read() as session:
            _meeting, _item, task = agendas.decision_to_record(session, self._today(), by, meeting_id, item_id,
                                                               settings)
            return task.id

    def record_decision(self, meeting_id: int, item_id: int, by: str, data: dict):
        """Record the group's decision on an item at its meeting: the item's decision task is completed with
        `data` (checked against its form) by the secretariat, as the policy lets whoever may keep the logs."""
        settings, today = meetings.settings_of(self), self._today()
        with self._audited_refusal(by, "record a meeting decision", meeting_id=meeting_id, agenda_item_id=item_id):
            task_id = self.decision_task(meeting_id, item_id, by)

        def authorise(session, user, row):
            try:
                meeting, item, task = agendas.decision_to_record(session, today, user.username, meeting_id,
                                                                 item_id, settings)
            except Forbidden as refused:
                raise deny(user, "record a meeting decision", str(refused), row) from refused
            if task.id != row.id:
                raise deny(user, "record a meeting decision", f"'{row.name}' is not the decision on "
                           f"{item.reference or item.title}", row)
            audit.record(session, self.clock.now(), user.username, "meeting.decision_recorded",
                         instance_id=row.instance_id, meeting_id=meeting.id, agenda_item_id=item.id,
                         task_id=row.id, element_id=row.element_id, reference=item.reference)

        return self.runtime.complete(task_id, by, data, authorise=authorise)
