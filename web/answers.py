"""Answers as a GOV.UK summary list: each field's label from its form's schema and its value in words (money,
dates, yes/no, choices by their labels, lists, files the reader may open, people by name)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .display import day_text, moment_text
from .form_fields import enum_options, label_of, widget_of

PREVIEWABLE = {"application/pdf", "image/png", "image/jpeg", "image/gif"}


@dataclass
class Row:
    """One answer. `kind`: text (lines kept) | lines (a list) | email | files."""

    key: str
    label: str
    kind: str = "text"
    text: str = ""
    lines: list[str] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)
    hidden_files: int = 0


def money(value: Any) -> str:
    try:
        amount = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"£{amount:,.0f}" if amount.is_integer() else f"£{amount:,.2f}"


def _choice(prop: dict, value: Any) -> str:
    wanted = "true" if value is True else "false" if value is False else str(value)
    return next((label for option, label in enum_options(prop) if option == wanted), str(value))


def _scalar(prop: dict, value: Any) -> str:
    widget = widget_of(prop)
    if widget in ("boolean", "radios", "select"):
        return _choice(prop, value)
    if widget == "money":
        return money(value)
    if widget in ("date", "iso-date"):
        try:
            return day_text(value)
        except ValueError:
            return str(value)
    if widget == "datetime":
        try:
            return moment_text(value)
        except ValueError:
            return str(value)
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def rows(schema: dict | None, values: dict | None, files: dict[int, dict] | None = None,
         prefix: str = "", label_prefix: str = "") -> list[Row]:
    """A row per answered field, in the schema's order; files only those in `files` (what the reader may open)."""
    found: list[Row] = []
    files = files or {}
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if not isinstance(prop, dict) or name.startswith("_") or name not in (values or {}):
            continue
        value = values[name]
        if _empty(value):
            continue
        label = label_prefix + label_of(name, prop)
        key = prefix + name
        widget = widget_of(prop)
        if widget == "attachments":
            wanted = [item.get("id") for item in value if isinstance(item, dict)] if isinstance(value, list) else []
            shown = [{**files[i], "preview": files[i].get("type") in PREVIEWABLE,
                      "image": str(files[i].get("type", "")).startswith("image/")} for i in wanted if i in files]
            found.append(Row(key, label, "files", files=shown, hidden_files=len(wanted) - len(shown)))
        elif widget == "checkboxes":
            items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
            found.append(Row(key, label, "lines", lines=[_choice({**items, "x-govflow-enum-labels":
                                                                   prop.get("x-govflow-enum-labels") or
                                                                   items.get("x-govflow-enum-labels") or {}}, v)
                                                          for v in (value if isinstance(value, list) else [value])]))
        elif widget == "group" and isinstance(value, dict):
            found.extend(rows(prop, value, files, key + ".", label + ": "))
        elif widget == "list" and isinstance(value, list):
            items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
            if widget_of(items) == "group":
                lines = ["; ".join(f"{r.label}: {r.text or ', '.join(r.lines) or ', '.join(f['name'] for f in r.files)}"
                                   for r in rows(items, item if isinstance(item, dict) else {}, files))
                         for item in value]
            else:
                lines = [_scalar(items, item) for item in value if not _empty(item)]
            found.append(Row(key, label, "lines", lines=[line for line in lines if line]))
        elif widget == "email":
            found.append(Row(key, label, "email", text=str(value)))
        else:
            found.append(Row(key, label, "text", text=_scalar(prop, value)))
    return found


def name_of(names: dict[str, str], username: str | None) -> str:
    """A person's name (their username when unknown)."""
    if not username:
        return ""
    return names.get(username) or username


@dataclass
class Part:
    """A section of a request as shown: its heading, who gave the answers and when, and the rows."""

    title: str
    rows: list[Row]
    kind: str = "request"
    by: str = ""
    at: str | None = None
    confidential: bool = False
    element_id: str | None = None


def parts(summary) -> list[Part]:
    """The request's answers then each step's (steps that answered nothing shown are left out)."""
    shown: list[Part] = []
    if summary.request is not None:
        shown.append(Part(summary.request.title, rows(summary.request.schema, summary.request.values,
                                                      summary.files)))
    for step in summary.steps:
        found = rows(step.schema, step.values, summary.files)
        if found:
            shown.append(Part(step.title, found, step.kind, name_of(summary.names, step.by), step.at,
                              step.confidential, step.element_id))
    return shown
