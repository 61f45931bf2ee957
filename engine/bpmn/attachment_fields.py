"""Attachment fields of forms: how a form declares one, the limits that apply (settings.yaml, narrowed by the
field), and the check of a file's name and bytes against them — the rules, with no storage (that is the
attachments service's)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping

from engine.bpmn import file_contents

WIDGET = "attachments"  # "x-govflow-widget": "attachments" on an array property
FIELD_LIMITS_KEY = "x-govflow-attachments"  # optional per-field {"max_bytes": n, "types": [...]}
SETTING_MAX_BYTES = "attachment_max_bytes"
SETTING_MAX_FILES = "attachment_max_files"
SETTING_TYPES = "attachment_types"
DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_FILES = 10
DEFAULT_TYPES = ("pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg")
MAX_NAME = 255

# kind → (content type, what people call it, extensions)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "pdf": ("application/pdf", "PDF", ("pdf",)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word document", ("docx",)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel spreadsheet", ("xlsx",)),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint", ("pptx",)),
    "csv": ("text/csv", "CSV", ("csv",)),
    "txt": ("text/plain", "text file", ("txt",)),
    "png": ("image/png", "PNG image", ("png",)),
    "jpg": ("image/jpeg", "JPEG image", ("jpg", "jpeg")),
}


class AttachmentRefused(Exception):
    """An upload that breaks a limit; the message is shown beside the field."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int
    types: tuple[str, ...]

    def describe(self) -> str:
        """The hint under the file chooser, e.g. 'Up to 10 files, each smaller than 10 MB: PDF, DOCX, PNG.'"""
        files = "1 file" if self.max_files == 1 else f"up to {self.max_files} files"
        return f"{files[0].upper()}{files[1:]}, each smaller than {size_text(self.max_bytes)}: " \
               f"{', '.join(t.upper() for t in self.types)}."


def limits_for(prop: Mapping[str, Any], settings: Mapping[str, Any] | None) -> Limits:
    """The limits of one attachment field: settings.yaml's, narrowed by the field's `maxItems` and
    `x-govflow-attachments` (`max_bytes`, `types`)."""
    settings = settings or {}
    own = prop.get(FIELD_LIMITS_KEY) if isinstance(prop.get(FIELD_LIMITS_KEY), dict) else {}
    max_bytes = _positive(own.get("max_bytes")) or _positive(settings.get(SETTING_MAX_BYTES)) or DEFAULT_MAX_BYTES
    max_files = _positive(prop.get("maxItems")) or _positive(settings.get(SETTING_MAX_FILES)) or DEFAULT_MAX_FILES
    types = own.get("types") or settings.get(SETTING_TYPES) or DEFAULT_TYPES
    kinds = tuple(dict.fromkeys(_kind_of_extension(str(t)) for t in types if _kind_of_extension(str(t))))
    return Limits(max_bytes, max_files, kinds or DEFAULT_TYPES)


def is_attachment_field(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("x-govflow-widget") == WIDGET


# What each item of an attachment field holds (a descriptor): name → JSON Schema type.
DESCRIPTOR_TYPES = {"id": "integer", "name": "string", "size": "integer", "type": "string"}
FIELD_OPTIONS = ("max_bytes", "types", "confidential_when")  # the keys `x-govflow-attachments` may have


def descriptor_items() -> dict[str, Any]:
    """The `items` schema of an attachment field, as processes/README.md shows it."""
    return {"type": "object", "additionalProperties": False, "required": list(DESCRIPTOR_TYPES),
            "properties": {"id": {"type": "integer"}, "name": {"type": "string", "maxLength": MAX_NAME},
                           "size": {"type": "integer", "minimum": 0}, "type": {"type": "string", "maxLength": 120}}}


def field_schema(title: str, description: str = "", *, max_files: int | None = None, max_bytes: int | None = None,
                 types: Iterable[str] = ()) -> dict[str, Any]:
    """A new attachment field (the form editor's "Attachments" kind); limits left out follow settings.yaml."""
    prop: dict[str, Any] = {"type": "array", "title": title}
    if description:
        prop["description"] = description
    prop["x-govflow-widget"] = WIDGET
    if max_files:
        prop["maxItems"] = max_files
    own: dict[str, Any] = {}
    if max_bytes:
        own["max_bytes"] = max_bytes
    kinds = [t for t in KINDS if t in set(types)]
    if kinds:
        own["types"] = kinds
    if own:
        prop[FIELD_LIMITS_KEY] = own
    prop["items"] = descriptor_items()
    return prop


def field_problem(prop: Mapping[str, Any], settings: Mapping[str, Any] | None,
                  siblings: Mapping[str, Any] | None = None) -> str | None:
    """Why an attachment field cannot work, or None: its shape (an array of descriptors) and its own limits, which
    may only narrow settings.yaml's (checked when `settings` is given). `siblings` are the properties beside it."""
    if prop.get("type") != "array":
        return f'an "{WIDGET}" field must have "type": "array"'
    items = prop.get("items")
    properties = items.get("properties") if isinstance(items, dict) else None
    if not isinstance(items, dict) or items.get("type") != "object" or not isinstance(properties, dict):
        return 'its "items" must be the file descriptor: an object with id, name, size and type'
    for name, kind in DESCRIPTOR_TYPES.items():
        if not isinstance(properties.get(name), dict) or properties[name].get("type") != kind:
            return f'its items must have "{name}" of type "{kind}" (the file descriptor: id, name, size, type)'
    missing = [n for n in DESCRIPTOR_TYPES if n not in (items.get("required") or [])]
    if missing:
        return f'its items must list {", ".join(missing)} in "required"'
    limit = _positive(settings.get(SETTING_MAX_FILES)) or DEFAULT_MAX_FILES if settings is not None else None
    if "maxItems" in prop and limit and isinstance(prop["maxItems"], int) and prop["maxItems"] > limit:
        return f"maxItems {prop['maxItems']} is above attachment_max_files ({limit}) in settings.yaml"
    own = prop.get(FIELD_LIMITS_KEY, {})
    if not isinstance(own, dict):
        return f'"{FIELD_LIMITS_KEY}" must be an object with max_bytes and/or types'
    unknown = [k for k in own if k not in FIELD_OPTIONS]
    if unknown:
        return f'"{FIELD_LIMITS_KEY}" has {", ".join(map(repr, unknown))}: it may only have {", ".join(FIELD_OPTIONS)}'
    if "max_bytes" in own:
        if _positive(own["max_bytes"]) is None:
            return f'"{FIELD_LIMITS_KEY}" max_bytes must be a whole number of bytes above 0, not {own["max_bytes"]!r}'
        ceiling = _positive(settings.get(SETTING_MAX_BYTES)) or DEFAULT_MAX_BYTES if settings is not None else None
        if ceiling and own["max_bytes"] > ceiling:
            return f"max_bytes {own['max_bytes']} is above attachment_max_bytes ({ceiling}) in settings.yaml: " \
                   "a field may only narrow it"
    if "types" in own:
        types = own["types"]
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            return f'"{FIELD_LIMITS_KEY}" types must be a non-empty list of file types, such as ["pdf"]'
        strange = unknown_types(types)
        if strange:
            return f"types {', '.join(map(repr, strange))} {'is' if len(strange) == 1 else 'are'} not a file type " \
                   f"govflow knows: use {', '.join(KINDS)}"
        if settings is not None:
            allowed = set(limits_for({}, settings).types)
            wider = [t for t in types if _kind_of_extension(t) not in allowed]
            if wider:
                return f"types {', '.join(map(repr, wider))} {'is' if len(wider) == 1 else 'are'} not in " \
                       "attachment_types in settings.yaml: a field may only narrow them"
    switch = own.get("confidential_when")
    if switch is not None:
        target = (siblings or {}).get(switch) if isinstance(switch, str) else None
        if not isinstance(target, dict) or target.get("type") != "boolean":
            return f'"{FIELD_LIMITS_KEY}" confidential_when must name a yes/no (boolean) field beside it, ' \
                   f"not {switch!r}"
    return None


def unknown_types(types: Iterable[Any]) -> list[str]:
    """The entries of a list of file types that are not in KINDS (by extension, so "jpeg" is known)."""
    return [str(t) for t in types if not isinstance(t, str) or _kind_of_extension(t) is None]


def settings_problems(settings: Mapping[str, Any]) -> list[str]:
    """What is wrong with settings.yaml's attachment limits (empty when nothing): unknown types, limits that are
    not whole numbers above 0."""
    if not isinstance(settings, Mapping):
        return []
    problems = []
    for key in (SETTING_MAX_BYTES, SETTING_MAX_FILES):
        if key in settings and _positive(settings[key]) is None:
            problems.append(f"{key} must be a whole number above 0, not {settings[key]!r}")
    if SETTING_TYPES in settings:
        types = settings[SETTING_TYPES]
        if not isinstance(types, list) or not types:
            problems.append(f"{SETTING_TYPES} must be a non-empty list of file types, such as [pdf, docx]")
        else:
            strange = unknown_types(types)
            if strange:
                problems.append(f"{SETTING_TYPES} names {', '.join(map(repr, strange))}, which govflow cannot "
                                f"check: use only {', '.join(KINDS)}")
    return problems


def submitted_files(schema: Mapping[str, Any] | None, data: Any) -> Iterator[tuple[list[int], bool]]:
    """Each attachment field's file ids in a submission, with whether they are confidential (seen only by programme
    staff and their uploader: the field's `confidential_when` field beside it is true), through groups and lists."""
    properties = (schema or {}).get("properties") if isinstance(schema, Mapping) else None
    if not isinstance(properties, dict) or not isinstance(data, dict):
        return
    for name, prop in properties.items():
        if not isinstance(prop, dict) or name not in data:
            continue
        if is_attachment_field(prop):
            own = prop.get(FIELD_LIMITS_KEY) if isinstance(prop.get(FIELD_LIMITS_KEY), dict) else {}
            switch = own.get("confidential_when")
            yield ids_in(data[name]), isinstance(switch, str) and data.get(switch) is True
        elif prop.get("type") == "object":
            yield from submitted_files(prop, data[name])
        elif prop.get("type") == "array" and isinstance(prop.get("items"), dict) and isinstance(data[name], list):
            for item in data[name]:
                yield from submitted_files(prop["items"], item)


def confidential_ids(schema: Mapping[str, Any] | None, data: Any) -> set[int]:
    """The files of a submission that only programme staff (and their uploader) may see."""
    return {i for ids, confidential in submitted_files(schema, data) if confidential for i in ids}


def size_text(size: int) -> str:
    """Sizes as people read them (decimal units, like the limits in settings.yaml)."""
    if size >= 1_000_000:
        value = size / 1_000_000
        return f"{value:.0f} MB" if value >= 10 or value.is_integer() else f"{value:.1f} MB"
    if size >= 1_000:
        return f"{size / 1_000:.0f} KB"
    return f"{size} bytes"


def clean_name(name: str) -> str:
    """A file name safe to store and to send back: no folders, control characters or quotes, at most 255 long."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in unicodedata.normalize("NFC", base) if unicodedata.category(c)[0] != "C")
    base = base.replace('"', "'").strip().strip(".") or "file"
    if len(base) > MAX_NAME:
        stem, dot, ext = base.rpartition(".")
        base = (stem[:MAX_NAME - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:MAX_NAME]
    return base


def check(name: str, content: bytes, limits: Limits) -> str:
    """The file's kind when its extension is allowed and its bytes really are that kind; AttachmentRefused if not."""
    shown = clean_name(name)
    kind = _kind_of_extension(shown.rpartition(".")[2] if "." in shown else "")
    allowed = ", ".join(t.upper() for t in limits.types)
    if kind is None or kind not in limits.types:
        raise AttachmentRefused(f"‘{shown}’ must be a {allowed}")
    if not content:
        raise AttachmentRefused(f"‘{shown}’ is empty")
    if len(content) > limits.max_bytes:
        raise AttachmentRefused(f"‘{shown}’ must be smaller than {size_text(limits.max_bytes)}")
    wrong = file_contents.problem(kind, content)
    if wrong:
        raise AttachmentRefused(f"‘{shown}’ is not a real {KINDS[kind][1]}: its contents do not match its name "
                                f"(it {wrong})")
    return kind


def sniffed_as(kind: str, content: bytes) -> bool:
    """Whether the bytes are of this kind all the way through (never trusting the browser's content type)."""
    return file_contents.problem(kind, content) is None


def _kind_of_extension(extension: str) -> str | None:
    extension = extension.lower().lstrip(".")
    return next((kind for kind, (_t, _n, exts) in KINDS.items() if extension in exts), None)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def ids_in(value: Any) -> list[int]:
    """The attachment ids in a form value (a list of descriptors)."""
    found = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            found.append(item["id"])
    return found
