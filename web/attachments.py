"""Files on forms, from the web's side: what a POST holds (the files the form keeps, the new uploads, the one a
"Remove" button takes off) for the engine's form commands, which store the uploads with the form's own command (or
keep them, pending, when the form comes back); downloads go only to those who may see the file; a request over the
size limit gets a page that says so."""
from __future__ import annotations

import io
from dataclasses import dataclass, field

from flask import Blueprint, Flask, current_app, g, render_template, request, send_file

from engine.services.attachments import limits_for, size_text

from .auth import login_required
from .form_fields import attachment_fields, file_ids, set_file_ids
from .form_parse import NewUpload
from .answers import PREVIEWABLE
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
class Posted:
    """A form POST's files: the ids each field keeps (those it may hold, less the one a Remove button took off),
    their descriptors, the new uploads (field path, file name, bytes) and the id Remove took off."""

    held: dict[str, list[int]]
    known: dict[int, dict]
    uploads: list[tuple[str, str, bytes]]
    detach: int | None
    settings: dict

    def counts(self) -> dict[str, int]:
        """How many files each field holds already (a field's limit counts them)."""
        return {path: len(ids) for path, ids in self.held.items()}

    def markers(self) -> dict[str, list[NewUpload]]:
        """The new uploads as they stand in the parsed data until the engine stores them."""
        found: dict[str, list[NewUpload]] = {}
        for n, (path, _name, _content) in enumerate(self.uploads):
            found.setdefault(path, []).append(NewUpload(n))
        return found

    def keep(self, raw: dict[str, str], stored: dict[str, list[dict]], path_of=None) -> Uploads:
        """Put the ids of the files the engine stored (by field) after the field's held ones in `raw` (mapping a
        data path to the page's with `path_of`); the files the form shows now."""
        known = dict(self.known)
        held = {path: list(ids) for path, ids in self.held.items()}
        for path, descriptors in stored.items():
            page_path = path_of(path) if path_of else path
            for found in descriptors:
                known[found["id"]] = found
                held.setdefault(page_path, []).append(found["id"])
        for path, ids in held.items():
            set_file_ids(raw, path, ids)
        return Uploads(known, dict(self.settings or {}))


def uploads_for(schema: dict | None, raw: dict[str, str], place: FormPlace) -> Uploads:
    """The files a form's raw input (a draft, a re-shown form) holds that it may still hold."""
    ids = [i for path, _prop in attachment_fields(schema, raw) for i in file_ids(raw, path)]
    files = _gov().attachments.usable(ids, g.user.username, instance_id=place.instance_id, task_id=place.task_id) \
        if ids else {}
    return Uploads(files, dict(place.settings or {}))


def posted(schema: dict | None, raw: dict[str, str], place: FormPlace) -> Posted:
    """Read this POST's files (changing `raw`): drop ids the form may not hold, take off the one a "Remove" button
    names, and read every new upload (at most one byte over its field's limit: the engine refuses it)."""
    known = dict(uploads_for(schema, raw, place).files)
    detach_path, _, detach_id = request.form.get(CONTROL_FIELD, "").rpartition(":")
    held: dict[str, list[int]] = {}
    uploads: list[tuple[str, str, bytes]] = []
    detach = None
    for path, prop in attachment_fields(schema, raw):
        ids = [i for i in file_ids(raw, path) if i in known]
        if detach_path == path and detach_id.isdigit() and int(detach_id) in ids:
            ids.remove(int(detach_id))
            detach = int(detach_id)
        held[path] = ids
        set_file_ids(raw, path, ids)
        limit = limits_for(prop, place.settings).max_bytes
        for upload in request.files.getlist(path):
            if upload and upload.filename:
                uploads.append((path, upload.filename, upload.stream.read(limit + 1)))
    return Posted(held, known, uploads, detach, dict(place.settings or {}))


def _gov():
    return current_app.extensions["govflow"]


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


@bp.get("/<int:attachment_id>/preview", endpoint="preview")
@login_required
def preview(attachment_id: int):
    """A PDF or an image shown in the browser (to whoever may download it); any other type comes as a download."""
    found, content = _gov().attachments.fetch(attachment_id, g.user.username)
    inline = found["type"] in PREVIEWABLE
    response = send_file(io.BytesIO(content), mimetype=found["type"], as_attachment=not inline,
                         download_name=found["name"], max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    # a sandboxed document cannot show Chromium's PDF viewer; a PDF gets no script, style or frame of ours either
    response.headers["Content-Security-Policy"] = "default-src 'none'" + ("" if found["type"] == "application/pdf"
                                                                         else "; sandbox")
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
