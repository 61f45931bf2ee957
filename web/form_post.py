"""One form POST, from the page's side: the input read (fields and files), then one engine command for what the
person asked — send the form (its new files, the claim and the completion in one transaction) or keep it without
sending (a draft, a list row added or removed, a file taken off). When the form comes back, it holds the person's
input and files and a message per field: bad input loses nothing."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from flask import request

from engine.services.forms_view import form_errors
from engine.services.submission import FormInvalidKept, Kept

from . import attachments
from .display import today
from .form_parse import add_row, parse_form, remove_row
from .form_render import Uploads

# send(data, files, draft) → the command's result; files are (data path, name, bytes); draft makes the draft kept
# when the input does not pass (None: none)
Send = Callable[[dict, list, Any], Any]
# keep(files, held=..., remove=..., draft=..., claim=...) → Kept
Keep = Callable[..., Kept]


@dataclass
class FormPost:
    """Where a POST got to: the input to show again, the message per field, the files the form holds, the status;
    `done` is the command's result when the form was sent, `draft_kept` whether it was kept as a draft."""

    raw: dict[str, str]
    errors: dict[str, str]
    uploads: Uploads
    status: int = 200
    done: Any = None
    draft_kept: bool = False
    checked: dict | None = None  # the answers to confirm (the input passed; nothing was sent)


def take(schema: dict | None, place: attachments.FormPlace, control_fields: set[str], *, send: Send, keep: Keep,
         drafts: bool = False) -> FormPost:
    """Handle this POST of a form. `drafts`: the form is a task's, with a draft and a claim to keep. `_action=check`
    sends nothing: input that passes comes back as `checked` (its new files kept with the form) to be confirmed."""
    raw = {k: v for k, v in request.form.to_dict().items() if k not in control_fields}
    files = attachments.posted(schema, raw, place)

    def with_files(path_of=None) -> Callable[[dict], dict]:
        def draft(stored: dict) -> dict:
            answers = dict(raw)
            files.keep(answers, stored, path_of)
            return answers
        return draft

    add, remove = request.form.get("_add"), request.form.get("_remove")
    if add or remove or files.detach is not None:
        kept = keep(files.uploads, held=files.counts(), remove=[files.detach] if files.detach else [])
        uploads = files.keep(raw, kept.files)
        status = 422 if kept.refused else 200
        if add:
            return FormPost(add_row(raw, add), kept.refused, uploads, status)
        if remove:
            path, _, index = remove.rpartition(".")
            return FormPost(remove_row(raw, path, int(index)) if index.isdigit() else raw, kept.refused, uploads,
                            status)
        return FormPost(raw, {}, uploads) if not kept.refused else _invalid(schema, raw, uploads, kept.refused)
    if drafts and request.form.get("_action") == "draft":
        kept = keep(files.uploads, held=files.counts(), draft=with_files(), claim=True)
        uploads = files.keep(raw, kept.files)
        if kept.draft_error:
            return FormPost(raw, {"": kept.draft_error}, uploads, 422)
        return FormPost(raw, kept.refused, uploads, 422 if kept.refused else 200, draft_kept=True)
    parsed = parse_form(schema, raw, files.known, files.markers())
    if parsed.errors:  # nothing to send: keep the files (and a task's draft and claim), show every message
        kept = keep(files.uploads, held=files.counts(), draft=with_files() if drafts else None, claim=drafts)
        return _invalid(schema, raw, files.keep(raw, kept.files), kept.refused)
    if request.form.get("_action") == "check":
        kept = keep(files.uploads, held=files.counts())
        uploads = files.keep(raw, kept.files)
        checked = parse_form(schema, raw, uploads.files)
        # the schema's rules, as sending would apply them
        if kept.refused or form_errors(schema, checked.data, today()):
            return _invalid(schema, raw, uploads, kept.refused)
        return FormPost(raw, {}, uploads, checked=checked.data)
    new = [(data_path, *files.uploads[upload.index][1:]) for data_path, upload in parsed.take_uploads()]
    try:
        done = send(parsed.data, new, with_files(parsed.to_form_path) if drafts else None)
    except FormInvalidKept as err:
        uploads = files.keep(raw, err.kept.files, parsed.to_form_path)
        return FormPost(raw, parsed.engine_errors(err.errors), uploads, 422)
    return FormPost(raw, {}, Uploads(files.known, files.settings), done=done)


def _invalid(schema: dict | None, raw: dict[str, str], uploads: Uploads, refused: dict[str, str]) -> FormPost:
    """The form back with the parser's messages, the refused files' and the schema's own for the rest."""
    parsed = parse_form(schema, raw, uploads.files)
    errors = {**parsed.errors, **refused}
    for key, message in parsed.engine_errors(form_errors(schema, parsed.data, today())).items():
        errors.setdefault(key, message)
    return FormPost(raw, errors, uploads, 422)
