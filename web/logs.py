"""The PMO's logs: decision log, action log and RAID log — searchable, exportable to CSV and .xlsx (the register's
exporters, web/manage.py and web/spreadsheet.py), editable by the PMO and admins (audited)."""
from __future__ import annotations

import csv
import io

from flask import Blueprint, Response, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import FormInvalid, GovflowError
from engine.services import logbook as logs  # the logs' columns, choices and query

from .access import deny
from .auth import login_required
from .display import LONDON
from .manage import _cell, _csv_safe, _xlsx_value

bp = Blueprint("logs", __name__, url_prefix="/logs")
LOGS = {"decisions": ("Decision log", logs.DECISION_COLUMNS), "actions": ("Action log", logs.ACTION_COLUMNS),
        "raid": ("RAID log", logs.RAID_COLUMNS)}
FORM_ORDER = {"actions": ("title", "group_id", "owner", "due_on", "status", "notes"),  # as logs/edit.html shows them
              "raid": ("type", "title", "description", "group_id", "owner", "rag", "mitigation", "status",
                       "escalation")}


def _gov():
    return current_app.extensions["govflow"]


def may_edit(user) -> bool:
    return user is not None and user.may("keep_logs")


@bp.before_request
@login_required
def _readers_only():
    if not g.user.may("read_logs"):
        raise deny("The logs are for the PMO, chairs, the SRO, the IPA, the Change Control Manager, Ofgem observers "
                   "and admins.", attempted="logs")
    return None


def _query(args) -> tuple[logs.LogQuery, dict]:
    values = {k: args.get(k, "").strip()[:200] for k in ("q", "group", "kind", "status")}
    return logs.LogQuery(text=values["q"] or None, group=values["group"] or None, kind=values["kind"] or None,
                         status=values["status"] or None), values


def _rows(name: str, q: logs.LogQuery) -> list[dict]:
    return _gov().logs.rows(name, q)


def _export(name: str, rows: list[dict], kind: str) -> Response:
    gov = _gov()
    title, columns = LOGS[name]
    headings, keys = [h for _k, h in columns], [k for k, _h in columns]
    now = gov.clock.now()
    stamp = now.astimezone(LONDON).strftime("%Y%m%d-%H%M")
    gov.logs.record_export(name, g.user.username, kind,  # an export is a disclosure: audited
                           {k: v for k, v in request.args.items() if k != "format"})
    filename = f"{name}-log-{stamp}.{kind}"
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headings)
        for row in rows:
            writer.writerow([_csv_safe(_cell(row.get(k))) for k in keys])
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    from .spreadsheet import write_xlsx
    content = write_xlsx(title, headings, ([_xlsx_value(row.get(k)) for k in keys] for row in rows))
    return Response(content, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/", endpoint="index")
def index():
    return redirect(url_for("logs.view", name="decisions"))


@bp.get("/<any(decisions, actions, raid):name>", endpoint="view")
def view(name: str):
    q, values = _query(request.args)
    rows = _rows(name, q)
    if request.args.get("format") in ("csv", "xlsx"):
        return _export(name, rows, request.args["format"])
    title, columns = LOGS[name]
    return render_template("logs/log.html", name=name, title=title, columns=columns, rows=rows, values=values,
                           may_edit=may_edit(g.user), logs=LOGS, raid_types=logs.RAID_TYPES, rags=logs.RAGS,
                           raid_statuses=logs.RAID_STATUSES, action_statuses=logs.ACTION_STATUSES)


@bp.get("/<any(actions, raid):name>/new", endpoint="new", defaults={"item_id": None})
@bp.get("/<any(actions, raid):name>/<int:item_id>", endpoint="edit")
def edit(name: str, item_id: int | None):
    if not may_edit(g.user):
        raise deny("Only the PMO or an admin can edit the logs.", attempted=f"edit {name} log")
    item = _gov().logs.entry(name, item_id) if item_id is not None else {}
    return render_template("logs/edit.html", name=name, title=LOGS[name][0], item=item, item_id=item_id, errors={},
                           summary=[],
                           raid_types=logs.RAID_TYPES, rags=logs.RAGS, raid_statuses=logs.RAID_STATUSES,
                           action_statuses=logs.ACTION_STATUSES)


@bp.post("/<any(actions, raid):name>/new", endpoint="create", defaults={"item_id": None})
@bp.post("/<any(actions, raid):name>/<int:item_id>", endpoint="save")
def save(name: str, item_id: int | None):
    if not may_edit(g.user):
        raise deny("Only the PMO or an admin can edit the logs.", attempted=f"edit {name} log")
    fields = logs.ACTION_FIELDS if name == "actions" else logs.RAID_FIELDS
    values = {k: request.form.get(k, "") for k in fields if k in request.form}
    gov = _gov()
    try:
        if name == "actions":
            saved = gov.logs.save_action(g.user.username, values, item_id)
        else:
            saved = gov.logs.save_raid(g.user.username, values, item_id)
    except FormInvalid as err:
        summary = [(k, err.errors[k]) for k in FORM_ORDER[name] if k in err.errors]  # in the page's order
        return render_template("logs/edit.html", name=name, title=LOGS[name][0], item=values, item_id=item_id,
                               errors=err.errors, summary=summary, raid_types=logs.RAID_TYPES, rags=logs.RAGS,
                               raid_statuses=logs.RAID_STATUSES, action_statuses=logs.ACTION_STATUSES), 422
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return redirect(url_for("logs.view", name=name))
    flash(f"{saved['reference']} was saved.", "success")
    return redirect(url_for("logs.view", name=name))


# --- the meeting calendar: usual and extraordinary meetings with their agendas --------------------------------------


@bp.get("/meetings", endpoint="meetings")
def meeting_list():
    from datetime import date, timedelta

    gov = _gov()
    group = request.args.get("group", "").strip()[:40] or None
    today = gov.clock.now().astimezone(LONDON).date()
    rows = gov.meetings.meetings(group, today - timedelta(days=31), None)
    return render_template("logs/meetings.html", rows=rows, group=group or "", may_edit=may_edit(g.user),
                           today=today, until=date(today.year + (today.month == 12), today.month % 12 + 1, 28),
                           logs=LOGS)


@bp.get("/meetings/<int:meeting_id>", endpoint="meeting")
def meeting_agenda(meeting_id: int):
    """One meeting's agenda: the items the processes placed on it, and what was decided on each."""
    from engine.services.meeting_calendar import ITEM_KINDS, KIND_WORDS
    return render_template("logs/meeting.html", meeting=_gov().meetings.meeting(meeting_id), logs=LOGS,
                           kind_words=KIND_WORDS, item_kinds=[(k, KIND_WORDS[k]) for k in ITEM_KINDS])


@bp.post("/meetings", endpoint="add_meeting")
def add_meeting():
    from datetime import date

    if not may_edit(g.user):
        raise deny("Only the PMO or an admin can add meetings.", attempted="add meeting")
    gov = _gov()
    group = request.form.get("group_id", "").strip()
    try:
        if request.form.get("kind") == "usual":
            made = gov.meetings.schedule_usual(date.fromisoformat(request.form.get("from", "")),
                                               date.fromisoformat(request.form.get("to", "")),
                                               by=g.user.username, group_id=group or None)
            flash(f"{len(made)} usual meeting{'s' if len(made) != 1 else ''} planned.", "success")
        else:
            made = gov.meetings.add_extraordinary(group, request.form.get("held_on", ""), g.user.username,
                                                  request.form.get("note", "").strip()[:500])
            flash(f"Extraordinary {group} meeting on {made['held_on'].isoformat()} added; papers due "
                  f"{made['papers_due_on'].isoformat()}.", "success")
    except ValueError:
        flash("Enter the dates as year-month-day, for example 2027-01-20.", "info")
    except GovflowError as err:
        if err.status == 403:
            raise
        flash(str(err), "info")
    return redirect(url_for("logs.meetings", group=group or None))
