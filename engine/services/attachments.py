"""Files attached to forms: limits from settings.yaml (and the form's field), type checks on the bytes themselves,
storage in the database, and who may fetch them.

A file is stored the moment it is uploaded, `pending` and visible only to its uploader, so that a form sent back
with errors still has it. When the form's data reaches the instance the file becomes `attached` and anyone who may
see the instance may download it, or `confidential` (the field's `confidential_when` answer was yes) and only
programme staff and its uploader may. The form's value holds descriptors only: {"id", "name", "size", "type"}.
"""
from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator, Mapping

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine.store import audit
from engine.clock import Clock
from engine.store.db import Database
from engine.errors import Forbidden, FormInvalid, NotFound
from engine.services.identity import require_user
from engine.store.models import Attachment, HumanTask, Instance
from engine.services.visibility import industry_states, is_staff, may_view

WIDGET = "attachments"  # "x-govflow-widget": "attachments" on an array property
FIELD_LIMITS_KEY = "x-govflow-attachments"  # optional per-field {"max_bytes": n, "types": [...]}
SETTING_MAX_BYTES = "attachment_max_bytes"
SETTING_MAX_FILES = "attachment_max_files"
SETTING_TYPES = "attachment_types"
DEFAULT_MAX_BYTES = 10_000_000
DEFAULT_MAX_FILES = 10
DEFAULT_TYPES = ("pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg")
ATTACHED = ("attached", "confidential")  # statuses of a file that is part of its instance
ABANDONED_AFTER = timedelta(days=2)  # a pending file of a form without a task (raising a request) is then dropped
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
_OFFICE_PART = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}


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


def attach_submitted(session: Session, now: datetime, schema: Mapping[str, Any] | None, data: Any, username: str,
                     instance_id: int) -> int:
    """In the command that applies a submitted form: the files it names (its submitter's pending uploads) become
    part of `instance_id` in the same transaction, confidential ones as such. Returns how many."""
    wanted = sorted({i for ids, _ in submitted_files(schema, data) for i in ids})
    if not wanted:
        return 0
    confidential = confidential_ids(schema, data)
    rows = session.scalars(select(Attachment).where(
        Attachment.id.in_(wanted), Attachment.status == "pending", Attachment.uploaded_by == username,
        or_(Attachment.instance_id.is_(None), Attachment.instance_id == instance_id))).all()
    for row in rows:
        row.status = "confidential" if row.id in confidential else "attached"
        row.instance_id = instance_id
    if rows:
        audit.record(session, now, username, "attachment.attached", instance_id=instance_id,
                     attachments=[{"id": r.id, "name": r.name, "field": r.field,
                                   **({"confidential": True} if r.status == "confidential" else {})} for r in rows])
    return len(rows)


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
    if not sniffed_as(kind, content):
        raise AttachmentRefused(f"‘{shown}’ is not a real {KINDS[kind][1]}: its contents do not match its name")
    return kind


def sniffed_as(kind: str, content: bytes) -> bool:
    """Whether the bytes are of this kind (never trusting the browser's content type)."""
    if kind == "pdf":
        return content[:1024].lstrip().startswith(b"%PDF-")
    if kind == "png":
        return content.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "jpg":
        return content.startswith(b"\xff\xd8\xff")
    if kind in _OFFICE_PART:
        if not content.startswith(b"PK\x03\x04"):
            return False
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:  # reads the directory only, inflates nothing
                names = set(archive.namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return False
        return "[Content_Types].xml" in names and _OFFICE_PART[kind] in names
    if kind in ("csv", "txt"):
        return _is_text(content)
    return False


def _is_text(content: bytes) -> bool:
    if b"\x00" in content:
        return False
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            return False
    return not any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text[:100_000])


def _kind_of_extension(extension: str) -> str | None:
    extension = extension.lower().lstrip(".")
    return next((kind for kind, (_t, _n, exts) in KINDS.items() if extension in exts), None)


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def descriptor(row: Attachment) -> dict[str, Any]:
    """What a form's value holds for a file (never its bytes)."""
    return {"id": row.id, "name": row.name, "size": row.size, "type": row.content_type}


def ids_in(value: Any) -> list[int]:
    """The attachment ids in a form value (a list of descriptors)."""
    found = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            found.append(item["id"])
    return found


class Attachments:
    """Store, list, remove and fetch form attachments; one instance per Govflow."""

    def __init__(self, db: Database, repository, clock: Clock):
        self.db = db
        self.repository = repository
        self.clock = clock

    def store(self, username: str, field: str, name: str, content: bytes, limits: Limits, *,
              instance_id: int | None = None, task_id: str | None = None, already: int = 0) -> dict[str, Any]:
        """Check and keep an uploaded file as pending for my form (on this instance and task, or a new request's
        form when both are None); `already` is how many files the field holds. Raises AttachmentRefused."""
        if already >= limits.max_files:
            raise AttachmentRefused(f"You can attach up to {limits.max_files} file"
                                    f"{'s' if limits.max_files != 1 else ''} here")
        kind = check(name, content, limits)
        now = self.clock.now()
        with self.db.write() as session:
            require_user(session, username)
            row = Attachment(instance_id=instance_id, task_id=task_id, field=field[:200], name=clean_name(name),
                             kind=kind, content_type=KINDS[kind][0], size=len(content),
                             sha256=hashlib.sha256(content).hexdigest(), content=content, status="pending",
                             uploaded_by=username, created_at=now)
            session.add(row)
            session.flush()
            audit.record(session, now, username, "attachment.uploaded", instance_id=instance_id, task_id=task_id,
                         attachment_id=row.id, field=field, name=row.name, size=row.size, type=row.content_type,
                         sha256=row.sha256)
            self._purge_abandoned(session, now)
            return descriptor(row)

    def store_for_form(self, username: str, schema: Mapping[str, Any] | None, settings: Mapping[str, Any] | None,
                       files: Iterable[tuple[str, str, bytes]], *, instance_id: int | None = None,
                       task_id: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """(field, file name, bytes) for a form's top-level attachment fields, checked against each field's limits
        as the browser's uploads are and stored pending for `username`: their descriptors by field, to put in the
        form's data. A refusal raises FormInvalid naming the field."""
        properties = (schema or {}).get("properties") or {}
        fields = sorted(name for name, prop in properties.items() if is_attachment_field(prop))
        stored: dict[str, list[dict[str, Any]]] = {}
        for field, name, content in files:
            if field not in fields:
                raise FormInvalid({field: f"is not a file field of this form (its file fields: "
                                          f"{', '.join(fields) or 'none'})"})
            held = stored.setdefault(field, [])
            try:
                held.append(self.store(username, field, name, content, limits_for(properties[field], settings),
                                       instance_id=instance_id, task_id=task_id, already=len(held)))
            except AttachmentRefused as err:
                raise FormInvalid({field: str(err)}) from err
        return stored

    def usable(self, ids: Iterable[int], username: str, *, instance_id: int | None = None,
               task_id: str | None = None) -> dict[int, dict[str, Any]]:
        """Descriptors of those of `ids` this form may hold: my pending uploads for the same form, or files
        already attached to the same instance."""
        wanted = sorted({i for i in ids if isinstance(i, int)})
        if not wanted:
            return {}
        mine = (Attachment.status == "pending") & (Attachment.uploaded_by == username) & \
            _same(Attachment.instance_id, instance_id) & _same(Attachment.task_id, task_id)
        with self.db.read() as session:
            if instance_id is not None:
                seen = self._seen_by(session, username)
                condition = or_(mine, seen & (Attachment.instance_id == instance_id))
            else:
                condition = mine
            rows = session.scalars(select(Attachment).where(Attachment.id.in_(wanted), condition)).all()
            return {row.id: descriptor(row) for row in rows}

    def remove(self, attachment_id: int, username: str, *, instance_id: int | None = None,
               task_id: str | None = None) -> bool:
        """Delete one of my pending uploads from this form (an attached file stays with its instance: the form
        just stops listing it). True when a file was deleted."""
        now = self.clock.now()
        with self.db.write() as session:
            row = session.get(Attachment, attachment_id)
            if row is None or row.status != "pending" or row.uploaded_by != username \
                    or row.instance_id != instance_id or row.task_id != task_id:
                return False
            audit.record(session, now, username, "attachment.removed", instance_id=row.instance_id,
                         task_id=row.task_id, attachment_id=row.id, field=row.field, name=row.name)
            session.delete(row)
            return True

    def of_instance(self, instance_id: int, viewer: str | None = None) -> list[dict[str, Any]]:
        """The files attached to an instance, oldest first, with the field each came in on, who uploaded it and
        whether it is confidential. With `viewer`, only those they may see (confidential ones: staff, uploader)."""
        with self.db.read() as session:
            shown = Attachment.status.in_(ATTACHED) if viewer is None else self._seen_by(session, viewer)
            rows = session.scalars(select(Attachment).where(Attachment.instance_id == instance_id, shown)
                                   .order_by(Attachment.created_at, Attachment.id)).all()
            return [{**descriptor(r), "field": r.field, "uploaded_by": r.uploaded_by,
                     "created_at": r.created_at.isoformat(), "confidential": r.status == "confidential"}
                    for r in rows]

    def fetch(self, attachment_id: int, username: str) -> tuple[dict[str, Any], bytes]:
        """(descriptor, bytes) for someone who may see the file: its uploader, or, once attached, anyone who may see
        its instance. Otherwise Forbidden, with an access.denied audit event."""
        with self.db.read() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound(f"There is no attached file {attachment_id}")
            user = require_user(session, username)
            allowed = row.uploaded_by == username or (row.status == "confidential" and is_staff(user.role_ids))
            if not allowed and row.status == "attached" and row.instance_id is not None:
                instance = session.get(Instance, row.instance_id)
                states = industry_states(self.repository.compiled(session, instance.process_version_id).settings)
                allowed = may_view(session, user, instance, states)
            if allowed:
                return descriptor(row), row.content
            where = dict(instance_id=row.instance_id if row.status in ATTACHED else None, task_id=row.task_id)
            confidential = row.status == "confidential"
        reason = "You cannot download this file: it came with a confidential response, seen by the programme only." \
            if confidential else "You cannot download this file: it belongs to a request you cannot see." \
            if where["instance_id"] else "You cannot download this file: it has not been attached to a request yet."
        with self.db.write() as session:
            audit.record(session, self.clock.now(), username, "access.denied", attempted="download attachment",
                         attachment_id=attachment_id, reason=reason, **where)
        raise Forbidden(reason)

    @staticmethod
    def _seen_by(session: Session, username: str):
        """SQL condition: attached files this person may see on an instance they may see (confidential ones: programme
        staff and observers, and their uploader)."""
        if is_staff(require_user(session, username).role_ids):
            return Attachment.status.in_(ATTACHED)
        return (Attachment.status == "attached") | \
            ((Attachment.status == "confidential") & (Attachment.uploaded_by == username))

    def _purge_abandoned(self, session: Session, now) -> None:
        """Drop pending files nobody can still submit: their task has ended, or (a form without a task) they have
        waited longer than ABANDONED_AFTER."""
        ended = select(HumanTask.id).where(HumanTask.status != "ready")
        doomed = session.scalars(select(Attachment.id).where(Attachment.status == "pending", or_(
            Attachment.task_id.in_(ended),
            Attachment.task_id.is_(None) & (Attachment.created_at < now - ABANDONED_AFTER)))).all()
        if doomed:
            session.execute(delete(Attachment).where(Attachment.id.in_(doomed)))
            audit.record(session, now, "system", "attachment.purged", attachments=list(doomed))


def _same(column, value):
    return column.is_(None) if value is None else column == value
