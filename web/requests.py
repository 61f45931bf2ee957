"""Change requests: raise one (start a process with its start form), list mine, and read one's record."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from engine.services.attachments import size_text
from engine.errors import FormInvalid, NotFound
from engine.bpmn.forms import clean_submission
from engine.store.models import HumanTask, Instance

from . import attachments, instructions
from .access import deny, may_act_on, may_view_instance
from .auth import login_required, require_actor
from .form_parse import add_row, parse_form, remove_row
from .form_render import build_fields, error_summary
from .inbox import process_names

bp = Blueprint("requests", __name__, url_prefix="/requests")

RAISE_PROCESS = "change_control"
CONTROL_FIELDS = {"csrf_token", "_add", "_remove", "_action", attachments.CONTROL_FIELD}


def _gov():
    return current_app.extensions["govflow"]


def _start_form(process_id: str):
    """(compiled process, start form schema) of the latest version; 403 when my roles cannot start it."""
    gov = _gov()
    with gov.db.read() as db:
        version = gov.repository.latest(db, process_id)
        compiled = gov.repository.compiled(db, version.id)
    start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
    if start is not None and start.role_id and start.role_id not in g.user.roles:
        raise deny(f"Only a {start.lane} can start ‘{compiled.name}’.", attempted="start")
    return compiled, compiled.form_schema(compiled.start_form)


def _startable() -> list[tuple[str, str]]:
    """(process id, name) of the processes a person starts from a form."""
    gov = _gov()
    found = []
    with gov.db.read() as db:
        names = process_names(db)
        for process_id, name in sorted(names.items(), key=lambda kv: (kv[0] != RAISE_PROCESS, kv[1])):
            compiled = gov.repository.compiled(db, gov.repository.latest(db, process_id).id)
            start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
            if start is not None and (not start.role_id or start.role_id in g.user.roles):
                found.append((process_id, name))
    return found


@bp.get("/", endpoint="mine")
@login_required
def mine():
    """Mine (the ones I raised) or, with scope=all, every one I may read: all for staff, and for a participant
    theirs, those open to the industry and those they work on."""
    gov = _gov()
    try:
        page = max(1, min(int(request.args.get("page", "1")), 100_000))
    except ValueError:
        page = 1
    size = current_app.config["INBOX_PAGE_SIZE"]
    everything = request.args.get("scope") == "all"
    rows, total = gov.instances(g.user.username, "visible" if everything else "mine", page, size)
    with gov.db.read() as db:
        names = process_names(db)
    return render_template("requests/mine.html", rows=rows, total=total, page=page, everything=everything,
                           pages=max(1, -(-total // size)), process_names=names)


@bp.get("/new", endpoint="choose")
@login_required
def choose():
    require_actor()
    startable = _startable()
    if len(startable) == 1:
        return redirect(url_for("requests.new", process_id=startable[0][0]))
    return render_template("requests/choose.html", startable=startable)


@bp.route("/new/<process_id>", methods=["GET", "POST"], endpoint="new")
@login_required
def new(process_id: str):
    require_actor()
    compiled, schema = _start_form(process_id)
    def raise_it(data: dict):
        result = _gov().start(process_id, g.user.username, data)
        what = result.reference or data.get("title") or compiled.name
        flash(f"You raised ‘{what}’. It is with the {_next_holder(result.instance_id)} now.", "success")
        return redirect(url_for("requests.show", instance_id=result.instance_id))

    place = attachments.FormPlace(None, None, compiled.settings)
    raw, errors, status, done, uploads = _submitted_form(schema, raise_it, place)
    if done is not None:
        return done
    fields = build_fields(schema, raw, errors, uploads=uploads)
    start = next((e for e in compiled.elements.values() if e.kind == "start" and e.form), None)
    return render_template("requests/new.html", process_id=process_id, process_name=compiled.name, fields=fields,
                           heading=(schema or {}).get("title") or f"Start: {compiled.name}",
                           instructions=instructions.render(start.instructions if start else "", {}),
                           errors=errors, summary=error_summary(fields, errors) if errors else []), status


def _submitted_form(schema: dict, submit, place: attachments.FormPlace):
    """Handle a form POST: store its files, add/remove list rows or files, or parse, validate and `submit(data)`
    (its response is returned as `done`; the engine attaches the files the data names in the same transaction). Returns (raw input kept, errors per field, status,
    done, uploads) so the page re-renders with the user's input and files."""
    raw: dict[str, str] = {}
    errors: dict[str, str] = {}
    if request.method != "POST":
        return raw, errors, 200, None, attachments.uploads_for(schema, raw, place)
    raw = {k: v for k, v in request.form.to_dict().items() if k not in CONTROL_FIELDS}
    files = attachments.receive(schema, raw, place)  # stored first, so a form sent back keeps them
    status = 422 if files.errors else 200
    if request.form.get("_add"):
        return add_row(raw, request.form["_add"]), files.errors, status, None, files.uploads
    if request.form.get("_remove"):
        path, _, index = request.form["_remove"].rpartition(".")
        return (remove_row(raw, path, int(index)) if index.isdigit() else raw), files.errors, status, None, \
            files.uploads
    if files.detached and not files.errors:
        return raw, {}, 200, None, files.uploads
    parsed = parse_form(schema, raw, files.uploads.files)
    errors = {**parsed.errors, **files.errors}
    try:
        if errors:
            clean_submission(schema, parsed.data)  # adds the schema's own messages to the parser's
        else:
            return raw, errors, 200, submit(parsed.data), files.uploads
    except FormInvalid as err:
        for key, text in parsed.engine_errors(err.errors).items():
            errors.setdefault(key, text)
    return raw, errors, 422, None, files.uploads


def _next_holder(instance_id: int) -> str:
    with _gov().db.read() as db:
        lanes = sorted({lane or "team" for lane in db.scalars(select(HumanTask.lane).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "ready"))})
    return " and ".join(lanes) if lanes else "programme"


@bp.get("/<int:instance_id>", endpoint="show")
@login_required
def show(instance_id: int):
    gov = _gov()
    _visible(instance_id)
    record = gov.show(instance_id)
    open_tasks = [t for t in record["tasks"] if t["status"] == "ready"]
    actionable = {t["id"] for t in open_tasks if may_act_on(g.user, gov.task(t["id"]))}
    messages = [] if g.user.observer_only else gov.open_messages(instance_id, g.user.username)
    return render_template("requests/show.html", record=record, open_tasks=open_tasks, actionable=actionable,
                           process_name=process_names_for(record["process_id"]), notes=gov.comments(instance_id),
                           messages=messages, files=[{**f, "size_text": size_text(f["size"])}
                                                      for f in gov.attachments.of_instance(instance_id,
                                                                                           g.user.username)])


def _visible(instance_id: int) -> None:
    """404 for an unknown request, 403 (with an audit event) for one I may not read."""
    gov = _gov()
    with gov.db.read() as db:
        instance = db.get(Instance, instance_id)
        if instance is None:
            raise NotFound(f"There is no change request {instance_id}")
        reference = instance.reference
    if not may_view_instance(g.user, instance_id):
        raise deny(f"You cannot see {reference or 'this request'}: it is not yours, not open to the industry, "
                   "and you have no task on it.", instance_id=instance_id)


@bp.route("/<int:instance_id>/messages/<message>", methods=["GET", "POST"], endpoint="message")
@login_required
def message(instance_id: int, message: str):
    """Send a message the request is waiting for (a consultation response, a withdrawal) with its form."""
    require_actor()
    gov = _gov()
    _visible(instance_id)
    found = next((m for m in gov.open_messages(instance_id, g.user.username) if m["message"] == message), None)
    if found is None:
        record = gov.show(instance_id)
        if any(m["message"] == message for m in record["messages"]):
            raise deny(f"You cannot send ‘{message.replace('_', ' ')}’ to {record['reference'] or 'this request'}.",
                       instance_id=instance_id, attempted=message)
        abort(404, description="This request is not waiting for that now.")
    schema = found["schema"]
    def send_it(data: dict):
        result = gov.send_message(instance_id, message, g.user.username, data)
        flash(f"You sent ‘{found['title']}’ for {result.reference or 'the request'}.", "success")
        return redirect(url_for("requests.show", instance_id=instance_id))

    with gov.db.read() as db:
        settings = gov.repository.compiled(db, db.get(Instance, instance_id).process_version_id).settings
    raw, errors, status, done, uploads = _submitted_form(schema, send_it,
                                                         attachments.FormPlace(instance_id, None, settings))
    if done is not None:
        return done
    record = gov.show(instance_id)
    fields = build_fields(schema, raw, errors, uploads=uploads)
    return render_template("requests/message.html", record=record, found=found, fields=fields, errors=errors,
                           instructions=instructions.render(found.get("instructions") or "", record["data"]),
                           summary=error_summary(fields, errors) if errors else []), status


@bp.post("/<int:instance_id>/comments", endpoint="comment")
@login_required
def comment(instance_id: int):
    """Add a comment to a request, seen by everyone who can see the request."""
    require_actor()
    back = request.form.get("next", "")
    back = back if back.startswith("/") and not back.startswith("//") and "\\" not in back else \
        url_for("requests.show", instance_id=instance_id)
    try:
        _gov().add_comment(instance_id, g.user.username, request.form.get("comment", ""))
    except FormInvalid as err:
        flash(next(iter(err.errors.values())), "info")
        return redirect(back + "#comments")
    flash("Your comment was added.", "success")
    return redirect(back + "#comments")


def process_names_for(process_id: str) -> str:
    with _gov().db.read() as db:
        return process_names(db).get(process_id, process_id)
