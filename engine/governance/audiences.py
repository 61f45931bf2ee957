"""Who hears: the people who may act on a task (its claimant, its assignee, or its role's holders within its
group's seats), a role's holders, the escalation contacts a diagram names (`escalateTo`), and the audiences of a
diagram's `notify(audience, subject, message)` — 'participants' (every programme participant and the instance's
raiser), a role id, or a username."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.delivery.notices import Recipient, add_notice, recipients_of
from engine.store.models import GovernanceGroup, HumanTask, Instance, Role, Seat, User, UserRole

ESCALATION_PROPERTY = "escalateTo"  # comma-separated role ids told when a task is overdue
PARTICIPANTS = "participants"
PARTICIPANT_ROLE = "participant"
OPEN_MEMBERSHIP = "open_all_programme_parties"


def role_holders(session: Session, role_ids: Iterable[str]) -> list[User]:
    role_ids = [r for r in role_ids if r]
    if not role_ids:
        return []
    return list(session.scalars(select(User).join(UserRole, UserRole.user_id == User.id)
                                .where(UserRole.role_id.in_(role_ids), User.active.is_(True))
                                .order_by(User.username)).unique())


def users_named(session: Session, usernames: Iterable[str]) -> list[User]:
    names = [n for n in usernames if n]
    if not names:
        return []
    return list(session.scalars(select(User).where(User.username.in_(names)).order_by(User.username)))


def task_actors(session: Session, row: HumanTask, include_claimant: bool = True) -> list[User]:
    """Who may act on a task: its claimant (for reminders), its assignee, or its role's holders in its group."""
    if include_claimant and row.claimed_by:
        return users_named(session, [row.claimed_by])
    if row.assignee:
        return users_named(session, [row.assignee])
    holders = role_holders(session, [row.role_id])
    group_id = getattr(row, "group_id", None)
    if group_id:
        group = session.get(GovernanceGroup, group_id)
        if group is None or (group.details or {}).get("membership") != OPEN_MEMBERSHIP:
            seated = set(session.scalars(select(Seat.holder_id).where(Seat.group_id == group_id))) | set(
                session.scalars(select(Seat.alternate_id).where(Seat.group_id == group_id)))
            holders = [u for u in holders if u.id in seated]
    return holders


def escalation_roles(properties) -> list[str]:
    raw = (properties or {}).get(ESCALATION_PROPERTY) or ""
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def audience_of(session: Session, audience: str, instance_id: int | None) -> list[Recipient]:
    """`notify`'s audience: 'participants', a role id, or a username (an unknown name is the diagram's error)."""
    audience = str(audience or "").strip()
    if audience == PARTICIPANTS:
        raiser = []
        if instance_id is not None:
            started_by = session.scalar(select(Instance.started_by).where(Instance.id == instance_id))
            raiser = users_named(session, [started_by])
        return recipients_of([*role_holders(session, [PARTICIPANT_ROLE]), *raiser])
    if session.get(Role, audience) is not None:
        return recipients_of(role_holders(session, [audience]))
    named = users_named(session, [audience])
    if named:
        return recipients_of(named)
    raise ValueError(f"notify: '{audience}' is not 'participants', a role id or a username")


def notify_audience(session: Session, now: datetime, instance_id: int | None, audience: str, subject: str,
                    message: str, email_on: bool = True) -> int:
    """What a diagram's `notify(audience, subject, message)` does: notices written in the command's transaction
    (so they exist exactly when the step commits); the e-mails go out after the commit."""
    people = audience_of(session, audience, instance_id)
    link = f"/requests/{instance_id}" if instance_id is not None else None
    return add_notice(session, people, "notice", str(subject), str(message), link, now, email_on,
                      instance_id=instance_id)
