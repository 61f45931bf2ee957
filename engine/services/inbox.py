"""Task lists for a person, answered from the indexed human-task table without loading any workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.governance.policy import policy_of
from engine.services.identity import require_user
from engine.store.models import HumanTask, Instance


@dataclass(frozen=True)
class TaskView:
    id: str
    name: str
    element_id: str
    process_id: str
    instance_id: int
    reference: str | None
    title: str
    state: str
    lane: str | None
    role_id: str | None
    group_id: str | None
    assignee: str | None
    claimed_by: str | None
    status: str
    due_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None

    def as_dict(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


def view_of(row: HumanTask, instance: Instance) -> TaskView:
    return TaskView(row.id, row.name, row.element_id, row.process_id, row.instance_id, instance.reference,
                    instance.title, instance.state, row.lane, row.role_id, row.group_id, row.assignee, row.claimed_by,
                    row.status, row.due_at, row.created_at, row.completed_at, row.completed_by)


def my_tasks(session: Session, username: str) -> list[TaskView]:
    """Tasks claimed by me or assigned to me by name."""
    query = (select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
             .where(HumanTask.status == "ready",
                    or_(HumanTask.claimed_by == username,
                        and_(HumanTask.assignee == username, HumanTask.claimed_by.is_(None))))
             .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at))
    return [view_of(r, i) for r, i in session.execute(query)]


def group_tasks(session: Session, username: str) -> list[TaskView]:
    """Unclaimed tasks of my roles that I may pick up (not assigned to a named person; in my groups and seats)."""
    user = require_user(session, username)
    query = (select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
             .where(HumanTask.status == "ready", HumanTask.claimed_by.is_(None),
                    policy_of(session).actionable(session, user))
             .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at))
    return [view_of(r, i) for r, i in session.execute(query)]


def tasks_for(session: Session, username: str) -> list[TaskView]:
    """Everything open that I may act on: mine first, then my groups'."""
    mine = my_tasks(session, username)
    seen = {t.id for t in mine}
    return mine + [t for t in group_tasks(session, username) if t.id not in seen]


def completed_by(session: Session, username: str, limit: int = 50) -> list[TaskView]:
    query = (select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
             .where(HumanTask.completed_by == username, HumanTask.status == "completed")
             .order_by(HumanTask.completed_at.desc()).limit(limit))
    return [view_of(r, i) for r, i in session.execute(query)]


def task_rows(session: Session, task_id: str) -> tuple[HumanTask, Instance] | None:
    """The task's row and its instance's, in one query (hold them: the session forgets unreferenced rows)."""
    found = session.execute(select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
                            .where(HumanTask.id == task_id)).first()
    return (found[0], found[1]) if found else None


def task(session: Session, task_id: str) -> TaskView | None:
    found = task_rows(session, task_id)
    return view_of(*found) if found else None


def counts(session: Session, username: str) -> dict[str, int]:
    user = require_user(session, username)
    mine = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == "ready", or_(HumanTask.claimed_by == username,
                                         and_(HumanTask.assignee == username, HumanTask.claimed_by.is_(None)))))
    groups = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.status == "ready", HumanTask.claimed_by.is_(None),
        policy_of(session).actionable(session, user)))
    done = session.scalar(select(func.count()).select_from(HumanTask).where(
        HumanTask.completed_by == username, HumanTask.status == "completed"))
    return {"mine": mine or 0, "groups": groups or 0, "completed": done or 0}
