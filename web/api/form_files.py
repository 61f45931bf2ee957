"""Files on forms through the API: a file is uploaded first (multipart, to the form it is for) and comes back as an
attachment with an id; the form's data then names it in its file field, by id (`[5]` or `[{"id": 5}]`, or the whole
descriptor the upload returned). Only ids the form may hold count (my pending uploads to this form, files already
attached to the instance): the same rule as the web's form, by the same service."""
from __future__ import annotations

from typing import Any

from flask import request

from engine.errors import FormInvalid
from engine.services.submission import file_fields

from .access import caller, gov

MAX_DESCRIPTION = 2000
UPLOAD_FIELDS = ("file", "task_id", "message", "field", "description")

UPLOAD_BODY = {
    "required": True,
    "content": {"multipart/form-data": {
        "schema": {
            "type": "object", "required": ["file"], "additionalProperties": False,
            "properties": {
                "file": {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
                         "description": "The file (one). Its name's extension and its bytes must agree and be a "
                                        "type the field takes (PDF, Word, Excel, PowerPoint, CSV, text, PNG, JPEG)"},
                "task_id": {"type": "string", "maxLength": 36,
                            "description": "The open task of this instance whose form the file is for"},
                "message": {"type": "string", "maxLength": 120,
                            "description": "Or: the message (e.g. consultation_response) whose form it is for"},
                "field": {"type": "string", "maxLength": 200,
                          "description": "The form's file field (its path, e.g. ia_documents); may be left out when "
                                         "the form has one file field"},
                "description": {"type": "string", "maxLength": MAX_DESCRIPTION,
                                "description": "What the file is: recorded with the upload in the history"},
            }},
        "encoding": {"file": {"contentType": "application/octet-stream"}}}},
}


def upload_form() -> dict[str, Any]:
    """The upload's parts, checked: (file name, bytes read up to the request's limit) and its text fields."""
    errors = {}
    unknown = sorted(set(request.form) - set(UPLOAD_FIELDS)) + sorted(set(request.files) - {"file"})
    for name in unknown:
        errors[name] = f"is not a part of this upload (its parts: {', '.join(UPLOAD_FIELDS)})"
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = "Send one file, as the multipart part `file` with a file name"
    text = {k: (request.form.get(k) or "").strip() for k in UPLOAD_FIELDS[1:]}
    if bool(text["task_id"]) == bool(text["message"]):
        errors["task_id"] = "Name the form the file is for: a task_id or a message (one of them)"
    if len(text["description"]) > MAX_DESCRIPTION:
        errors["description"] = f"must be {MAX_DESCRIPTION} characters or fewer"
    if errors:
        raise FormInvalid(errors)
    return {**text, "name": upload.filename, "content": upload.stream.read()}


def may_name_files(data: Any) -> bool:
    """Whether the form's data could name files at all: a file field's value is a list."""
    return isinstance(data, dict) and any(isinstance(value, list) for value in data.values())


def with_files(schema: dict | None, data: Any, *, instance_id: int | None = None,
               task_id: str | None = None) -> Any:
    """The form's data with each file field's items (ids or descriptors) replaced by the stored file's descriptor;
    an id the form may not hold is a 422 naming the field."""
    if not isinstance(data, dict):
        return data
    named = {name: data[name] for name in file_fields(schema) if isinstance(data.get(name), list)}
    if not named:
        return data
    ids = {name: [_id_of(item) for item in items] for name, items in named.items()}
    known = gov().attachments.usable([i for found in ids.values() for i in found if i is not None],
                                     caller().username, instance_id=instance_id, task_id=task_id)
    errors, clean = {}, dict(data)
    for name, found in ids.items():
        missing = [str(named[name][n]) if i is None else str(i) for n, i in enumerate(found) if i not in known]
        if missing:
            errors[name] = (f"No file {', '.join(missing)} that this form may hold: upload it to this form first "
                            "(POST …/attachments) and name it by the id that returns")
        else:
            clean[name] = [known[i] for i in found]
    if errors:
        raise FormInvalid(errors)
    return clean


def _id_of(item: Any) -> int | None:
    if isinstance(item, dict):
        item = item.get("id")
    return item if isinstance(item, int) and not isinstance(item, bool) else None
