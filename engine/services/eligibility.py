"""Who may act on a task: its named assignee, or a holder of its lane's role — and, for a task of one governance
group, only that group's seat holders and alternates (open groups admit every holder of the role)."""
from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.store.models import GovernanceGroup, HumanTask, Seat, User
from engine.governance.seats import seat_tokens_of

OPEN_MEMBERSHIP = "open_all_programme_parties"


def groups_of(session: Session, user: User) -> set[str]:
    """The groups a person may act for: where they hold a seat or stand in as alternate, and every open group."""
    seated = session.scalars(select(Seat.group_id).where(or_(Seat.holder_id == user.id,
                                                             Seat.alternate_id == user.id))).all()
    open_groups = [g.id for g in session.scalars(select(GovernanceGroup)) if
                   (g.details or {}).get("membership") == OPEN_MEMBERSHIP]
    return set(seated) | set(open_groups) | seat_tokens_of(session, user)  # GROUP:SEAT tasks (engine/governance/seats.py)


def may_act(user: User, task: HumanTask, user_groups: set[str] | None) -> bool:
    """`user_groups` may be None when the task has no group (it is only looked up when needed)."""
    if task.assignee:
        return task.assignee == user.username
    if task.role_id is None or task.role_id not in user.role_ids:
        return False
    return task.group_id is None or (user_groups is not None and task.group_id in user_groups)


def actionable_by(role_ids: set[str], user_groups: set[str]):
    """SQL condition: unassigned open tasks of these roles, outside any group or in one of these groups."""
    return and_(HumanTask.assignee.is_(None), HumanTask.role_id.in_(role_ids or {""}),
                or_(HumanTask.group_id.is_(None), HumanTask.group_id.in_(user_groups or {""})))
