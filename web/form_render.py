"""A task form as a tree of fields for the templates: built from the JSON Schema, the raw input and the errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.services.attachments import limits_for, size_text
from engine.services.forms_view import NOT_BEFORE

from .form_fields import (MAX_ROWS, conditions_of, date_key, enum_options, file_ids, files_key, html_id, label_of,
                          rows_key, widget_of)


@dataclass(frozen=True)
class Uploads:
    """What attachment fields need to show: the descriptors of the files the form holds (by id) and the settings
    their limits come from (settings.yaml of the process version)."""

    files: dict[int, dict] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)


@dataclass
class Field:
    path: str
    id: str
    label: str
    hint: str
    required: bool
    widget: str
    required_when: str | None = None  # required by an if/then rule: when, in words ("" if it cannot be said)
    value: str = ""
    parts: dict[str, str] = field(default_factory=dict)  # day/month/year of a date
    options: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    children: list["Field"] = field(default_factory=list)  # a group's fields
    rows: list[list["Field"]] = field(default_factory=list)  # a list's rows (each one or more fields)
    item_label: str = "Item"
    rows_name: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def first_input_id(self) -> str:
        """Where the error summary's link should land."""
        if self.widget == "date":
            return self.id + "-day"
        if self.widget == "group" and self.children:
            return self.children[0].first_input_id
        if self.widget == "list":
            return self.rows[0][0].first_input_id if self.rows and self.rows[0] else self.id + "-add"
        return self.id


def build_fields(schema: dict | None, raw: dict[str, str], errors: dict[str, str], prefix: str = "",
                 uploads: Uploads | None = None) -> list[Field]:
    """The fields of an object schema, filled with the user's raw input and the error beside each."""
    if not schema:
        return []
    required = set(schema.get("required") or [])
    conditions = conditions_of(schema)
    fields = []
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict) or prop.get("readOnly") or name.startswith("_"):
            continue
        made = _field(name, prop, prefix + name, name in required, raw, errors, uploads)
        if name not in required and name in conditions:
            made.required_when = conditions[name]
            made.hint = " ".join(part for part in (f"{conditions[name]}." if conditions[name] else "", made.hint)
                                 if part)
        fields.append(made)
    return fields


def _field(name: str, prop: dict, path: str, required: bool, raw: dict[str, str], errors: dict[str, str],
           uploads: Uploads | None = None) -> Field:
    widget = widget_of(prop)
    made = Field(path=path, id=html_id(path), label=label_of(name, prop), hint=str(prop.get("description") or ""),
                 required=required, widget=widget, error=_worded(errors.get(path), widget, label_of(name, prop)))
    if widget in ("select", "radios"):
        made.options = enum_options(prop)
        made.value = raw.get(path, "")
    elif widget == "boolean":
        made.options = enum_options(prop)
        made.value = raw.get(path, "")
    elif widget == "checkboxes":
        made.options = enum_options(prop)
        made.attrs["chosen"] = {raw.get(f"{path}.{i}") for i in range(len(made.options))} - {None}
    elif widget == "date":
        made.parts = {part: raw.get(date_key(path, part), "") for part in ("day", "month", "year")}
    elif widget == "attachments":
        uploads = uploads or Uploads()
        limits = limits_for(prop, uploads.settings)
        made.hint = " ".join(part for part in (made.hint, limits.describe()) if part)
        held = [uploads.files[i] for i in file_ids(raw, path) if i in uploads.files]
        made.attrs.update(files=[{**d, "size_text": size_text(int(d.get("size") or 0))} for d in held],
                          files_name=files_key(path), files_value=",".join(str(d["id"]) for d in held),
                          multiple=limits.max_files > 1,
                          accept=",".join("." + t for t in limits.types) + (",.jpeg" if "jpg" in limits.types else ""))
    elif widget == "group":
        made.children = build_fields(prop, raw, errors, path + ".", uploads)
    elif widget == "list":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {"type": "string"}
        made.item_label = str(items.get("title") or "Item")
        made.rows_name = rows_key(path)
        try:
            count = int(raw.get(rows_key(path), "") or 0)
        except ValueError:
            count = 0
        count = max(count, int(prop.get("minItems") or 0), 1)
        for i in range(min(count, MAX_ROWS)):
            row_path = f"{path}.{i}"
            if widget_of(items) == "group":
                row = build_fields(items, raw, errors, row_path + ".", uploads)
            else:
                row = [_field(made.item_label, items, row_path, False, raw, errors, uploads)]
                row[0].label = f"{made.item_label} {i + 1}"
            made.rows.append(row)
    else:
        made.value = raw.get(path, "")
        if widget == "iso-date" and prop.get(NOT_BEFORE) == "today":
            from .display import today
            made.attrs["min"] = today().isoformat()
        if widget in ("number", "money"):
            made.attrs["inputmode"] = "numeric" if prop.get("type") == "integer" else "decimal"
    return made


def error_summary(fields: list[Field], errors: dict[str, str]) -> list[tuple[str, str]]:
    """(link target, message) for every error, in page order; errors with no field link to the form's top."""
    found: list[tuple[str, str]] = []
    placed: set[str] = set()

    def walk(items: list[Field]):
        for f in items:
            if f.error:
                found.append((f.first_input_id, f.error))
                placed.add(f.path)
            walk(f.children)
            for row in f.rows:
                walk(row)
            if f.widget == "list":
                for key in errors:
                    if key.startswith(f.path + ".") and key not in placed and key.count(".") == f.path.count(".") + 1:
                        found.append((f.first_input_id, errors[key]))
                        placed.add(key)

    walk(fields)
    for key, message in errors.items():
        if key not in placed:
            found.append(("task-form", message))
    return found


def holds_files(fields: list[Field]) -> bool:
    """Whether any attachment field shows a file (and so a Remove button that Enter must not press)."""
    return any(f.attrs.get("files") or holds_files(f.children) or any(holds_files(row) for row in f.rows)
               for f in fields)


CHOICE_WIDGETS = {"select", "radios", "boolean", "checkboxes"}


def _worded(message: str | None, widget: str, label: str) -> str | None:
    """A choice is selected, not entered (GOV.UK wording), should a message still say "Enter …" for one."""
    if message and widget in CHOICE_WIDGETS and message.startswith("Enter "):
        return f"Select an answer for ‘{label}’" if widget != "checkboxes" else \
            f"Select at least one option for ‘{label}’"
    return message
