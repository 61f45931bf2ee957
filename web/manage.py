"""Managers' views: the dashboard, the change-request register (filters, exports), an instance's live diagram and
record with administrative actions, and a process version's heatmap. Programme managers only."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime

from flask import (Blueprint, Response, current_app, flash, g, redirect, render_template, request,
                   stream_with_context, url_for)

from engine.errors import GovflowError, NotFound
from engine.governance import register  # the register's query, columns and view keys
from engine.services import metrics  # the dashboard's filters
from engine.services.admin import ReasonMissing

from . import answers, timeline
from .access import deny
from .auth import login_required
from .bounds import page_number, whole_number
from .display import LONDON

bp = Blueprint("manage", __name__, url_prefix="/manage")

PAGE_SIZES = (25, 50, 100, 200)


def _gov():
    return current_app.extensions["govflow"]


def is_manager(user) -> bool:
    return user is not None and user.may("manage")


def shows_admin_actions(user) -> bool:
    return user.may("administer")


@bp.before_request
@login_required
def _managers_only():
    if not is_manager(g.user):
        raise deny("The management pages are for the SRO, PMO, IPA, Ofgem observers, the Change Control Manager "
                   "and admins. Your own requests are under ‘My change requests’.", attempted="manage")
    return None


# --- reading filters ----------------------------------------------------------------------------------------------


def _date(args, key: str, problems: dict) -> date | None:
    raw = args.get(key, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems[key] = "Enter the date as year-month-day, for example 2026-12-31"
        return None


def _text(args, key: str, limit: int = 120) -> str | None:
    value = args.get(key, "").strip()[:limit]
    return value or None


def metric_filters(args) -> tuple[metrics.MetricFilters, dict, dict]:
    problems: dict[str, str] = {}
    since, until = metrics.end_of_day_range(_date(args, "from", problems), _date(args, "to", problems))
    f = metrics.MetricFilters(process_id=_text(args, "process"), group=_text(args, "group"), since=since, until=until)
    values = {k: args.get(k, "") for k in ("process", "group", "from", "to")}
    return f, values, problems


def register_query(args) -> tuple[register.RegisterQuery, dict, dict]:
    problems: dict[str, str] = {}
    started_from, started_to = metrics.end_of_day_range(_date(args, "started_from", problems),
                                                        _date(args, "started_to", problems))
    ended_from, ended_to = metrics.end_of_day_range(_date(args, "ended_from", problems),
                                                    _date(args, "ended_to", problems))
    page = page_number(args)
    size = whole_number(args, "size", 50, min(PAGE_SIZES), max(PAGE_SIZES))
    size = size if size in PAGE_SIZES else 50
    sort = args.get("sort") if args.get("sort") in register.SORTS else "started"
    q = register.RegisterQuery(
        process_id=_text(args, "process"), state=_text(args, "state"), status=_text(args, "status", 20),
        group=_text(args, "group"), organisation=_text(args, "organisation", 200),
        constituency=_text(args, "constituency"), started_from=started_from, started_to=started_to,
        ended_from=ended_from, ended_to=ended_to, overdue=args.get("overdue") == "1", text=_text(args, "q", 200),
        sort=sort, descending=args.get("dir", "desc") != "asc", page=page, page_size=size)
    keys = ("process", "state", "status", "group", "organisation", "constituency", "started_from", "started_to",
            "ended_from", "ended_to", "overdue", "q", "sort", "dir", "size")
    values = {k: args.get(k, "") for k in keys}
    return q, values, problems


# --- dashboard ----------------------------------------------------------------------------------------------------


@bp.get("/", endpoint="dashboard")
def dashboard():
    gov = _gov()
    f, values, problems = metric_filters(request.args)
    figures = gov.metrics.dashboard(f)
    names = gov.inbox.process_names()
    choices = gov.register.choices()
    versions = gov.metrics.versions()
    charts = {
        "throughput": {"labels": [m["month"] for m in figures["throughput"]],
                       "started": [m["started"] for m in figures["throughput"]],
                       "completed": [m["completed"] for m in figures["throughput"]]},
        "stages": {"labels": [s["name"] for s in figures["stages"]],
                   "median": [round(s["median"], 2) if s["median"] is not None else None for s in figures["stages"]],
                   "p90": [round(s["p90"], 2) if s["p90"] is not None else None for s in figures["stages"]]},
        "overdue": {"labels": [r["group"] for r in figures["overdue"]["by_group"]],
                    "counts": [r["count"] for r in figures["overdue"]["by_group"]]},
    }
    return render_template("manage/dashboard.html", figures=figures, values=values, problems=problems,
                           process_names=names, choices=choices, versions=versions,
                           open_incidents=len(gov.incidents()),
                           charts_json=json.dumps(charts))


# --- incidents ----------------------------------------------------------------------------------------------------


@bp.get("/incidents", endpoint="incidents")
def incidents():
    """What the system found wrong (stranded instances, failing timers, tasks created overdue, effects not
    delivered): open ones first, then the most recently closed."""
    gov = _gov()
    rows = gov.incidents(include_closed=True)
    open_rows = [i for i in rows if i["resolved_at"] is None]
    closed = [i for i in rows if i["resolved_at"] is not None][:50]
    return render_template("manage/incidents.html", open_rows=open_rows, closed=closed,
                           admin=shows_admin_actions(g.user))


@bp.post("/incidents/<int:incident_id>/resolve", endpoint="resolve_incident")
def resolve_incident(incident_id: int):
    if not shows_admin_actions(g.user):
        raise deny("Only an admin, the PMO, the SRO or the Change Control Manager can close an incident",
                   attempted="incident.resolved")
    try:
        _gov().resolve_incident(incident_id, g.user.username, request.form.get("reason", ""))
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return redirect(url_for("manage.incidents") + f"#incident-{incident_id}")
    flash(f"Incident {incident_id} is closed.", "success")
    return redirect(url_for("manage.incidents"))


# --- the register -------------------------------------------------------------------------------------------------


@bp.get("/instances", endpoint="instances")
def instances():
    gov = _gov()
    q, values, problems = register_query(request.args)
    export = request.args.get("format")
    if export in ("csv", "xlsx"):
        return _export(q, export)
    rows, total = gov.register.page(q)
    choices = gov.register.choices()
    names = gov.inbox.process_names()
    views = gov.register.views_for(g.user.username)
    pages = max(1, -(-total // q.page_size))
    return render_template("manage/instances.html", rows=rows, total=total, q=q, pages=pages, values=values,
                           views=views, may_save=not g.user.observer_only,
                           problems=problems, choices=choices, process_names=names,
                           statuses=("running", "suspended", "completed", "terminated"),
                           sorts=[("started", "Raised"), ("updated", "Last changed"), ("ended", "Closed"),
                                  ("reference", "Number"), ("title", "Title"), ("state", "State"),
                                  ("process", "Process")])


@bp.post("/views", endpoint="save_view")
def save_view():
    if g.user.observer_only:
        raise deny("Observers can read but not save views.", attempted="save view")
    gov = _gov()
    query = {k: v for k, v in request.form.items() if k in register.VIEW_KEYS}
    try:
        gov.register.save_view(g.user.username, request.form.get("name", ""), query, request.form.get("shared") == "1")
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err).split(": ", 1)[-1], "info")
        return redirect(url_for("manage.instances", **query))
    flash("The view was saved.", "success")
    return redirect(url_for("manage.instances", **query))


@bp.post("/views/<int:view_id>/delete", endpoint="delete_view")
def delete_view(view_id: int):
    _gov().register.delete_view(g.user.username, view_id)
    flash("The view was deleted.", "success")
    return redirect(url_for("manage.instances"))


def _cell(value):
    if isinstance(value, datetime):
        return value.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    return value


def _export(q: register.RegisterQuery, kind: str) -> Response:
    gov = _gov()
    now = gov.clock.now()
    headings = [h for _k, h in register.COLUMNS]
    keys = [k for k, _h in register.COLUMNS]
    stamp = now.astimezone(LONDON).strftime("%Y%m%d-%H%M")
    # an export of the register is a disclosure: audited now, the rows read as they are written out
    found = gov.register.export(q, g.user.username, kind,
                                {k: v for k, v in request.args.items() if k != "format"})
    if kind == "csv":
        def generate():
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(headings)
            for n, row in enumerate(found, 1):
                writer.writerow([_csv_safe(_cell(row[k])) for k in keys])
                if n % 500 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        return Response(stream_with_context(generate()), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="cr-register-{stamp}.csv"'})
    from .spreadsheet import write_xlsx
    content = write_xlsx("CR register", headings, ([_xlsx_value(row[k]) for k in keys] for row in found))
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="cr-register-{stamp}.xlsx"'})


def _csv_safe(value):
    """Text that a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _xlsx_value(value):
    if isinstance(value, datetime):
        return value.astimezone(LONDON).replace(tzinfo=None)
    return _csv_safe(value)


# --- one instance -------------------------------------------------------------------------------------------------


@bp.get("/instances/<int:instance_id>", endpoint="instance")
def instance(instance_id: int):
    gov = _gov()
    record = gov.show(instance_id)
    trail = gov.trails.trail(instance_id)
    names = gov.inbox.process_names()
    failed_timers = gov.admin.timers(instance_id, status="failed")
    version = gov.library.version_summary(record["version_id"])
    move_window = gov.admin.move_window(record["version_id"])
    admin = shows_admin_actions(g.user)
    targets = gov.admin.move_targets(instance_id) if admin and record["status"] == "running" else []
    summary = gov.summaries.of_instance(instance_id, g.user.username)
    return render_template("manage/instance.html", record=record, trail=trail, process_name=names.get(
        record["process_id"], record["process_id"]), admin=admin, targets=targets, failed_timers=failed_timers,
        move_window=move_window, version=version, parts=answers.parts(summary), people=summary.names,
        timeline=timeline.moments(record["history"], summary.names, summary.element_names, summary.withdrawals),
        technical=admin, diagram_json=json.dumps({
            "url": url_for("manage.diagram", version_id=record["version_id"]), **trail.as_dict()}))


@bp.get("/versions/<int:version_id>/diagram.bpmn", endpoint="diagram")
def diagram(version_id: int):
    return Response(_gov().trails.bpmn(version_id), mimetype="application/xml")


ACTIONS = {"suspend": "suspended", "resume": "resumed", "terminate": "terminated"}


@bp.post("/instances/<int:instance_id>/<any(suspend, resume, terminate):action>", endpoint="act")
def act(instance_id: int, action: str):
    admin = _admin_or_403(instance_id, action)
    reason = request.form.get("reason", "").strip()
    if action == "terminate" and (request.form.get("confirmed") != "yes" or not reason):
        # terminating cannot be undone: say what ends, and take the reason, before doing it
        record = _gov().show(instance_id)
        problem = "Say why you are terminating it" if request.form.get("confirmed") == "yes" else None
        return render_template("manage/terminate.html", record=record, reason=reason, problem=problem,
                               open_tasks=[t for t in record["tasks"] if t["status"] in ("ready", "suspended")]), \
            422 if problem else 200
    try:
        getattr(admin, action)(instance_id, g.user.username, request.form.get("reason", ""))
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return redirect(url_for("manage.instance", instance_id=instance_id) + "#admin")
    flash(f"The instance was {ACTIONS[action]}.", "success")
    return redirect(url_for("manage.instance", instance_id=instance_id))


@bp.post("/instances/<int:instance_id>/timers/<int:timer_id>/retry", endpoint="retry")
def retry(instance_id: int, timer_id: int):
    admin = _admin_or_403(instance_id, "retry")
    if timer_id not in {t["id"] for t in admin.timers(instance_id)}:
        raise NotFound(f"There is no timer {timer_id} on this instance")
    try:
        admin.retry_timer(timer_id, g.user.username, request.form.get("reason", ""))
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return redirect(url_for("manage.instance", instance_id=instance_id) + "#admin")
    flash("The timer will be tried again at the next scheduler run.", "success")
    return redirect(url_for("manage.instance", instance_id=instance_id))


@bp.get("/instances/<int:instance_id>/move", endpoint="move_confirm")
def move_confirm(instance_id: int):
    """Confirm moving the token back to one earlier task: what reopens, what is cancelled, and a reason."""
    admin = _admin_or_403(instance_id, "move")
    target = _move_target(admin, instance_id, request.args.get("task", ""))
    if target is None or not target.available:
        flash(target.why_not if target else "That task cannot be reopened; choose one of those offered.", "info")
        return redirect(url_for("manage.instance", instance_id=instance_id) + "#move-heading")
    return _move_page(instance_id, target)


@bp.post("/instances/<int:instance_id>/move", endpoint="move")
def move(instance_id: int):
    admin = _admin_or_403(instance_id, "move")
    task_id, reason = request.form.get("task_id", ""), request.form.get("reason", "")
    try:
        admin.move_back(instance_id, task_id, g.user.username, reason)
    except ReasonMissing as err:
        target = _move_target(admin, instance_id, task_id)
        if target is not None and target.available:
            return _move_page(instance_id, target, problem=str(err), reason=reason), 422
        flash(str(err), "info")
        return redirect(url_for("manage.instance", instance_id=instance_id) + "#move-heading")
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return redirect(url_for("manage.instance", instance_id=instance_id) + "#move-heading")
    flash("The token was moved back; the earlier task is open again.", "success")
    return redirect(url_for("manage.instance", instance_id=instance_id))


def _move_target(admin, instance_id: int, task_id: str):
    return next((t for t in admin.move_targets(instance_id) if t.task_id == task_id), None)


def _move_page(instance_id: int, target, problem: str | None = None, reason: str = ""):
    record = _gov().show(instance_id)
    open_tasks = [t for t in record["tasks"] if t["status"] == "ready"]
    return render_template("manage/move.html", record=record, target=target, open_tasks=open_tasks,
                           problem=problem, reason=reason)


def _admin_or_403(instance_id: int, attempted: str):
    if not shows_admin_actions(g.user):
        raise deny("Administrative actions are for an admin, the PMO, the SRO or the Change Control Manager.",
                   instance_id=instance_id, attempted=attempted)
    return _gov().admin


# --- heatmap ------------------------------------------------------------------------------------------------------


@bp.get("/versions/<int:version_id>/heatmap", endpoint="heatmap")
def heatmap(version_id: int):
    found = _gov().metrics.heatmap(version_id)
    version, cells, instances, names = found["version"], found["cells"], found["instances"], found["names"]
    rows = sorted(({"element_id": k, "name": names.get(k, k), **v} for k, v in cells.items()),
                  key=lambda r: (-r["passed"], r["element_id"]))
    return render_template("manage/heatmap.html", version=version, rows=rows, instances=instances,
                           heatmap_json=json.dumps({"url": url_for("manage.diagram", version_id=version_id),
                                                    "cells": cells, "instances": instances}))


@bp.app_template_global("is_manager")
def _is_manager_global() -> bool:
    return is_manager(g.get("user"))


@bp.app_template_filter("days")
def _days(value) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}"


@bp.app_template_filter("share")
def _share(value) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"

