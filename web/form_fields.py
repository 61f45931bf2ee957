"""What a task form's JSON Schema means for the page: each property's widget, label, hint, options and path."""
from __future__ import annotations

from typing import Any

WIDGET_KEY = "x-govflow-widget"
LABELS_KEY = "x-govflow-enum-labels"
MAX_ROWS = 200


def type_of(prop: dict) -> str:
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in prop and "type" not in prop:
        return "enum"
    return kind


def widget_of(prop: dict) -> str:
    """text | textarea | email | url | number | money | date | iso-date | datetime | select | radios | boolean |
    checkboxes | list | group | attachments"""
    explicit = prop.get(WIDGET_KEY)
    kind = type_of(prop)
    if explicit == "attachments" and kind == "array":
        return "attachments"
    if "enum" in prop:
        return "radios" if explicit == "radios" else "select"
    if kind == "boolean":
        return "boolean"
    if kind in ("number", "integer"):
        return "money" if explicit == "money" else "number"
    if kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        return "checkboxes" if "enum" in items or explicit == "checkboxes" else "list"
    if kind == "object":
        return "group"
    fmt = prop.get("format")
    if fmt == "date":
        return "iso-date" if explicit in ("iso-date", "date-single") else "date"
    if fmt == "date-time":
        return "datetime"
    if fmt == "email":
        return "email"
    if fmt in ("uri", "url"):
        return "url"
    if explicit == "textarea" or (prop.get("maxLength") or 0) > 500:
        return "textarea"
    return "text"


def enum_options(prop: dict) -> list[tuple[str, str]]:
    """(raw value, label) of a choice: an enum, a list of enum items (checkboxes) or a yes/no."""
    labels = prop.get(LABELS_KEY) or {}
    if type_of(prop) == "boolean":
        values = [True, False]
        labels = {"true": "Yes", "false": "No", **{str(k).lower(): v for k, v in dict(labels).items()}}
    elif type_of(prop) == "array":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        values = items.get("enum") or []
        labels = labels or items.get(LABELS_KEY) or {}
    else:
        values = prop.get("enum") or []
    if isinstance(labels, list):
        labels = {str(v): label for v, label in zip(values, labels)}
    return [(_raw_scalar(v), str(labels.get(_raw_scalar(v), labels.get(str(v), v)))) for v in values]


def conditions_of(schema: dict | None) -> dict[str, str]:
    """Fields of an object schema that its `if`/`then` rules (at the top or in `allOf`) make required, each with the
    words that say when: "Required if you answer ‘Yes’ to ‘Does it change a Level 1 milestone?’". A field required
    by a rule govflow cannot put in words gets ""."""
    if not isinstance(schema, dict):
        return {}
    rules = [schema] + [part for part in schema.get("allOf") or [] if isinstance(part, dict)]
    found: dict[str, list[str]] = {}
    for rule in rules:
        if not isinstance(rule.get("if"), dict):
            continue
        when = _when(schema, rule["if"])
        for branch, words in (("then", when), ("else", "")):
            needed = rule.get(branch).get("required") if isinstance(rule.get(branch), dict) else None
            for name in needed or []:
                found.setdefault(name, []).append(words if branch == "then" else "")
    return {name: "; ".join(sorted({w for w in words if w})) if all(words) else "" for name, words in found.items()}


def _when(schema: dict, test: dict) -> str:
    """The condition of an `if` as the person sees it ("" when it is not one answer's value or values)."""
    tested = test.get("properties") if isinstance(test.get("properties"), dict) else {}
    if len(tested) != 1:
        return ""
    name, rule = next(iter(tested.items()))
    prop = ((schema.get("properties") or {}).get(name))
    if not isinstance(prop, dict) or not isinstance(rule, dict):
        return ""
    values = [rule["const"]] if "const" in rule else rule.get("enum") if isinstance(rule.get("enum"), list) else None
    if not values:
        return ""
    labels = dict(enum_options(prop))
    shown = " or ".join(f"‘{labels.get(_raw_scalar(v), _raw_scalar(v))}’" for v in values)
    title = label_of(name, prop)
    if title.rstrip().endswith("?"):
        return f"Required if you answer {shown} to ‘{title}’"
    return f"Required if you choose {shown} for ‘{title}’"


def label_of(name: str, prop: dict) -> str:
    return str(prop.get("title") or name.replace("_", " ").capitalize())


def html_id(path: str) -> str:
    return "f-" + path.replace(".", "-").replace("_", "-")


def rows_key(path: str) -> str:
    return f"{path}[rows]"


def date_key(path: str, part: str) -> str:
    return f"{path}[{part}]"


def files_key(path: str) -> str:
    """The hidden field that keeps an attachment field's files (their ids, comma-separated) between submissions."""
    return f"{path}[files]"


def file_ids(raw: dict[str, str], path: str) -> list[int]:
    """The attachment ids an attachment field holds in the raw input, in order, without repeats."""
    ids: list[int] = []
    for part in str(raw.get(files_key(path), "") or "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) not in ids and len(ids) < MAX_ROWS:
            ids.append(int(part))
    return ids


def set_file_ids(raw: dict[str, str], path: str, ids: list[int]) -> None:
    raw[files_key(path)] = ",".join(str(i) for i in ids)


def attachment_fields(schema: dict | None, raw: dict[str, str], prefix: str = "") -> list[tuple[str, dict]]:
    """(path, property) of every attachment field the form shows: at the top, in groups and in list rows."""
    found: list[tuple[str, dict]] = []
    for name, prop in ((schema or {}).get("properties") or {}).items():
        if not isinstance(prop, dict) or prop.get("readOnly") or name.startswith("_"):
            continue
        _attachment_fields_of(prop, prefix + name, raw, found)
    return found


def _attachment_fields_of(prop: dict, path: str, raw: dict[str, str], found: list) -> None:
    widget = widget_of(prop)
    if widget == "attachments":
        found.append((path, prop))
    elif widget == "group":
        found.extend(attachment_fields(prop, raw, path + "."))
    elif widget == "list":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        try:
            rows = max(int(raw.get(rows_key(path), "") or 0), int(prop.get("minItems") or 0), 1)
        except ValueError:
            rows = 1
        for i in range(min(rows, MAX_ROWS)):
            _attachment_fields_of(items, f"{path}.{i}", raw, found)


def _raw_scalar(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_raw(schema: dict | None, data: dict | None, prefix: str = "") -> dict[str, str]:
    """Typed data (a saved record) → the flat field values a form shows (the inverse of form_parse)."""
    raw: dict[str, str] = {}
    if not schema or not isinstance(data, dict):
        return raw
    for name, prop in (schema.get("properties") or {}).items():
        if name not in data or not isinstance(prop, dict):
            continue
        _value_to_raw(prop, data[name], prefix + name, raw)
    return raw


def _value_to_raw(prop: dict, value: Any, path: str, raw: dict[str, str]) -> None:
    widget = widget_of(prop)
    if widget == "attachments":
        set_file_ids(raw, path, [item["id"] for item in value if isinstance(item, dict)
                                 and isinstance(item.get("id"), int)] if isinstance(value, list) else [])
    elif widget == "checkboxes":
        chosen = {_raw_scalar(v) for v in value} if isinstance(value, list) else set()
        for i, (option, _label) in enumerate(enum_options(prop)):
            if option in chosen:
                raw[f"{path}.{i}"] = option
    elif widget == "list":
        items = value if isinstance(value, list) else []
        raw[rows_key(path)] = str(len(items))
        for i, item in enumerate(items[:MAX_ROWS]):
            _value_to_raw(prop.get("items") or {}, item, f"{path}.{i}", raw)
    elif widget == "group":
        raw.update(to_raw(prop, value if isinstance(value, dict) else {}, path + "."))
    elif widget == "date" and isinstance(value, str) and len(value) >= 10:
        year, month, day = value[:10].split("-") if value[:10].count("-") == 2 else ("", "", "")
        raw[date_key(path, "day")] = day.lstrip("0")
        raw[date_key(path, "month")] = month.lstrip("0")
        raw[date_key(path, "year")] = year
    elif widget == "datetime" and isinstance(value, str):
        from .display import local
        try:
            raw[path] = local(value).strftime("%Y-%m-%dT%H:%M")
        except ValueError:
            raw[path] = value
    else:
        raw[path] = _raw_scalar(value)
