"""Task lists for a person, answered from the indexed human-task table without loading any workflow."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, load_only

from engine.errors import Forbidden
from engine.governance.policy import REASSIGN, policy_of
from engine.services.identity import require_user
from engine.store import keyset
from engine.store.models import HumanTask, Instance, ProcessVersion, Role


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


_WITH_INSTANCES = select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id).options(
    load_only(Instance.id, Instance.reference, Instance.title, Instance.state, Instance.status,
              Instance.process_version_id, Instance.revision))
_TASK_WITH_INSTANCE = _WITH_INSTANCES.where(HumanTask.id == bindparam("task_id"))


def with_instances():
    """Tasks joined with what a list or a task's form needs of their instance (its version and revision, not its
    stored state or record, which can be large). Built once: its cache key is computed once."""
    return _WITH_INSTANCES


def view_of(row: HumanTask, instance: Instance) -> TaskView:
    return TaskView(row.id, row.name, row.element_id, row.process_id, row.instance_id, instance.reference,
                    instance.title, instance.state, row.lane, row.role_id, row.group_id, row.assignee, row.claimed_by,
                    row.status, row.due_at, row.created_at, row.completed_at, row.completed_by)


def my_tasks(session: Session, username: str) -> list[TaskView]:
    """Tasks claimed by me or assigned to me by name."""
    query = (with_instances()
             .where(HumanTask.status == "ready",
                    or_(HumanTask.claimed_by == username,
                        and_(HumanTask.assignee == username, HumanTask.claimed_by.is_(None))))
             .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at))
    return [view_of(r, i) for r, i in session.execute(query)]


def group_tasks(session: Session, username: str) -> list[TaskView]:
    """Unclaimed tasks of my roles that I may pick up (not assigned to a named person; in my groups and seats)."""
    user = require_user(session, username)
    query = (with_instances()
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
    query = (with_instances()
             .where(HumanTask.completed_by == username, HumanTask.status == "completed")
             .order_by(HumanTask.completed_at.desc()).limit(limit))
    return [view_of(r, i) for r, i in session.execute(query)]


def task_rows(session: Session, task_id: str) -> tuple[HumanTask, Instance] | None:
    """The task's row and its instance's, in one query (hold them: the session forgets unreferenced rows)."""
    found = session.execute(_TASK_WITH_INSTANCE, {"task_id": task_id}).first()
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


# --- the inbox page: tabs, filters, sorting and paging in SQL ---------------------------------------------------------

TABS = ("mine", "groups", "completed")
QUEUE = "all"  # every open task: the work queue of whoever may reassign (the PMO, admins)
SORTS = {
    "due": (HumanTask.due_at,),
    "created": (HumanTask.created_at,),
    "completed": (HumanTask.completed_at,),
    "reference": (Instance.reference,),
    "task": (HumanTask.name,),
    "process": (HumanTask.process_id,),
}


@dataclass(frozen=True)
class InboxQuery:
    """One page of one tab (mine | groups | completed), filtered (process id, lane, overdue, due before a moment,
    text in the reference, title or task name) and sorted (a key of SORTS)."""

    tab: str = "mine"
    process: str = ""
    group: str = ""
    overdue: bool = False
    due_before: datetime | None = None
    text: str = ""
    sort: str = "due"
    descending: bool = False
    page: int = 1
    page_size: int = 25
    holder: str = ""  # the work queue: whose tasks (a username, or "nobody" for unheld ones)


@dataclass(frozen=True)
class InstanceRef:
    """The instance a listed task belongs to, as the inbox shows it."""

    id: int
    reference: str | None
    title: str
    state: str
    status: str


@dataclass(frozen=True)
class InboxPage:
    """A page of tasks with their instances, how many match in all, each tab's count, the process names (id →
    latest version's name) and the lanes I can filter by (my roles' names)."""

    rows: list[tuple[TaskView, InstanceRef]]
    total: int
    counts: dict[str, int]
    process_names: dict[str, str]
    groups: list[str]
    next_key: list | None = None  # when sought by key: the last row's, if more follow


class Inbox:
    """The inbox's queries over one database and clock; each answers in one read."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def page(self, username: str, query: InboxQuery) -> InboxPage:
        """The chosen tab's page with the filters applied, and what the page shows around it.

        The page's task ids are found first from the indexes alone (the instance joined only for a text search or
        a sort by reference), then those rows are loaded: sorting 10,000 open or 100,000 completed tasks stays
        cheap."""
        return self._read(username, query, seek=False, key=None)

    def page_after(self, username: str, query: InboxQuery, key: list | None) -> InboxPage:
        """As `page`, sought by key: up to `query.page_size` tasks after the one whose sort key is `key` (from the
        first without one), whatever was added or done since; `next_key` is the last one's when more follow. Only
        the rows and their total (the API's list): no other tab's count, process names or lanes."""
        return self._read(username, query, seek=True, key=key, around=False)

    def _read(self, username: str, query: InboxQuery, seek: bool, key: list | None,
              around: bool = True) -> InboxPage:
        now = self.clock.now()
        with self.db.read() as session:
            user = require_user(session, username)
            rules = policy_of(session)
            pick_up = rules.actionable(session, user)
            tabs = TABS + ((QUEUE,) if rules.allows(user, REASSIGN) else ())
            if query.tab not in tabs:
                raise Forbidden(f"Only {rules.names_with(REASSIGN)} see every open task")
            counts = {tab: session.scalar(select(func.count()).select_from(HumanTask)
                                          .where(_tab_condition(tab, username, pick_up))) or 0
                      for tab in (tabs if around else (query.tab,))}
            rows, total, next_key = _page(session, query, username, pick_up, now, counts[query.tab], seek, key)
            if not around:
                return InboxPage(rows, total, counts, {}, [], next_key)
            lanes = select(Role.name) if query.tab == QUEUE else select(Role.name).where(
                Role.id.in_(user.role_ids or {""}))
            return InboxPage(rows, total, counts, process_names(session), sorted(session.scalars(lanes)), next_key)

    def process_names(self) -> dict[str, str]:
        """process id → name of its latest version."""
        with self.db.read() as session:
            return process_names(session)

    def open_lanes(self, instance_id: int) -> list[str]:
        """The lanes (or 'team') of an instance's open tasks: who has it now."""
        with self.db.read() as session:
            return sorted({lane or "team" for lane in session.scalars(select(HumanTask.lane).where(
                HumanTask.instance_id == instance_id, HumanTask.status == "ready"))})


def process_names(session: Session) -> dict[str, str]:
    """process id → name of its latest version."""
    latest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_id).subquery())
    rows = session.execute(select(ProcessVersion.process_id, ProcessVersion.name).join(
        latest, and_(latest.c.process_id == ProcessVersion.process_id, latest.c.v == ProcessVersion.version))).all()
    return dict(rows)


def _tab_condition(tab: str, username: str, pick_up):
    if tab == QUEUE:
        return HumanTask.status == "ready"
    if tab == "groups":
        return and_(HumanTask.status == "ready", HumanTask.claimed_by.is_(None), pick_up)
    if tab == "completed":
        return and_(HumanTask.completed_by == username, HumanTask.status == "completed")
    return and_(HumanTask.status == "ready",
                or_(HumanTask.claimed_by == username,
                    and_(HumanTask.assignee == username, HumanTask.claimed_by.is_(None))))


def _filtered(q: InboxQuery, username: str, pick_up, now: datetime) -> list:
    conditions = [_tab_condition(q.tab, username, pick_up)]
    if q.process:
        conditions.append(HumanTask.process_id == q.process)
    if q.group:
        conditions.append(HumanTask.lane == q.group)
    if q.holder == "nobody":
        conditions.append(and_(HumanTask.claimed_by.is_(None), HumanTask.assignee.is_(None)))
    elif q.holder:
        conditions.append(or_(HumanTask.claimed_by == q.holder,
                              and_(HumanTask.claimed_by.is_(None), HumanTask.assignee == q.holder)))
    if q.overdue:
        conditions.append(HumanTask.due_at < now)
    if q.due_before:
        conditions.append(HumanTask.due_at < q.due_before)
    if q.text:
        like = "%" + q.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Instance.reference.ilike(like, escape="\\"), Instance.title.ilike(like, escape="\\"),
                              HumanTask.name.ilike(like, escape="\\")))
    return conditions


def sort_keys(q: InboxQuery) -> list[keyset.SortKey]:
    """The inbox's order: the chosen column (blanks last where it may be blank), then created, then the id."""
    keys = [keyset.SortKey(column, q.descending, blanks_last=not _never_blank(column, q.tab))
            for column in SORTS[q.sort if q.sort in SORTS else "due"]]
    return keys + [keyset.SortKey(HumanTask.created_at, q.descending), keyset.SortKey(HumanTask.id)]


def _page(session: Session, q: InboxQuery, username: str, pick_up, now: datetime, tab_total: int,
          seek: bool = False, key: list | None = None) -> tuple[list[tuple[TaskView, InstanceRef]], int, list | None]:
    conditions = _filtered(q, username, pick_up, now)
    sort = q.sort if q.sort in SORTS else "due"
    if len(conditions) > 1:
        count = select(func.count()).select_from(HumanTask)
        if q.text:
            count = count.join(Instance, Instance.id == HumanTask.instance_id)
        total = session.scalar(count.where(*conditions)) or 0
    else:
        total = tab_total  # no filter beyond the tab: the tab's count
    keys = sort_keys(q)
    page_ids = select(HumanTask.id)
    if q.text or sort == "reference":
        page_ids = page_ids.join(Instance, Instance.id == HumanTask.instance_id)
    page_ids = page_ids.where(*conditions)
    next_key = None
    if seek:
        found, next_key = keyset.rows_after(session, page_ids, keys, key, q.page_size)
        ids = [task_id for task_id, in found]
    else:
        ids = list(session.scalars(page_ids.order_by(*keyset.order_by(keys))
                                   .limit(q.page_size).offset((max(q.page, 1) - 1) * q.page_size)))
    if not ids:
        return [], total, next_key
    found = {task.id: (view_of(task, instance), InstanceRef(instance.id, instance.reference, instance.title,
                                                            instance.state, instance.status))
             for task, instance in session.execute(with_instances().where(HumanTask.id.in_(ids)))}
    return [found[i] for i in ids if i in found], total, next_key


def _never_blank(column, tab: str) -> bool:
    """Columns that always have a value on this tab's rows (so the blanks-last term, which defeats an index
    order, is not needed)."""
    always = (HumanTask.created_at, HumanTask.name, HumanTask.process_id)
    return any(column is c for c in always) or (tab == "completed" and column is HumanTask.completed_at)
