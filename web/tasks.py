"""The task page: instructions, the change request's facts and history, and the task's form (claim, draft, submit)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import Conflict, FormInvalid
from engine.bpmn.forms import clean_submission

from . import attachments, instructions
from .access import deny, may_act_on
from .auth import login_required, require_actor
from .form_fields import to_raw, widget_of
from .form_parse import add_row, parse_form, remove_row
from .form_render import build_fields, error_summary

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

CONTROL_FIELDS = {"csrf_token", "_action", "_add", "_remove", attachments.CONTROL_FIELD}


def _gov():
    return current_app.extensions["govflow"]


def _load(task_id: str, with_record: bool = True):
    """The task, its instance record (None unless asked for: a POST that completes does not need it), the form
    schema and the element's instructions; 403 unless allowed to see."""
    gov = _gov()
    user = g.user
    context = gov.task_context(task_id, user.username)
    task, compiled = context.task, context.compiled
    if not (user.observer_only or context.may_act):
        need = f"it is assigned to {task.assignee}" if task.assignee else f"it needs the {task.lane} role"
        raise deny(f"You cannot see '{task.name}': {need}.", instance_id=task.instance_id, task_id=task.id,
                   element_id=task.element_id)
    info = compiled.elements.get(task.element_id)
    form_path = (info.form if info else None)
    schema = compiled.form_schema(form_path)
    record = gov.show(task.instance_id) if with_record else None
    return task, record, schema, info, compiled


def _prefill(schema: dict | None, facts: dict) -> dict[str, str]:
    """Start a form from the record's current text values (e.g. the title to fix), never from past decisions."""
    if not schema:
        return {}
    keep = {name: facts[name] for name, prop in (schema.get("properties") or {}).items()
            if name in facts and isinstance(prop, dict)
            and widget_of(prop) in ("text", "textarea", "list", "money", "number", "date", "iso-date")}
    return to_raw(schema, keep)


def _place(task, compiled) -> attachments.FormPlace:
    """Where this task form's files belong: the task, on its instance, with its version's limits."""
    return attachments.FormPlace(task.instance_id, task.id, compiled.settings)


def _render(task, record, schema, info, compiled, raw, errors, status=200, has_draft=False, uploads=None):
    record = record if record is not None else _gov().show(task.instance_id)
    if uploads is None:
        uploads = attachments.uploads_for(schema, raw, _place(task, compiled))
    fields = build_fields(schema, raw, errors, uploads=uploads)
    user = g.user
    can_act = task.status == "ready" and may_act_on(user, task) and task.claimed_by in (None, user.username)
    eligible_people = []
    if user.can_reassign and task.status == "ready":
        eligible_people = [p for p in _gov().users() if p["active"] and
                           ((task.assignee and p["username"] == task.assignee) or
                            (not task.assignee and task.role_id in p["roles"]))]
    return render_template(
        "tasks/task.html", task=task, record=record, fields=fields, errors=errors,
        summary=error_summary(fields, errors) if errors else [],
        instructions=instructions.render(info.instructions if info else "", record["data"]),
        can_act=can_act, has_draft=has_draft, process_name=compiled.name,
        eligible_people=eligible_people, notes=_gov().comments(task.instance_id),
    ), status


@bp.get("/<task_id>", endpoint="show")
@login_required
def show(task_id: str):
    task, record, schema, info, compiled = _load(task_id)
    draft = _gov().draft(task_id, g.user.username) if task.status == "ready" else None
    raw = draft if draft is not None else _prefill(schema, record["data"])
    return _render(task, record, schema, info, compiled, raw, {}, has_draft=draft is not None)


@bp.post("/<task_id>", endpoint="submit")
@login_required
def submit(task_id: str):
    require_actor()
    gov = _gov()
    task, record, schema, info, compiled = _load(task_id, with_record=False)
    if task.status != "ready":
        raise Conflict(f"'{task.name}' was already {task.status}" +
                       (f" by {task.completed_by}" if task.completed_by else ""))
    raw = {k: v for k, v in request.form.to_dict().items() if k not in CONTROL_FIELDS}
    if task.claimed_by not in (None, g.user.username):  # refused before any file is stored
        raise deny(f"'{task.name}' is claimed by {task.claimed_by}", instance_id=task.instance_id, task_id=task.id,
                   element_id=task.element_id, attempted="complete")
    files = attachments.receive(schema, raw, _place(task, compiled))  # stored first: nothing uploaded is lost
    if request.form.get("_add"):
        raw = add_row(raw, request.form["_add"])
        return _render(task, record, schema, info, compiled, raw, files.errors, 422 if files.errors else 200,
                       uploads=files.uploads)
    if request.form.get("_remove"):
        path, _, index = request.form["_remove"].rpartition(".")
        if index.isdigit():
            raw = remove_row(raw, path, int(index))
        return _render(task, record, schema, info, compiled, raw, files.errors, 422 if files.errors else 200,
                       uploads=files.uploads)
    if files.detached and not files.errors:
        return _render(task, record, schema, info, compiled, raw, {}, uploads=files.uploads)
    if task.claimed_by is None:
        gov.claim(task_id, g.user.username)  # first save claims it, so the group sees it is taken
        task = gov.task(task_id)
    if request.form.get("_action") == "draft":
        try:
            gov.save_draft(task_id, g.user.username, raw)
        except FormInvalid as err:
            return _render(task, record, schema, info, compiled, raw, {"": next(iter(err.errors.values()))}, 422,
                           uploads=files.uploads)
        if files.errors:  # the draft keeps everything else; the refused files are explained beside their field
            return _render(task, record, schema, info, compiled, raw, files.errors, 422, has_draft=True,
                           uploads=files.uploads)
        flash("Your draft was saved. Nobody else sees it; submit when you are ready.", "success")
        return redirect(url_for("tasks.show", task_id=task_id))
    parsed = parse_form(schema, raw, files.uploads.files)
    if parsed.errors or files.errors:
        errors = {**parsed.errors, **files.errors}
        try:
            clean_submission(schema, parsed.data)
        except FormInvalid as err:
            for key, message in parsed.engine_errors(err.errors).items():
                errors.setdefault(key, message)
        return _render(task, record, schema, info, compiled, raw, errors, 422, uploads=files.uploads)
    try:
        result = gov.complete(task_id, g.user.username, parsed.data)
    except FormInvalid as err:
        return _render(task, record, schema, info, compiled, raw, parsed.engine_errors(err.errors), 422,
                       uploads=files.uploads)
    what = result.reference or task.title or f"instance {result.instance_id}"
    flash(f"You completed ‘{task.name}’ for {what}.", "success")
    if result.next_task_id:
        return redirect(url_for("tasks.show", task_id=result.next_task_id))
    return redirect(url_for("inbox.index"))


def _back(task_id: str):
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return redirect(target)
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<task_id>/claim", endpoint="claim")
@login_required
def claim(task_id: str):
    require_actor()
    task = _gov().task(task_id)
    _gov().claim(task_id, g.user.username)
    flash(f"You claimed ‘{task.name}’. Others in the group now see it is yours.", "success")
    return _back(task_id)


@bp.post("/<task_id>/unclaim", endpoint="unclaim")
@login_required
def unclaim(task_id: str):
    require_actor()
    task = _gov().task(task_id)
    _gov().unclaim(task_id, g.user.username)
    _gov().discard_draft(task_id, g.user.username)
    flash(f"You released ‘{task.name}’ back to the group.", "success")
    return _back(task_id) if request.form.get("next") else redirect(url_for("inbox.index"))


@bp.post("/<task_id>/reassign", endpoint="reassign")
@login_required
def reassign(task_id: str):
    require_actor()
    if not g.user.can_reassign:
        raise deny("Only a PMO or an admin can reassign tasks.", task_id=task_id, attempted="reassign")
    target = request.form.get("to", "").strip()
    if not target:
        abort(400, description="Choose who should do the task.")
    task = _gov().task(task_id)
    _gov().runtime.reassign(task_id, g.user.username, target)
    flash(f"‘{task.name}’ is now with {target}.", "success")
    return redirect(url_for("tasks.show", task_id=task_id))
