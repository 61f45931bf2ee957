"""A submitted task form → typed JSON for the engine: numbers, booleans, dates, lists; empty optional fields dropped.

Empty list rows are dropped too, so the engine may see a shorter list than the page showed; `ParseResult.to_form_path`
turns the engine's error paths (by data index) back into the page's field paths (by row).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from .display import LONDON
from .form_fields import MAX_ROWS, date_key, file_ids, label_of, rows_key, type_of, widget_of

MISSING = object()


@dataclass(frozen=True)
class NewUpload:
    """Stands in a file field's value for a file uploaded with this POST (not stored yet): the engine stores it in
    the command that takes the form. `index`: its place among the POST's uploads."""

    index: int


@dataclass
class ParseResult:
    data: dict
    errors: dict[str, str] = field(default_factory=dict)
    row_maps: dict[str, list[int]] = field(default_factory=dict)  # data path of a list → page row of each item
    files: dict[int, dict] = field(default_factory=dict)  # descriptor of each attachment id this form may hold
    uploads: dict[str, list[NewUpload]] = field(default_factory=dict)  # new uploads by the page's field path

    def take_uploads(self) -> list[tuple[str, NewUpload]]:
        """Take the new uploads out of the data: (the data path of each one's field, the upload), in upload order.
        A file field left with no file is dropped from the data, as one never given."""
        found: list[tuple[str, NewUpload]] = []
        _take(self.data, "", found)
        return sorted(found, key=lambda pair: pair[1].index)

    def to_form_path(self, data_path: str) -> str:
        """'actions.1.owner' (data index) → 'actions.3.owner' (the row on the page) when empty rows were dropped."""
        parts = data_path.split(".") if data_path else []
        data_prefix, form_parts = "", []
        for part in parts:
            mapping = self.row_maps.get(data_prefix)
            if mapping is not None and part.isdigit() and int(part) < len(mapping):
                form_parts.append(str(mapping[int(part)]))
            else:
                form_parts.append(part)
            data_prefix = f"{data_prefix}.{part}" if data_prefix else part
        return ".".join(form_parts)

    def engine_errors(self, errors: dict[str, str]) -> dict[str, str]:
        return {self.to_form_path(k): v for k, v in errors.items()}


def parse_form(schema: dict | None, form: dict[str, str], files: dict[int, dict] | None = None,
               uploads: dict[str, list[NewUpload]] | None = None) -> ParseResult:
    """`files`: the descriptors of the attachments the form may hold (by id); other ids in the input are dropped.
    `uploads`: the files uploaded with this POST by field path, put after the field's files (`take_uploads`)."""
    result = ParseResult({}, files=dict(files or {}), uploads=dict(uploads or {}))
    if schema:
        result.data = _object(schema, form, "", "", result)
    return result


def _object(schema: dict, form, form_prefix: str, data_prefix: str, result: ParseResult) -> dict:
    data = {}
    for name, prop in (schema.get("properties") or {}).items():
        if not isinstance(prop, dict) or prop.get("readOnly") or name.startswith("_"):
            continue
        value = _value(name, prop, form, form_prefix + name, data_prefix + name, result)
        if value is not MISSING:
            data[name] = value
    return data


def _value(name: str, prop: dict, form, path: str, data_path: str, result: ParseResult) -> Any:
    widget = widget_of(prop)
    title = label_of(name, prop)
    if widget == "group":
        value = _object(prop, form, path + ".", data_path + ".", result)
        return value if value else MISSING
    if widget == "list":
        return _list(prop, form, path, data_path, result)
    if widget == "attachments":
        held = [result.files[i] for i in file_ids(form, path) if i in result.files]
        held += result.uploads.get(path, [])
        return held if held else MISSING
    if widget == "checkboxes":
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        chosen = [v for i, v in enumerate(items.get("enum") or []) if form.get(f"{path}.{i}") == _raw(v)]
        return chosen if chosen else MISSING
    if widget == "date":
        return _date_parts(title, form, path, result)
    text = form.get(path, "")
    text = text.replace("\r\n", "\n") if widget == "textarea" else text.strip()
    if text == "" or (widget == "textarea" and not text.strip()):
        return MISSING
    if widget in ("select", "radios"):
        for option in prop.get("enum") or []:
            if _same(option, text):
                return option
        result.errors[path] = f"Select a valid option for {title.lower()}"
        return MISSING
    if widget == "boolean":
        if text in ("true", "false"):
            return text == "true"
        result.errors[path] = f"Select yes or no for {title.lower()}"
        return MISSING
    if widget in ("number", "money"):
        return _number(title, prop, text, path, result, money=widget == "money")
    if widget == "iso-date":
        try:
            return date.fromisoformat(text).isoformat()
        except ValueError:
            result.errors[path] = f"{title} must be a real date, for example 2027-03-27"
            return MISSING
    if widget == "datetime":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            result.errors[path] = f"{title} must be a real date and time"
            return MISSING
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LONDON)
        return moment.astimezone(timezone.utc).isoformat()
    return text


def _raw(value: Any) -> str:
    from .form_fields import _raw_scalar
    return _raw_scalar(value)


def _same(option: Any, text: str) -> bool:
    if option is True or option is False:
        return text == ("true" if option else "false")
    return str(option) == text


def _number(title: str, prop: dict, text: str, path: str, result: ParseResult, money: bool) -> Any:
    cleaned = text.replace(",", "").replace(" ", "")
    if money:
        cleaned = cleaned.removeprefix("£")
    try:
        number = Decimal(cleaned)
        if not number.is_finite():
            raise InvalidOperation
    except InvalidOperation:
        result.errors[path] = f"{title} must be {'an amount of money' if money else 'a number'}" + \
            (", like 1500 or 1500.50" if money else "")
        return MISSING
    if type_of(prop) == "integer":
        if number != number.to_integral_value():
            result.errors[path] = f"{title} must be a whole number"
            return MISSING
        return int(number)
    if money and number.as_tuple().exponent < -2:
        result.errors[path] = f"{title} must be in pounds and pence, with at most 2 decimal places"
        return MISSING
    return int(number) if number == number.to_integral_value() else float(number)


def _date_parts(title: str, form, path: str, result: ParseResult) -> Any:
    parts = {p: form.get(date_key(path, p), "").strip() for p in ("day", "month", "year")}
    if not any(parts.values()):
        return MISSING
    missing = [p for p in ("day", "month", "year") if not parts[p]]
    if missing:
        result.errors[path] = f"{title} must include a {' and '.join(missing)}"
        return MISSING
    try:
        year = int(parts["year"])
        if year < 1000:
            raise ValueError
        return date(year, int(parts["month"]), int(parts["day"])).isoformat()
    except ValueError:
        result.errors[path] = f"{title} must be a real date"
        return MISSING


def _list(prop: dict, form, path: str, data_path: str, result: ParseResult) -> Any:
    items = prop.get("items") if isinstance(prop.get("items"), dict) else {"type": "string"}
    try:
        rows = max(0, min(int(form.get(rows_key(path), "") or 0), MAX_ROWS))
    except ValueError:
        rows = 0
    values, mapping = [], []
    for row in range(rows):
        item_data_path = f"{data_path}.{len(values)}"
        value = _value(str(items.get("title") or "item"), items, form, f"{path}.{row}", item_data_path, result)
        if value is not MISSING:
            values.append(value)
            mapping.append(row)
    result.row_maps[data_path] = mapping
    return values if values else MISSING


def _take(node: Any, path: str, found: list) -> None:
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            child = f"{path}.{key}" if path else key
            if isinstance(value, list) and any(isinstance(v, NewUpload) for v in value):
                found.extend((child, v) for v in value if isinstance(v, NewUpload))
                value[:] = [v for v in value if not isinstance(v, NewUpload)]
                if not value:
                    del node[key]
            else:
                _take(value, child, found)
    elif isinstance(node, list):
        for n, item in enumerate(node):
            _take(item, f"{path}.{n}", found)


def add_row(form: dict[str, str], path: str) -> dict[str, str]:
    """The same input with one more (empty) row in the list at `path` (the "Add another" button)."""
    changed = dict(form)
    try:
        rows = int(changed.get(rows_key(path), "") or 1)
    except ValueError:
        rows = 1
    changed[rows_key(path)] = str(min(max(rows, 1) + 1, MAX_ROWS))
    return changed


def remove_row(form: dict[str, str], path: str, index: int) -> dict[str, str]:
    """The same input without row `index` of the list at `path`; later rows move up."""
    prefix = path + "."
    changed: dict[str, str] = {}
    for key, value in form.items():
        if key.startswith(prefix):
            head, _, rest = key[len(prefix):].partition(".")
            number = head.split("[", 1)[0]
            if number.isdigit():
                n = int(number)
                if n == index:
                    continue
                if n > index:
                    key = f"{prefix}{n - 1}{head[len(number):]}" + (f".{rest}" if rest else "")
        changed[key] = value
    try:
        rows = int(form.get(rows_key(path), "") or 1)
    except ValueError:
        rows = 1
    changed[rows_key(path)] = str(max(rows - 1, 1))
    return changed
