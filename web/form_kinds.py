"""The field kinds the form editor adds to a task's JSON Schema ("Add a field"): each kind's property, built from what
the analyst typed, with a message per input when something is missing or wrong."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from engine.services.attachments import KINDS, field_schema, limits_for
from engine.services.forms_view import schema_problem

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_OPTIONS = 50


@dataclass
class FieldRequest:
    """What the "Add a field" panel posted (field_* inputs)."""

    kind: str = ""
    name: str = ""
    title: str = ""
    hint: str = ""
    required: bool = False
    options: list[str] = field(default_factory=list)  # choices, one a line
    max_files: str = ""
    max_mb: str = ""
    types: list[str] = field(default_factory=list)

    @classmethod
    def from_form(cls, form) -> "FieldRequest":
        return cls(kind=form.get("field_kind", "").strip(), name=form.get("field_name", "").strip(),
                   title=form.get("field_title", "").strip(), hint=form.get("field_hint", "").strip(),
                   required=form.get("field_required") == "yes",
                   options=[line.strip() for line in form.get("field_options", "").splitlines() if line.strip()],
                   max_files=form.get("field_max_files", "").strip(), max_mb=form.get("field_max_mb", "").strip(),
                   types=[t for t in form.getlist("field_types") if t in KINDS])


def _text(req: FieldRequest) -> dict:
    return {"type": "string", "maxLength": 200}


def _textarea(req: FieldRequest) -> dict:
    return {"type": "string", "maxLength": 5000, "x-govflow-widget": "textarea"}


def _number(req: FieldRequest) -> dict:
    return {"type": "number"}


def _money(req: FieldRequest) -> dict:
    return {"type": "number", "minimum": 0, "x-govflow-widget": "money"}


def _date(req: FieldRequest) -> dict:
    return {"type": "string", "format": "date"}


def _email(req: FieldRequest) -> dict:
    return {"type": "string", "format": "email"}


def _yes_no(req: FieldRequest) -> dict:
    return {"type": "boolean"}


def _choice(req: FieldRequest) -> dict:
    return {"type": "string", "enum": req.options, "x-govflow-widget": "radios"}


def _checkboxes(req: FieldRequest) -> dict:
    return {"type": "array", "items": {"type": "string", "enum": req.options}, "uniqueItems": True,
            "x-govflow-widget": "checkboxes"}


# kind → (what the analyst sees, the property it adds); "attachments" is built by engine.services.attachments.field_schema
KIND_BUILDERS: dict[str, tuple[str, Callable[[FieldRequest], dict] | None]] = {
    "text": ("Short text", _text),
    "textarea": ("Long text", _textarea),
    "number": ("Number", _number),
    "money": ("Money (£)", _money),
    "date": ("Date", _date),
    "email": ("Email address", _email),
    "yes_no": ("Yes or no", _yes_no),
    "choice": ("One of several options", _choice),
    "checkboxes": ("Any of several options", _checkboxes),
    "attachments": ("Attachments (files)", None),
}
CHOICE_KINDS = {"choice", "checkboxes"}


def kinds() -> list[tuple[str, str]]:
    """(kind, label) for the editor's "Kind of field" list."""
    return [(kind, label) for kind, (label, _build) in KIND_BUILDERS.items()]


def type_choices(settings: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(type, label) of the file types an attachment field may allow: those settings.yaml allows."""
    return [(kind, f"{KINDS[kind][1]} (.{kind})") for kind in limits_for({}, settings).types]


def add_field(text: str, req: FieldRequest, settings: Mapping[str, Any] | None) -> tuple[str, dict[str, str]]:
    """The schema `text` with the requested field added at the end (and in "required" when asked), pretty-printed;
    or `text` unchanged and the errors, keyed by the panel's input names ("content" for the schema itself)."""
    try:
        schema = json.loads(text)
    except ValueError as err:
        return text, {"content": f"Fix the JSON Schema before adding a field: it is not valid JSON ({err})"}
    if not isinstance(schema, dict) or not isinstance(schema.setdefault("properties", {}), dict):
        return text, {"content": 'Fix the JSON Schema before adding a field: it needs "properties" as an object'}
    errors: dict[str, str] = {}
    if req.kind not in KIND_BUILDERS:
        errors["field_kind"] = "Select the kind of field"
    if not NAME.match(req.name):
        errors["field_name"] = "Enter a name of lower-case letters, digits and _, starting with a letter " \
                               "(for example supporting_documents)"
    elif req.name in schema["properties"]:
        errors["field_name"] = f"The form already has a field called {req.name}"
    if not req.title:
        errors["field_title"] = "Enter the question or label people will see"
    if req.kind in CHOICE_KINDS and not 2 <= len(req.options) <= MAX_OPTIONS:
        errors["field_options"] = f"Enter between 2 and {MAX_OPTIONS} options, one on each line"
    elif req.kind in CHOICE_KINDS and len(set(req.options)) != len(req.options):
        errors["field_options"] = "Enter each option once"
    limits = limits_for({}, settings)
    max_files = max_bytes = None
    if req.kind == "attachments":
        if req.max_files:
            if not req.max_files.isdigit() or not 1 <= int(req.max_files) <= limits.max_files:
                errors["field_max_files"] = f"Enter a whole number of files from 1 to {limits.max_files}"
            else:
                max_files = int(req.max_files)
        if req.max_mb:
            try:
                max_bytes = round(float(req.max_mb) * 1_000_000)
            except ValueError:
                max_bytes = 0
            if not 0 < max_bytes <= limits.max_bytes:
                errors["field_max_mb"] = f"Enter a size in MB above 0 and up to {limits.max_bytes / 1_000_000:g}"
                max_bytes = None
    if errors:
        return text, errors
    if req.kind == "attachments":
        prop = field_schema(req.title, req.hint, max_files=max_files, max_bytes=max_bytes,
                            types=req.types if set(req.types) != set(limits.types) else ())
    else:
        build = KIND_BUILDERS[req.kind][1]
        prop = {"title": req.title, **({"description": req.hint} if req.hint else {}), **build(req)}
    schema["properties"][req.name] = prop
    if req.required:
        schema["required"] = [*[n for n in schema.get("required") or [] if n != req.name], req.name]
    reason = schema_problem(schema, dict(settings or {}))
    if reason:
        return text, {"content": f"The form would not be usable: {reason}"}
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n", {}
