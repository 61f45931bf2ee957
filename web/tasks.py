"""The task page: instructions, the change request's facts and history, and the task's form (claim, draft, submit)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import Conflict

from . import answers, attachments, form_post, instructions, timeline
from .access import deny, may_act_on
from .auth import login_required, require_actor
from .form_fields import to_raw, widget_of
from .form_render import build_fields, error_summary
from .redirects import safe_target

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

CONTROL_FIELDS = {"csrf_token", "_action", "_add", "_remove", attachments.CONTROL_FIELD}


def _gov():
    return current_app.extensions["govflow"]


def _load(task_id: str):
    """The task's form (the task, its schema, instructions and settings, whether I may act); 403 unless allowed to
    see."""
    user = g.user
    form = _gov().forms.task_form(task_id, user.username)
    task = form.task
    if not (user.observer_only or form.may_act):
        need = f"it is assigned to {task.assignee}" if task.assignee else f"it needs the {task.lane} role"
        raise deny(f"You cannot see '{task.name}': {need}.", instance_id=task.instance_id, task_id=task.id,
                   element_id=task.element_id)
    return form


def _prefill(schema: dict | None, facts: dict, answers: set[str]) -> dict[str, str]:
    """Start a form from the record: every field that is one of the request's own answers (`answers`: the start
    form's fields, whatever their kind: choices, yes/no, e-mail, dates, files, lists), and the text values of the
    rest (e.g. the title to fix) — never a past decision's choice."""
    if not schema:
        return {}
    keep = {name: facts[name] for name, prop in (schema.get("properties") or {}).items()
            if name in facts and isinstance(prop, dict)
            and (name in answers or
                 widget_of(prop) in ("text", "textarea", "list", "money", "number", "date", "iso-date"))}
    return to_raw(schema, keep)


def _place(form) -> attachments.FormPlace:
    """Where this task form's files belong: the task, on its instance, with its version's limits."""
    return attachments.FormPlace(form.instance_id, form.task.id, form.settings)


def _render(form, raw, errors, status=200, has_draft=False, uploads=None, record=None, task=None, summary=None):
    task = task or form.task
    record = record if record is not None else _gov().show(task.instance_id)
    if uploads is None:
        uploads = attachments.uploads_for(form.schema, raw, _place(form))
    fields = build_fields(form.schema, raw, errors, uploads=uploads)
    user = g.user
    can_act = task.status == "ready" and may_act_on(user, task) and task.claimed_by in (None, user.username)
    eligible_people = _eligible_people(task) if user.can_reassign and task.status == "ready" else []
    summary = summary or _gov().summaries.of_instance(task.instance_id, user.username)
    return render_template(
        "tasks/task.html", task=task, record=record, fields=fields, errors=errors,
        parts=answers.parts(summary), names=summary.names,
        timeline=timeline.moments(record["history"], summary.names, summary.element_names, summary.withdrawals),
        summary=error_summary(fields, errors) if errors else [],
        instructions=instructions.render(form.instructions, record["data"]),
        can_act=can_act, has_draft=has_draft, process_name=form.process_name,
        eligible_people=eligible_people, notes=_gov().comments(task.instance_id),
    ), status


@bp.get("/<task_id>", endpoint="show")
@login_required
def show(task_id: str):
    form = _load(task_id)
    record = _gov().show(form.instance_id)
    draft = form.draft
    summary = _gov().summaries.of_instance(form.instance_id, g.user.username)
    asked = set((summary.request.schema.get("properties") or {}) if summary.request else ())
    raw = draft if draft is not None else _prefill(form.schema, record["data"], asked)
    return _render(form, raw, {}, has_draft=draft is not None, record=record, summary=summary)


@bp.post("/<task_id>", endpoint="submit")
@login_required
def submit(task_id: str):
    """One POST of the form, one engine command: submit (the new files, the claim and the completion together),
    or keep it (a draft, a row added or removed, a file taken off); the form comes back with what was given."""
    require_actor()
    gov = _gov()
    form = _load(task_id)
    task = form.task
    if task.status != "ready":
        raise Conflict(f"'{task.name}' was already {task.status}" +
                       (f" by {task.completed_by}" if task.completed_by else ""))
    if task.claimed_by not in (None, g.user.username):  # refused before any file is stored
        raise deny(f"'{task.name}' is claimed by {task.claimed_by}", instance_id=task.instance_id, task_id=task.id,
                   element_id=task.element_id, attempted="complete")
    username = g.user.username

    def send(data, files, draft):
        return gov.submissions.submit(task_id, username, data, files, claim=True, draft=draft)

    def keep(files, **what):
        return gov.submissions.keep(username, files, task_id=task_id, **what)

    posted = form_post.take(form.schema, _place(form), CONTROL_FIELDS, send=send, keep=keep, drafts=True)
    if posted.done is not None:
        result = posted.done
        what = result.reference or task.title or f"instance {result.instance_id}"
        flash(f"You completed ‘{task.name}’ for {what}.", "success")
        if result.next_task_id:
            return redirect(url_for("tasks.show", task_id=result.next_task_id))
        return redirect(url_for("inbox.index"))
    if posted.draft_kept and not posted.errors:
        flash("Your draft was saved. Nobody else sees it; submit when you are ready.", "success")
        return redirect(url_for("tasks.show", task_id=task_id))
    return _render(form, posted.raw, posted.errors, posted.status, has_draft=posted.draft_kept,
                   uploads=posted.uploads, task=gov.task(task_id))


def _back(task_id: str):
    """Back to the page the form came from (`next`, a path on this site only), or the task."""
    return redirect(safe_target(request.form.get("next"), url_for("tasks.show", task_id=task_id)))


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


def _eligible_people(task) -> list[dict]:
    """Who may be given this task: the assignee, or the active holders of its lane's role."""
    return [p for p in _gov().users() if p["active"] and
            ((task.assignee and p["username"] == task.assignee) or
             (not task.assignee and task.role_id in p["roles"]))]


@bp.get("/<task_id>/reassign", endpoint="reassign_form")
@login_required
def reassign_form(task_id: str):
    """The PMO's and admins' page to give one task to someone (reachable whether or not they may do the task)."""
    require_actor()
    if not g.user.can_reassign:
        raise deny("Only a PMO or an admin can reassign tasks.", task_id=task_id, attempted="reassign")
    task = _gov().task(task_id)
    summary = _gov().summaries.of_instance(task.instance_id, g.user.username)
    return render_template("tasks/reassign.html", task=task, people=_eligible_people(task), names=summary.names,
                           record=_gov().instance_summary(task.instance_id))


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
    who = next((p["name"] for p in _gov().users() if p["username"] == target), target)
    flash(f"‘{task.name}’ is now with {who}.", "success")
    if may_act_on(g.user, _gov().task(task_id)) or g.user.observer_only:
        return redirect(url_for("tasks.show", task_id=task_id))
    return redirect(url_for("inbox.queue"))
