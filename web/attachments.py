"""Files on forms, from the web's side: each POST's uploads are stored at once (pending) so that a form sent back with
errors keeps them; "Remove" takes one off; downloads go only to those who may see the file; a request over the size
limit gets a page that says so."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, g, render_template, request, send_file

from engine.services.attachments import AttachmentRefused, limits_for, size_text

from .auth import login_required
from .form_fields import attachment_fields, file_ids, set_file_ids
from .form_render import Uploads, holds_files

bp = Blueprint("attachments", __name__, url_prefix="/attachments")

# The most one form POST may carry (all its files together); each file's own limit is in settings.yaml.
FORM_REQUEST_LIMIT = 50_000_000
FORM_ENDPOINTS = {"tasks.submit", "requests.new", "requests.message"}  # the pages whose forms take files
CONTROL_FIELD = "_detach"  # "path:id" of the file a "Remove" button takes off the form


@dataclass(frozen=True)
class FormPlace:
    """Where a form's files belong: a task of an instance, a message to an instance, or a new request (neither)."""

    instance_id: int | None = None
    task_id: str | None = None
    settings: dict = field(default_factory=dict)


@dataclass
class Received:
    """What a POST did to a form's files: the errors per field, the files it holds now, whether one was removed."""

    errors: dict[str, str]
    uploads: Uploads
    detached: bool = False


def _gov():
    return current_app.extensions["govflow"]


def uploads_for(schema: dict | None, raw: dict[str, str], place: FormPlace) -> Uploads:
    """The files a form's raw input (a draft, a re-shown form) holds that it may still hold."""
    ids = [i for path, _prop in attachment_fields(schema, raw) for i in file_ids(raw, path)]
    files = _gov().attachments.usable(ids, g.user.username, instance_id=place.instance_id, task_id=place.task_id) \
        if ids else {}
    return Uploads(files, dict(place.settings or {}))


def receive(schema: dict | None, raw: dict[str, str], place: FormPlace) -> Received:
    """Apply this POST to the form's files (changing `raw`): drop ids it may not hold, take off the one a "Remove"
    button names, then check and store every new upload. A refused file's message goes beside its field."""
    attachments = _gov().attachments
    username = g.user.username
    fields = attachment_fields(schema, raw)
    uploads = uploads_for(schema, raw, place)
    known = dict(uploads.files)
    detach_path, _, detach_id = request.form.get(CONTROL_FIELD, "").rpartition(":")
    errors: dict[str, str] = {}
    detached = False
    for path, prop in fields:
        held = [i for i in file_ids(raw, path) if i in known]
        if detach_path == path and detach_id.isdigit() and int(detach_id) in held:
            held.remove(int(detach_id))
            attachments.remove(int(detach_id), username, instance_id=place.instance_id, task_id=place.task_id)
            detached = True
        limits = limits_for(prop, place.settings)
        refused: list[str] = []
        for upload in request.files.getlist(path):
            if not upload or not upload.filename:
                continue
            content = upload.stream.read(limits.max_bytes + 1)
            try:
                stored = attachments.store(username, path, upload.filename, content, limits,
                                           instance_id=place.instance_id, task_id=place.task_id, already=len(held))
            except AttachmentRefused as err:
                refused.append(str(err))
                continue
            known[stored["id"]] = stored
            held.append(stored["id"])
        if refused:
            errors[path] = "; ".join(dict.fromkeys(refused))
        set_file_ids(raw, path, held)
    return Received(errors, Uploads(known, dict(place.settings or {})), detached)


@bp.get("/<int:attachment_id>", endpoint="download")
@login_required
def download(attachment_id: int):
    """The file, as a download with a safe name, to its uploader or to anyone who may see its request (403 and an
    audit event otherwise)."""
    found, content = _gov().attachments.fetch(attachment_id, g.user.username)
    response = send_file(io.BytesIO(content), mimetype=found["type"], as_attachment=True,
                         download_name=found["name"], max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the downloads, and let the form pages (only them) take FORM_UPLOAD_LIMIT bytes in one POST: the
    rest of the app keeps MAX_CONTENT_LENGTH. Runs before the CSRF check, which is the first to read the body."""
    app.config.setdefault("FORM_UPLOAD_LIMIT", FORM_REQUEST_LIMIT)
    app.register_blueprint(bp)
    app.jinja_env.globals["holds_files"] = holds_files
    app.before_request_funcs.setdefault(None, []).insert(0, _allow_form_files)


def _allow_form_files():
    if request.endpoint in FORM_ENDPOINTS:
        request.max_content_length = current_app.config["FORM_UPLOAD_LIMIT"]


@bp.app_errorhandler(413)
def too_large(_err):
    limit = request.max_content_length or current_app.config.get("FORM_UPLOAD_LIMIT") or FORM_REQUEST_LIMIT
    message = (f"What you sent adds up to more than {size_text(limit)}, the most one form can take at once, so "
               "none of it was saved. Go back and attach fewer or smaller files at a time: each file you attach is "
               "kept with the form while you fill in the rest, and a saved draft keeps them too.")
    return render_template("errors/error.html", status=413, title="The files you sent are too large",
                           message=message), 413
