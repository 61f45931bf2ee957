"""Files attached to forms: limits from settings.yaml (and the form's field), type checks on the bytes themselves,
storage in the database, and who may fetch them.

A file is stored the moment it is uploaded, `pending` and visible only to its uploader, so that a form sent back
with errors still has it. When the form's data reaches the instance the file becomes `attached` and anyone who may
see the instance may download it, or `confidential` (the field's `confidential_when` answer was yes) and only
whoever may see all requests (programme staff and observers, roles.yaml) and its uploader may. The form's value
holds descriptors only: {"id", "name", "size", "type"}.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine.bpmn.attachment_fields import (AttachmentRefused, check, clean_name, confidential_ids,  # noqa: F401
                                          KINDS, Limits, limits_for, submitted_files)  # (limits_for: the web's)
from engine.bpmn.attachment_fields import descriptor_items, field_schema, settings_problems, size_text  # noqa: F401 (for the web)
from engine.store import audit
from engine.clock import Clock
from engine.store.db import Database
from engine.errors import Forbidden, NotFound
from engine.services.identity import require_user
from engine.store.models import Attachment, HumanTask, Instance
from engine.governance.policy import SEE_ALL_REQUESTS, industry_states, policy_of

ATTACHED = ("attached", "confidential")  # statuses of a file that is part of its instance
ABANDONED_AFTER = timedelta(days=2)  # a pending file of a form without a task (raising a request) is then dropped


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


def descriptor(row: Attachment) -> dict[str, Any]:
    """What a form's value holds for a file (never its bytes)."""
    return {"id": row.id, "name": row.name, "size": row.size, "type": row.content_type}


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
            raise AttachmentRefused(too_many(limits))
        kind = check(name, content, limits)
        now = self.clock.now()
        with self.db.write() as session:
            require_user(session, username)
            stored = store_pending(session, now, username, field, name, content, kind, instance_id=instance_id,
                                   task_id=task_id)
            purge_abandoned(session, now)
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
        with self.db.write() as session:
            return remove_pending(session, self.clock.now(), username, attachment_id, instance_id=instance_id,
                                  task_id=task_id)

    def pending_on(self, instance_id: int, username: str) -> list[int]:
        """The ids of my pending uploads to forms of this instance (a task's or a message's), not yet sent."""
        with self.db.read() as session:
            return list(session.scalars(select(Attachment.id).where(
                Attachment.instance_id == instance_id, Attachment.status == "pending",
                Attachment.uploaded_by == username).order_by(Attachment.id)))

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
            rules = policy_of(session)
            allowed = row.uploaded_by == username or (row.status == "confidential"
                                                      and rules.allows(user, SEE_ALL_REQUESTS))
            if not allowed and row.status == "attached" and row.instance_id is not None:
                instance = session.get(Instance, row.instance_id)
                states = industry_states(self.repository.compiled(session, instance.process_version_id).settings)
                allowed = rules.may_see(session, user, instance, states)
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
        if policy_of(session).allows(require_user(session, username), SEE_ALL_REQUESTS):
            return Attachment.status.in_(ATTACHED)
        return (Attachment.status == "attached") | \
            ((Attachment.status == "confidential") & (Attachment.uploaded_by == username))


def too_many(limits: Limits) -> str:
    return f"You can attach up to {limits.max_files} file{'s' if limits.max_files != 1 else ''} here"


def store_pending(session: Session, now: datetime, username: str, field: str, name: str, content: bytes, kind: str,
                  *, instance_id: int | None = None, task_id: str | None = None,
                  description: str = "") -> dict[str, Any]:
    """In the command's transaction: keep a file already checked (`kind`) as pending for `username`'s form, with its
    audit event; its descriptor."""
    row = Attachment(instance_id=instance_id, task_id=task_id, field=field[:200], name=clean_name(name),
                     kind=kind, content_type=KINDS[kind][0], size=len(content),
                     sha256=hashlib.sha256(content).hexdigest(), content=content, status="pending",
                     uploaded_by=username, created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, now, username, "attachment.uploaded", instance_id=instance_id, task_id=task_id,
                 attachment_id=row.id, field=field, name=row.name, size=row.size, type=row.content_type,
                 sha256=row.sha256, **({"description": description} if description else {}))
    return descriptor(row)


def remove_pending(session: Session, now: datetime, username: str, attachment_id: int, *,
                   instance_id: int | None = None, task_id: str | None = None) -> bool:
    """In the command's transaction: delete one of `username`'s pending uploads to this form (instance and task),
    with its audit event; False (nothing done) for any other file."""
    row = session.get(Attachment, attachment_id)
    if row is None or row.status != "pending" or row.uploaded_by != username \
            or row.instance_id != instance_id or row.task_id != task_id:
        return False
    audit.record(session, now, username, "attachment.removed", instance_id=row.instance_id,
                 task_id=row.task_id, attachment_id=row.id, field=row.field, name=row.name)
    session.delete(row)
    return True


def purge_abandoned(session: Session, now: datetime) -> None:
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
