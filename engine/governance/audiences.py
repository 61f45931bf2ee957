"""Who hears: the people who may act on a task (the access policy's answer, engine/governance/policy.py: its claimant,
its assignee, or its role's holders who may act, within its group's seats or its one seat), a role's holders, the
escalation contacts a diagram names (`escalateTo`), and the audiences of a diagram's `notify(audience, subject,
message)` — 'participants' (every programme participant and the instance's raiser), a role id, or a username."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.delivery.notices import Recipient, add_notice, recipients_of
from engine.governance.policy import policy_of, role_holders, users_named
from engine.store.models import HumanTask, Instance, Role, User

ESCALATION_PROPERTY = "escalateTo"  # comma-separated role ids told when a task is overdue
PARTICIPANTS = "participants"
PARTICIPANT_ROLE = "participant"  # the role whose holders the audience 'participants' names


def task_actors(session: Session, row: HumanTask, include_claimant: bool = True) -> list[User]:
    """Who hears about a task: who may act on it, by the access policy (its claimant first, for reminders)."""
    return policy_of(session).who_hears(session, row, include_claimant)


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
