"""The groups' meetings as a service: the calendar with each meeting's agenda, one meeting's page, planning the usual
meetings and adding an extraordinary one (engine/governance/meetings.py) — one read or one transaction each."""
from __future__ import annotations

from datetime import date
from typing import Any

from engine.governance import meetings


class MeetingCalendar:
    """Meetings over one database, clock and configuration (processes/settings.yaml gives the papers deadlines)."""

    def __init__(self, db, clock, config):
        self.db = db
        self.clock = clock
        self.config = config

    def meetings(self, group_id: str | None = None, start: date | None = None, end: date | None = None) -> list[dict]:
        """The meetings (of one group, between two days when given) with their agendas, by day."""
        return meetings.meetings(self, group_id, start, end)

    def meeting(self, meeting_id: int) -> dict:
        """One meeting with its agenda: each item's instance and what was decided on it."""
        return meetings.meeting_page(self, meeting_id)

    def schedule_usual(self, start: date, end: date, by: str, group_id: str | None = None) -> list[dict]:
        """Plan the groups' (or one group's) usual meetings between two days; those already planned are kept."""
        return meetings.schedule_usual_meetings(self, start, end, by=by, group_id=group_id)

    def add_extraordinary(self, group_id: str, held_on: Any, by: str, note: str = "") -> dict:
        """Add an extraordinary meeting of a group (the PMO and admins; a refusal is audited)."""
        return meetings.add_extraordinary_meeting(self, group_id, held_on, by, note)
