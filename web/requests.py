"""Change requests: raise one (start a process with its start form), list mine, and read one's record."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import Conflict, FormInvalid, NotFound
from engine.services.attachments import size_text
from engine.services.request_summary import WITHDRAWS_KEY

from . import answers, attachments, form_post, instructions, timeline
from .access import deny, may_act_on, may_view_instance
from .auth import login_required, require_actor
from .bounds import page_number
from .form_fields import to_raw, widget_of
from .form_render import build_fields, error_summary
from .redirects import safe_target

bp = Blueprint("requests", __name__, url_prefix="/requests")

RAISE_PROCESS = "change_control"
CONTROL_FIELDS = {"csrf_token", "_add", "_remove", "_action", "_change", attachments.CONTROL_FIELD}


def _gov():
    return current_app.extensions["govflow"]


def _startable() -> list[tuple[str, str]]:
    """(process id, name) of the processes a person starts from a form, change requests first."""
    found = _gov().forms.startable(g.user.username)
    return sorted(found, key=lambda pair: (pair[0] != RAISE_PROCESS, pair[1]))


@bp.get("/", endpoint="mine")
@login_required
def mine():
    """Mine (the ones I raised) or, with scope=all, every one I may read: all for staff, and for a participant
    theirs, those open to the industry and those they work on."""
    gov = _gov()
    page = page_number(request.args)
    size = current_app.config["INBOX_PAGE_SIZE"]
    everything = request.args.get("scope") == "all"
    rows, total = gov.instances(g.user.username, "visible" if everything else "mine", page, size)
    return render_template("requests/mine.html", rows=rows, total=total, page=page, everything=everything,
                           pages=max(1, -(-total // size)), process_names=gov.inbox.process_names())


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
    """The start form; its POST starts the process with the form's files in one command."""
    require_actor()
    gov = _gov()
    form = gov.forms.start_form(process_id, g.user.username)  # 403 (audited) when my roles cannot start it
    username = g.user.username
    place = attachments.FormPlace(None, None, form.settings)

    def send(data, files, _draft):
        result = gov.submissions.start(process_id, username, data, files)
        what = result.reference or data.get("title") or form.process_name
        flash(f"You raised ‘{what}’. It is with the {_next_holder(result.instance_id)} now.", "success")
        return redirect(url_for("requests.show", instance_id=result.instance_id))

    def keep(files, **what):
        return gov.submissions.keep(username, files, process_id=process_id, **what)

    change = None
    if request.method == "POST" and request.form.get("_action") == "change":  # back from checking the answers
        raw = {k: v for k, v in request.form.to_dict().items() if k not in CONTROL_FIELDS}
        errors, status, uploads = {}, 200, attachments.uploads_for(form.schema, raw, place)
        change = request.form.get("_change") or None
    elif request.method == "POST":
        posted = form_post.take(form.schema, place, CONTROL_FIELDS, send=send, keep=keep)
        if posted.done is not None:
            return posted.done
        if posted.checked is not None:  # check your answers: every answer, each with a way back to change it
            files = {i: {**f, "preview": False, "image": False} for i, f in posted.uploads.files.items()}
            return render_template("requests/check.html", process_id=process_id, process_name=form.process_name,
                                   heading=form.title, raw=posted.raw,
                                   rows=answers.rows(form.schema, posted.checked, files))
        raw, errors, status, uploads = posted.raw, posted.errors, posted.status, posted.uploads
    else:
        raw, errors, status, uploads = {}, {}, 200, attachments.uploads_for(form.schema, {}, place)
    fields = build_fields(form.schema, raw, errors, uploads=uploads)
    return render_template("requests/new.html", process_id=process_id, process_name=form.process_name,
                           fields=fields, change=next((f for f in fields if f.path == change), None),
                           heading=form.title, instructions=instructions.render(form.instructions, {}),
                           errors=errors, summary=error_summary(fields, errors) if errors else []), status


def _next_holder(instance_id: int) -> str:
    lanes = _gov().inbox.open_lanes(instance_id)
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
    summary = gov.summaries.of_instance(instance_id, g.user.username)
    for m in messages:  # what I sent before: shown as mine, and sending again replaces it
        sent = summary.last_sent(g.user.username, m["message"])
        m["mine"] = _mine(sent, summary) if sent else None
        m["withdraws"] = (m["schema"] or {}).get(WITHDRAWS_KEY)
    return render_template("requests/show.html", record=record, open_tasks=open_tasks, actionable=actionable,
                           parts=answers.parts(summary), names=summary.names,
                           timeline=timeline.moments(record["history"], summary.names, summary.element_names,
                                            summary.withdrawals),
                           process_name=process_names_for(record["process_id"]), notes=gov.comments(instance_id),
                           messages=messages, files=[{**f, "size_text": size_text(f["size"])}
                                                      for f in gov.attachments.of_instance(instance_id,
                                                                                           g.user.username)])


def _mine(sent, summary) -> answers.Part:
    """A message I sent, as a card."""
    return answers.Part(sent.title, answers.rows(sent.schema, sent.values, summary.files), sent.kind, g.user.name,
                        sent.at, sent.confidential)


def _again(schema: dict | None, values: dict) -> dict[str, str]:
    """A message form filled with what I sent before, its files left out (they stay with the earlier one)."""
    keep = {k: v for k, v in values.items() if widget_of(((schema or {}).get("properties") or {}).get(k) or {})
            != "attachments"}
    return to_raw(schema, keep)


def _visible(instance_id: int) -> None:
    """404 for an unknown request, 403 (with an audit event) for one I may not read."""
    found = _gov().instance_summary(instance_id)
    if found is None:
        raise NotFound(f"There is no change request {instance_id}")
    if not may_view_instance(g.user, instance_id):
        raise deny(f"You cannot see {found['reference'] or 'this request'}: it is not yours, not open to the "
                   "industry, and you have no task on it.", instance_id=instance_id)


@bp.route("/<int:instance_id>/messages/<message>", methods=["GET", "POST"], endpoint="message")
@login_required
def message(instance_id: int, message: str):
    """Send a message the request is waiting for (a consultation response, a withdrawal) with its form."""
    require_actor()
    gov = _gov()
    _visible(instance_id)
    found = gov.forms.message_form(instance_id, message, g.user.username)
    if found is None:
        record = gov.show(instance_id)
        if any(m["message"] == message for m in record["messages"]):
            raise deny(f"You cannot send ‘{message.replace('_', ' ')}’ to {record['reference'] or 'this request'}.",
                       instance_id=instance_id, attempted=message)
        closed = gov.closed_message_reason(instance_id, message)
        if closed:  # the diagram says why ("The consultation closed on …"): said on the request
            flash(closed, "error")
            return redirect(url_for("requests.show", instance_id=instance_id))
        abort(404, description="This request is not waiting for that now.")
    username = g.user.username
    place = attachments.FormPlace(instance_id, None, found.settings)

    def send(data, files, _draft):
        result = gov.submissions.send_message(instance_id, message, username, data, files)
        withdrawn = (found.schema or {}).get(WITHDRAWS_KEY)
        flash(f"You withdrew your {withdrawn.replace('_', ' ')} on {result.reference or 'the request'}."
              if withdrawn else f"You sent ‘{found.title}’ for {result.reference or 'the request'}.", "success")
        return redirect(url_for("requests.show", instance_id=instance_id))

    def keep(files, **what):
        return gov.submissions.keep(username, files, instance_id=instance_id, message=message, **what)

    if request.method == "POST":
        try:
            posted = form_post.take(found.schema, place, CONTROL_FIELDS, send=send, keep=keep)
        except Conflict as err:  # the process refused it (a window closed meanwhile): say why on the request
            flash(str(err), "error")
            return redirect(url_for("requests.show", instance_id=instance_id))
        if posted.done is not None:
            return posted.done
        raw, errors, status, uploads = posted.raw, posted.errors, posted.status, posted.uploads
    summary = gov.summaries.of_instance(instance_id, username)
    earlier = summary.last_sent(username, message)
    withdraws = (found.schema or {}).get(WITHDRAWS_KEY)
    withdrawing = summary.last_sent(username, withdraws) if withdraws else None
    if request.method != "POST":
        raw = _again(found.schema, earlier.values) if earlier else {}
        errors, status, uploads = {}, 200, attachments.uploads_for(found.schema, {}, place)
    record = gov.show(instance_id)
    fields = build_fields(found.schema, raw, errors, uploads=uploads)
    return render_template("requests/message.html", record=record, found=found, fields=fields, errors=errors,
                           parts=answers.parts(summary), earlier=earlier,
                           withdrawing=_mine(withdrawing, summary) if withdrawing else None,
                           instructions=instructions.render(found.instructions or "", record["data"]),
                           summary=error_summary(fields, errors) if errors else []), status


@bp.post("/<int:instance_id>/comments", endpoint="comment")
@login_required
def comment(instance_id: int):
    """Add a comment to a request, seen by everyone who can see the request."""
    require_actor()
    back = safe_target(request.form.get("next"), url_for("requests.show", instance_id=instance_id))
    text = request.form.get("comment", "")
    try:
        _gov().add_comment(instance_id, g.user.username, text)
    except FormInvalid as err:  # the comment comes back with its text and the reason, nothing lost
        return render_template("requests/comment.html", record=_gov().instance_summary(instance_id), text=text,
                               error=next(iter(err.errors.values())), back=back), 422
    flash("Your comment was added.", "success")
    return redirect(back + "#comments")


def process_names_for(process_id: str) -> str:
    return _gov().inbox.process_names().get(process_id, process_id)
