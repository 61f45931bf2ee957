"""The inbox: my tasks, my groups' unclaimed tasks and what I completed, filtered, sorted and paged in SQL."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from engine.governance.policy import actionable_by
from engine.errors import FormInvalid
from engine.store.models import HumanTask, Instance, ProcessVersion, Role

from .auth import login_required
from .display import LONDON

bp = Blueprint("inbox", __name__)

TABS = {"mine": "My tasks", "groups": "My groups", "completed": "Completed by me"}
SORTS = {
    "due": (HumanTask.due_at,),
    "created": (HumanTask.created_at,),
    "completed": (HumanTask.completed_at,),
    "reference": (Instance.reference,),
    "task": (HumanTask.name,),
    "process": (HumanTask.process_id,),
}


@dataclass
class InboxFilters:
    """The inbox's GET parameters, read defensively (anything unknown is ignored)."""

    tab: str = "mine"
    process: str = ""
    group: str = ""
    overdue: bool = False
    due_before: date | None = None
    text: str = ""
    sort: str = "due"
    descending: bool = False
    page: int = 1
    problems: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args) -> "InboxFilters":
        found = cls()
        found.tab = args.get("tab") if args.get("tab") in TABS else "mine"
        found.process = args.get("process", "").strip()[:120]
        found.group = args.get("group", "").strip()[:120]
        found.overdue = args.get("overdue") == "1"
        found.text = args.get("q", "").strip()[:200]
        raw_due = args.get("due_before", "").strip()
        if raw_due:
            try:
                found.due_before = date.fromisoformat(raw_due)
            except ValueError:
                found.problems["due_before"] = "Enter the date as year-month-day, for example 2026-12-31"
        found.sort = args.get("sort") if args.get("sort") in SORTS else ("completed" if found.tab == "completed"
                                                                          else "due")
        found.descending = args.get("dir") == "desc" or (found.tab == "completed" and "dir" not in args)
        try:
            found.page = max(1, min(int(args.get("page", "1")), 100_000))
        except ValueError:
            found.page = 1
        return found

    def query_args(self, **changes) -> dict:
        values = {"tab": self.tab, "process": self.process, "group": self.group,
                  "overdue": "1" if self.overdue else "", "due_before": self.due_before.isoformat()
                  if self.due_before else "", "q": self.text, "sort": self.sort,
                  "dir": "desc" if self.descending else "asc", "page": self.page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


def _tab_condition(tab: str, username: str, role_ids: set[str], user_groups: set[str] = frozenset()):
    if tab == "groups":
        return and_(HumanTask.status == "ready", HumanTask.claimed_by.is_(None),
                    actionable_by(role_ids, set(user_groups)))
    if tab == "completed":
        return and_(HumanTask.completed_by == username, HumanTask.status == "completed")
    return and_(HumanTask.status == "ready",
                or_(HumanTask.claimed_by == username,
                    and_(HumanTask.assignee == username, HumanTask.claimed_by.is_(None))))


def _filtered(filters: InboxFilters, username: str, role_ids: set[str], now: datetime,
              user_groups: set[str] = frozenset()):
    conditions = [_tab_condition(filters.tab, username, role_ids, user_groups)]
    if filters.process:
        conditions.append(HumanTask.process_id == filters.process)
    if filters.group:
        conditions.append(HumanTask.lane == filters.group)
    if filters.overdue:
        conditions.append(HumanTask.due_at < now)
    if filters.due_before:
        start_of_day = datetime.combine(filters.due_before, time(0), tzinfo=LONDON)
        conditions.append(HumanTask.due_at < start_of_day)
    if filters.text:
        like = "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(or_(Instance.reference.ilike(like, escape="\\"), Instance.title.ilike(like, escape="\\"),
                              HumanTask.name.ilike(like, escape="\\")))
    return conditions


def inbox_page(db: Session, filters: InboxFilters, username: str, role_ids: set[str], now: datetime,
               page_size: int, tab_total: int | None = None,
               user_groups: set[str] = frozenset()) -> tuple[list[tuple[HumanTask, Instance]], int]:
    """One page of the chosen tab with the filters applied, and how many rows match in all.

    The page's task ids are found first from the indexes alone (the instance joined only for a text search or a
    sort by reference), then those rows are loaded: sorting 10,000 open or 100,000 completed tasks stays cheap."""
    conditions = _filtered(filters, username, role_ids, now, user_groups)
    needs_instance = bool(filters.text) or filters.sort == "reference"
    narrowed = len(conditions) > 1
    if narrowed or tab_total is None:
        count = select(func.count()).select_from(HumanTask)
        if filters.text:
            count = count.join(Instance, Instance.id == HumanTask.instance_id)
        total = db.scalar(count.where(*conditions)) or 0
    else:
        total = tab_total  # no filter beyond the tab: the tab's count
    order = []
    for column in SORTS[filters.sort]:
        if not _never_blank(column, filters.tab):
            order.append(column.is_(None))  # blanks last whichever the direction
        order.append(column.desc() if filters.descending else column.asc())
    order.append(HumanTask.created_at.desc() if filters.descending else HumanTask.created_at.asc())
    order.append(HumanTask.id)
    page_ids = select(HumanTask.id)
    if needs_instance:
        page_ids = page_ids.join(Instance, Instance.id == HumanTask.instance_id)
    ids = list(db.scalars(page_ids.where(*conditions).order_by(*order)
                          .limit(page_size).offset((filters.page - 1) * page_size)))
    if not ids:
        return [], total
    found = {task.id: (task, instance) for task, instance in db.execute(
        select(HumanTask, Instance).join(Instance, Instance.id == HumanTask.instance_id)
        .where(HumanTask.id.in_(ids)))}
    return [found[i] for i in ids if i in found], total


def _never_blank(column, tab: str) -> bool:
    """Columns that always have a value on this tab's rows (so the blanks-last term, which defeats an index
    order, is not needed)."""
    always = (HumanTask.created_at, HumanTask.name, HumanTask.process_id)
    return any(column is c for c in always) or (tab == "completed" and column is HumanTask.completed_at)


def tab_counts(db: Session, username: str, role_ids: set[str], user_groups: set[str] = frozenset()) -> dict[str, int]:
    return {tab: db.scalar(select(func.count()).select_from(HumanTask)
                           .where(_tab_condition(tab, username, role_ids, user_groups))) or 0 for tab in TABS}


def process_names(db: Session) -> dict[str, str]:
    """process id → name of its latest version."""
    latest = (select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
              .group_by(ProcessVersion.process_id).subquery())
    rows = db.execute(select(ProcessVersion.process_id, ProcessVersion.name).join(
        latest, and_(latest.c.process_id == ProcessVersion.process_id, latest.c.v == ProcessVersion.version))).all()
    return dict(rows)


def group_names(db: Session, role_ids: set[str]) -> list[str]:
    """The lanes (groups) I can filter by: the names of my roles."""
    return sorted(db.scalars(select(Role.name).where(Role.id.in_(role_ids or {""}))))


@bp.get("/", endpoint="index")
@login_required
def index():
    gov = current_app.extensions["govflow"]
    filters = InboxFilters.from_args(request.args)
    page_size = current_app.config["INBOX_PAGE_SIZE"]
    user = g.user
    now = gov.clock.now()
    user_groups = gov.acting_groups(user.username)
    with gov.db.read() as db:
        counts = tab_counts(db, user.username, set(user.roles), user_groups)
        rows, total = inbox_page(db, filters, user.username, set(user.roles), now, page_size, counts[filters.tab],
                                 user_groups)
        names = process_names(db)
        groups = group_names(db, set(user.roles))
    saved_views, share_targets = gov.inbox_views(user.username)
    pages = max(1, -(-total // page_size))
    return render_template("inbox/index.html", filters=filters, tabs=TABS, counts=counts, rows=rows, total=total,
                           pages=pages, page_size=page_size, process_names=names, groups=groups,
                           can_raise="change_control" in names, saved_views=saved_views, share_targets=share_targets,
                           view_query=filters.query_args(page=None))


@bp.post("/views", endpoint="save_view")
@login_required
def save_view():
    """Save the inbox's current filters under a name, for me or shared with one of my roles or groups."""
    gov = current_app.extensions["govflow"]
    query = InboxFilters.from_args(request.form).query_args(page=None)
    try:
        saved = gov.save_filter(g.user.username, request.form.get("view_name", ""), query,
                                request.form.get("share_with") or None)
    except FormInvalid as err:
        flash(" ".join(err.errors.values()), "info")
        return redirect(url_for("inbox.index", **query))
    shared = f", shared with {saved['shared_with_name']}" if saved["shared_with"] else ""
    flash(f"Your view ‘{saved['name']}’ was saved{shared}.", "success")
    return redirect(url_for("inbox.index", **saved["query"]))


@bp.get("/views/<int:view_id>", endpoint="view")
@login_required
def view(view_id: int):
    """Open a saved view (mine or shared with me): the inbox with its filters."""
    saved = current_app.extensions["govflow"].saved_filter(view_id, g.user.username)
    return redirect(url_for("inbox.index", **saved["query"]))


@bp.post("/views/<int:view_id>/delete", endpoint="delete_view")
@login_required
def delete_view(view_id: int):
    gov = current_app.extensions["govflow"]
    gov.delete_filter(view_id, g.user.username)
    flash("The saved view was deleted.", "success")
    return redirect(url_for("inbox.index"))
