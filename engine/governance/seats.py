"""The seat register: who holds each seat of each governance group, and who stands in as alternate.

Assignments are audited (`seat.assigned`) and apply at once to open tasks: who may act on a group's task, and who hears
about it, is worked out when asked (engine/governance/policy.py), never stored on the task. A task may also be for one
seat of a group: its `group` property then gives `GROUP:SEAT_CODE` (e.g. `DAG:SUPPLIER_LARGE`, a constituency's
representative), and only that seat's holder and alternate may act on it (`policy.seat_token`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.store import audit
from engine.errors import Forbidden, GovflowError, NotFound
from engine.governance.policy import MANAGE_SEATS, policy_of
from engine.store.models import GovernanceGroup, Seat, User

UNCHANGED: Any = object()


class SeatError(GovflowError):
    status = 422


def group_members(session: Session, group_id: str) -> list[str]:
    """Usernames of a group's seat holders and alternates (active people only), in seat order."""
    if session.get(GovernanceGroup, group_id) is None:
        raise KeyError(f"there is no governance group '{group_id}'")
    names: list[str] = []
    seats = session.scalars(select(Seat).where(Seat.group_id == group_id).order_by(Seat.position)).all()
    for seat in seats:
        for user_id in (seat.holder_id, seat.alternate_id):
            user = session.get(User, user_id) if user_id else None
            if user is not None and user.active and user.username not in names:
                names.append(user.username)
    return names


def seat_functions(session: Session) -> dict:
    """Script functions for diagrams; the session is only touched when one is called."""
    return {"group_members": lambda group_id: group_members(session, group_id)}


@dataclass(frozen=True)
class SeatView:
    id: int
    group_id: str
    position: int
    seat_code: str
    kind: str
    label: str
    holder: str | None
    holder_name: str | None
    alternate: str | None
    alternate_name: str | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    level: int
    parent_id: str | None
    status: str
    membership: str  # "seats", or the open/closed rule of a group without a seat list
    seats: list[SeatView]


def _seat_view(session: Session, seat: Seat) -> SeatView:
    holder = session.get(User, seat.holder_id) if seat.holder_id else None
    alternate = session.get(User, seat.alternate_id) if seat.alternate_id else None
    return SeatView(seat.id, seat.group_id, seat.position, seat.seat_code, seat.kind, seat.label,
                    holder.username if holder else None, holder.display_name if holder else None,
                    alternate.username if alternate else None, alternate.display_name if alternate else None)


def register(session: Session) -> list[GroupView]:
    """Every group with its seats and their people, by level then name."""
    groups = session.scalars(select(GovernanceGroup).order_by(GovernanceGroup.level, GovernanceGroup.id)).all()
    return [GroupView(g.id, g.name, g.level, g.parent_id, g.status,
                      "seats" if g.seats else str((g.details or {}).get("membership") or "none"),
                      [_seat_view(session, s) for s in g.seats]) for g in groups]


def find_seat(session: Session, group_id: str, seat: str | int) -> Seat:
    """A seat by its position in the group, or by its code when the code is unique in the group."""
    group = session.get(GovernanceGroup, group_id)
    if group is None:
        raise NotFound(f"There is no governance group '{group_id}'")
    if isinstance(seat, int) or str(seat).isdigit():
        found = [s for s in group.seats if s.position == int(seat)]
    else:
        found = [s for s in group.seats if s.seat_code == seat]
    if not found:
        raise NotFound(f"{group_id} has no seat '{seat}'")
    if len(found) > 1:
        raise SeatError(f"{group_id} has {len(found)} '{seat}' seats: give the seat's position")
    return found[0]


def _person(session: Session, username: str | None) -> User | None:
    if username in (None, ""):
        return None
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None or not user.active:
        raise SeatError(f"There is no active person '{username}'")
    return user


def assign(session: Session, now, by: str, group_id: str, seat: str | int, holder: str | None = UNCHANGED,
           alternate: str | None = UNCHANGED) -> SeatView:
    """Give a seat a holder and/or an alternate (None empties it); audited; effective at once for open tasks."""
    actor = session.scalars(select(User).where(User.username == by)).first()
    rules = policy_of(session)
    if by != "system" and not rules.allows(actor, MANAGE_SEATS):
        raise Forbidden(f"Only {rules.names_with(MANAGE_SEATS)} can assign people to seats")  # audited by assign_seat
    row = find_seat(session, group_id, seat)
    before = _seat_view(session, row)
    if holder is not UNCHANGED:
        person = _person(session, holder)
        row.holder_id = person.id if person else None
    if alternate is not UNCHANGED:
        person = _person(session, alternate)
        row.alternate_id = person.id if person else None
    if row.holder_id is not None and row.holder_id == row.alternate_id:
        raise SeatError("A seat's holder cannot also be its alternate")
    session.flush()
    after = _seat_view(session, row)
    audit.record(session, now, by, "seat.assigned", group=group_id, seat=row.seat_code, position=row.position,
                 holder=after.holder, previous_holder=before.holder, alternate=after.alternate,
                 previous_alternate=before.alternate)
    return after


# ---- over a Govflow (what tests, the CLI and the web call) -------------------------------------------------------------

def assign_seat(gov, group_id: str, seat: str | int, by: str = "admin", holder: str | None = UNCHANGED,
                alternate: str | None = UNCHANGED) -> SeatView:
    """One command: assign in its own transaction. A refusal's audit event is kept."""
    try:
        with gov.db.write() as session:
            return assign(session, gov.clock.now(), by, group_id, seat, holder, alternate)
    except Forbidden as refused:
        with gov.db.write() as session:
            audit.record(session, gov.clock.now(), by, "access.denied", attempted="assign seat",
                         reason=str(refused), group=group_id, seat=str(seat))
        raise


def seat_register(gov) -> list[GroupView]:
    with gov.db.read() as session:
        return register(session)


def seat_history(gov, limit: int = 100) -> list[dict]:
    """The latest seat assignments, newest first (from the audit trail)."""
    from engine.store.models import AuditEvent
    with gov.db.read() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == "seat.assigned")
                               .order_by(AuditEvent.id.desc()).limit(limit)).all()
        return [{"at": e.at, "actor": e.actor, **(e.details or {})} for e in rows]
