"""The inbox: my tasks, my groups' unclaimed tasks and what I completed, filtered, sorted and paged in SQL."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.calendar import ENGLAND_AND_WALES
from engine.errors import FormInvalid, GovflowError
from engine.services.inbox import QUEUE, SORTS, InboxQuery

from .access import deny
from .auth import login_required
from .bounds import page_number
from .redirects import safe_target
from .display import LONDON, today

bp = Blueprint("inbox", __name__)

TABS = {"mine": "My tasks", "groups": "My groups", "completed": "Completed by me"}


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
        found.page = page_number(args)
        return found

    def query_args(self, **changes) -> dict:
        values = {"tab": self.tab, "process": self.process, "group": self.group,
                  "overdue": "1" if self.overdue else "", "due_before": self.due_before.isoformat()
                  if self.due_before else "", "q": self.text, "sort": self.sort,
                  "dir": "desc" if self.descending else "asc", "page": self.page}
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}

    def to_query(self, page_size: int, holder: str = "") -> InboxQuery:
        """The engine's query for these filters (a day picked in London is "due before its first moment")."""
        due_before = datetime.combine(self.due_before, time(0), tzinfo=LONDON) if self.due_before else None
        return InboxQuery(self.tab, self.process, self.group, self.overdue, due_before, self.text, self.sort,
                          self.descending, self.page, page_size, holder)


@bp.get("/", endpoint="index")
@login_required
def index():
    gov = current_app.extensions["govflow"]
    filters = InboxFilters.from_args(request.args)
    page_size = current_app.config["INBOX_PAGE_SIZE"]
    found = gov.inbox.page(g.user.username, filters.to_query(page_size))
    if "tab" not in request.args and not found.counts["mine"] and found.counts["groups"]:
        filters.tab = "groups"  # nothing of mine: what my groups wait for, rather than an empty list
        found = gov.inbox.page(g.user.username, filters.to_query(page_size))
    saved_views, share_targets = gov.inbox_views(g.user.username)
    pages = max(1, -(-found.total // page_size))
    return render_template("inbox/index.html", filters=filters, tabs=TABS, counts=found.counts, rows=found.rows,
                           total=found.total, pages=pages, page_size=page_size, process_names=found.process_names,
                           groups=found.groups, can_raise="change_control" in found.process_names,
                           saved_views=saved_views, share_targets=share_targets,
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


# --- the work queue: every open task, for whoever may reassign -------------------------------------------------------

@bp.get("/queue", endpoint="queue")
@login_required
def queue():
    """Every open task, filterable (process, group, holder, overdue, text), with its age and deadline, to claim or
    give to someone, one by one or several at once."""
    if not g.user.can_reassign:
        raise deny("Only the PMO or an admin sees the work queue.", attempted="work queue")
    gov = current_app.extensions["govflow"]
    filters = InboxFilters.from_args(request.args)
    filters.tab = QUEUE
    holder = request.args.get("holder", "").strip()[:80]
    page_size = current_app.config["INBOX_PAGE_SIZE"]
    found = gov.inbox.page(g.user.username, filters.to_query(page_size, holder))
    people = [p for p in gov.users() if p["active"]]
    names = {p["username"]: p["name"] for p in people}
    return render_template("inbox/queue.html", filters=filters, rows=found.rows, total=found.total,
                           pages=max(1, -(-found.total // page_size)), process_names=found.process_names,
                           groups=found.groups, people=people, names=names, holder=holder, today=today(),
                           working_days=ENGLAND_AND_WALES.working_days_between,
                           query_args=lambda **c: {**filters.query_args(tab=None, **c), "holder": holder or None})


@bp.post("/queue", endpoint="queue_act")
@login_required
def queue_act():
    """Claim the chosen tasks, or give them to one person; each one that cannot move is named with the reason."""
    if not g.user.can_reassign:
        raise deny("Only the PMO or an admin can reassign tasks.", attempted="reassign")
    gov = current_app.extensions["govflow"]
    chosen = request.form.getlist("task")[:200]
    action, target = request.form.get("action", ""), request.form.get("to", "").strip()
    if not chosen:
        flash("Choose at least one task.", "info")
    elif action == "assign" and not target:
        flash("Choose who should do the tasks.", "info")
    else:
        moved, refused = 0, []
        for task_id in chosen:
            try:
                if action == "claim":
                    gov.claim(task_id, g.user.username)
                else:
                    gov.runtime.reassign(task_id, g.user.username, target)
                moved += 1
            except GovflowError as err:
                refused.append(str(err))
        who = "you" if action == "claim" else next((p["name"] for p in gov.users() if p["username"] == target),
                                                   target)
        if moved:
            flash(f"{moved} task{'s' if moved != 1 else ''} now with {who}.", "success")
        if refused:
            flash("Not moved: " + "; ".join(refused[:10]), "info")
    back = safe_target(request.form.get("back"), url_for("inbox.queue"))
    return redirect(back if back.startswith("/queue") else url_for("inbox.queue"))
