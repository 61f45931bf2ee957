"""The secretariat's meeting page actions: add, order and remove agenda items, mark the meeting held, and record the
group's decision on an item at the meeting (the item's decision task, completed through the engine's services with
the policy: whoever may keep the logs). The page itself is web/logs.py's `logs.meeting`."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import FormInvalid, GovflowError

from . import instructions
from .access import deny
from .auth import login_required
from .form_parse import parse_form
from .form_render import build_fields, error_summary

bp = Blueprint("agendas", __name__, url_prefix="/logs/meetings/<int:meeting_id>")


def _gov():
    return current_app.extensions["govflow"]


@bp.before_request
@login_required
def _secretariat_only():
    if not g.user.may("keep_logs"):
        raise deny("Only the PMO or an admin can change a meeting's agenda or record its decisions.",
                   attempted="meeting secretariat")
    return None


def _back(meeting_id: int, anchor: str = "agenda"):
    return redirect(url_for("logs.meeting", meeting_id=meeting_id) + f"#{anchor}")


def _attempt(meeting_id: int, action, done: str):
    """Run one agenda command; its refusal or problem is shown on the meeting page (a 403 stays a 403)."""
    try:
        action()
    except GovflowError as err:
        if err.status in (403,):
            raise
        flash(str(err), "info")
    else:
        flash(done, "success")
    return _back(meeting_id)


@bp.post("/items", endpoint="add")
def add(meeting_id: int):
    kind = request.form.get("kind", "").strip()
    reference = request.form.get("reference", "").strip()[:40]
    title = request.form.get("title", "").strip()[:300]
    return _attempt(meeting_id, lambda: _gov().meetings.add_item(meeting_id, g.user.username, kind, reference, title),
                    f"{reference or title} was added to the agenda.")


@bp.post("/items/<int:item_id>/move", endpoint="move")
def move(meeting_id: int, item_id: int):
    try:
        position = int(request.form.get("position", ""))
    except ValueError:
        flash("Choose where to move the item.", "info")
        return _back(meeting_id)
    return _attempt(meeting_id, lambda: _gov().meetings.move_item(meeting_id, item_id, position, g.user.username),
                    f"The item is now number {position} on the agenda.")


@bp.post("/items/<int:item_id>/remove", endpoint="remove")
def remove(meeting_id: int, item_id: int):
    return _attempt(meeting_id, lambda: _gov().meetings.remove_item(meeting_id, item_id, g.user.username),
                    "The item was taken off the agenda.")


@bp.post("/held", endpoint="held")
def held(meeting_id: int):
    return _attempt(meeting_id, lambda: _gov().meetings.mark_held(meeting_id, g.user.username),
                    "The meeting is marked held: record the group's decision on each item.")


def _decision_page(meeting_id: int, item_id: int, raw: dict, errors: dict, status: int = 200):
    gov = _gov()
    task_id = gov.meetings.decision_task(meeting_id, item_id, g.user.username)
    form = gov.forms.task_form(task_id, g.user.username)
    record = gov.show(form.instance_id)
    fields = build_fields(form.schema, raw, errors)
    return render_template("logs/meeting_decision.html", meeting=gov.meetings.meeting(meeting_id), item_id=item_id,
                           task=form.task, record=record, fields=fields, errors=errors,
                           summary=error_summary(fields, errors) if errors else [],
                           instructions=instructions.render(form.instructions, record["data"])), status


@bp.get("/items/<int:item_id>/decision", endpoint="decision")
def decision(meeting_id: int, item_id: int):
    try:
        return _decision_page(meeting_id, item_id, {}, {})
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return _back(meeting_id)


@bp.post("/items/<int:item_id>/decision", endpoint="record")
def record(meeting_id: int, item_id: int):
    gov = _gov()
    raw = {k: v for k, v in request.form.to_dict().items() if k != "csrf_token"}
    try:
        task_id = gov.meetings.decision_task(meeting_id, item_id, g.user.username)
        schema = gov.forms.task_form(task_id, g.user.username).schema
        parsed = parse_form(schema, raw)
        if parsed.errors:
            return _decision_page(meeting_id, item_id, raw, parsed.errors, 422)
        result = gov.meetings.record_decision(meeting_id, item_id, g.user.username, parsed.data)
    except FormInvalid as err:
        return _decision_page(meeting_id, item_id, raw, err.errors, 422)
    except GovflowError as err:
        if err.status in (403, 404):
            raise
        flash(str(err), "info")
        return _back(meeting_id)
    flash(f"The decision on {result.reference or 'the item'} is recorded: it is now {result.state}.", "success")
    return _back(meeting_id, f"item-{item_id}")
