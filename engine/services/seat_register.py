"""The seat register as a service: every governance group with its seats and their people, the latest assignments,
and assigning a seat (engine/governance/seats.py) — one read or one transaction each, assignments audited."""
from __future__ import annotations

from engine.governance import seats
from engine.governance.seats import UNCHANGED, GroupView, SeatView


class SeatRegister:
    """Seats over one database and clock."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def groups(self) -> list[GroupView]:
        """Every group with its seats and their people, by level then name."""
        return seats.seat_register(self)

    def group(self, group_id: str) -> GroupView | None:
        return next((found for found in self.groups() if found.id == group_id), None)

    def history(self, limit: int = 100) -> list[dict]:
        """The latest seat assignments, newest first."""
        return seats.seat_history(self, limit=limit)

    def assign(self, group_id: str, seat: str | int, by: str, holder: str | None = UNCHANGED,
               alternate: str | None = UNCHANGED) -> SeatView:
        """Give a seat a holder and/or an alternate (None empties it); an admin only (a refusal is audited)."""
        return seats.assign_seat(self, group_id, seat, by=by, holder=holder, alternate=alternate)
