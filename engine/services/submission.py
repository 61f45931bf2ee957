"""Sending a form: one POST of a task's form, a start form or a message's form is one command and one transaction.

The files uploaded with the form are stored, an unclaimed task is claimed, the data is checked against the form's
JSON Schema and the process moves on, all in the runtime's own transaction (the runtime reads a `FormInput` where it
reads a form's data). When the input does not pass, that transaction is rolled back and a second one keeps what the
person gave: the uploaded files (pending, visible to them alone) and, for a task, their draft and their claim. So bad
input loses nothing: the form comes back with their answers, their files and a message per field.

`keep` is also the command of a form sent without being submitted: a task's "Save as draft", a list row added or
removed, a file taken off the form.

A file is named by its field's path in the form's data (`supporting_documents`, or `options.1.papers` for a field in
the second item of a list) and goes at the end of that field's list of files.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from engine.bpmn.attachment_fields import AttachmentRefused, check, is_attachment_field, limits_for
from engine.bpmn.forms import clean_submission
from engine.bpmn.waits import MESSAGE
from engine.clock import london_date
from engine.errors import Conflict, FormInvalid, NotFound
from engine.governance.policy import policy_of
from engine.services.attachments import purge_abandoned, remove_pending, store_pending, too_many
from engine.services.collaboration import draft_problem, put_draft
from engine.services.commands import CommandResult, deny
from engine.services.identity import require_user
from engine.store import audit
from engine.store.models import HumanTask, Instance, MessageWait

FormFile = tuple[str, str, bytes]  # (the field's path in the form's data, the file's name, its bytes)


@dataclass(frozen=True)
class FormInput:
    """A form as one POST sent it: its data, the files uploaded with it, and whether sending it claims the task
    (when nobody has). The runtime's commands take it wherever they take a form's data."""

    data: Any = None
    files: tuple[FormFile, ...] = ()
    claim: bool = False


@dataclass(frozen=True)
class Kept:
    """What `keep` kept: the files it stored (descriptors by field), why files sent for a field were refused, the
    files it took off the form, and why the draft could not be kept (None when it was, or none was given)."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    removed: tuple[int, ...] = ()
    draft_error: str | None = None


class FormInvalidKept(FormInvalid):
    """The form's input did not pass (a message per field, as FormInvalid) and what the person gave was kept."""

    def __init__(self, errors: dict[str, str], kept: Kept):
        super().__init__(errors)
        self.kept = kept


# --- inside the runtime's commands --------------------------------------------------------------------------------


def validated(session: Session, now, username: str, schema: dict | None, settings: Mapping[str, Any] | None,
              submitted: Any, *, instance_id: int | None = None, task_id: str | None = None) -> dict:
    """The clean data of a submitted form, in the command's transaction: a FormInput's files are checked and stored
    (pending; the command attaches those its data names) and their descriptors added to their fields. A refused
    file or data that fails the schema raises FormInvalid, with a message per field."""
    today = london_date(now)
    if not isinstance(submitted, FormInput):
        return clean_submission(schema, submitted, today)
    data = copy.deepcopy(submitted.data) if submitted.data is not None else {}
    refused: dict[str, str] = {}
    if isinstance(data, dict) and submitted.files:
        _, refused = _store_files(session, now, username, schema, settings, submitted.files,
                                  _counts(data, submitted.files), instance_id=instance_id, task_id=task_id, into=data)
    errors: dict[str, str] = {}
    try:
        clean = clean_submission(schema, data, today)
    except FormInvalid as err:
        errors = dict(err.errors)
    errors.update(refused)
    if errors:
        raise FormInvalid(errors)
    return clean


def claim_if_asked(session: Session, now, username: str, row: HumanTask, submitted: Any) -> None:
    """A FormInput that claims takes its task for `username` when nobody holds it (audited as `task.claimed`)."""
    if isinstance(submitted, FormInput) and submitted.claim and row.claimed_by is None:
        _claim(session, now, username, row)


# --- the commands -------------------------------------------------------------------------------------------------


class Submissions:
    """Forms sent with their files, one command each, and what is kept when they do not pass; over a runtime."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.repository = runtime.repository
        self.clock = runtime.clock

    def submit(self, task_id: str, username: str, data: dict | None = None, files: Iterable[FormFile] = (), *,
               claim: bool = True, draft: dict | Callable[[dict[str, list[dict]]], dict] | None = None
               ) -> CommandResult:
        """Complete a task with its form and the files uploaded with it, claiming it first when nobody has (one
        transaction). When the input does not pass, FormInvalidKept: the files and the claim are kept, and the
        draft (a dict, or a function of the kept files' descriptors by field that makes it)."""
        files = tuple(files)
        try:
            return self.runtime.complete(task_id, username, FormInput(data, files, claim))
        except FormInvalid as err:
            raise FormInvalidKept(err.errors, self._keep_after(username, data, files, task_id=task_id, draft=draft,
                                                               claim=claim)) from err

    def start(self, process_id: str, username: str, data: dict | None = None,
              files: Iterable[FormFile] = ()) -> CommandResult:
        """Start the latest version of a process with its start form and the files uploaded with it (one
        transaction); when the input does not pass, FormInvalidKept with the files kept."""
        files = tuple(files)
        try:
            return self.runtime.start(process_id, username, FormInput(data, files))
        except FormInvalid as err:
            raise FormInvalidKept(err.errors, self._keep_after(username, data, files, process_id=process_id)) from err

    def send_message(self, instance_id: int, message: str, username: str, data: dict | None = None,
                     files: Iterable[FormFile] = ()) -> CommandResult:
        """Send a message the instance waits for, with its form and the files uploaded with it (one transaction);
        when the input does not pass, FormInvalidKept with the files kept."""
        files = tuple(files)
        try:
            return self.runtime.send_message(instance_id, message, username, FormInput(data, files))
        except FormInvalid as err:
            raise FormInvalidKept(err.errors, self._keep_after(username, data, files, instance_id=instance_id,
                                                               message=message)) from err

    def keep(self, username: str, files: Iterable[FormFile] = (), *, task_id: str | None = None,
             process_id: str | None = None, instance_id: int | None = None, message: str | None = None,
             held: Mapping[str, int] | None = None, remove: Iterable[int] = (),
             draft: dict | Callable[[dict[str, list[dict]]], dict] | None = None, claim: bool = False,
             description: str = "") -> Kept:
        """Keep a form's input without sending it (one transaction): the task's (`task_id`), a process's start form
        (`process_id`) or the message `message` to `instance_id`. New files are checked against their field's
        limits (`held`: how many files each field holds already) and stored pending; `remove` deletes my pending
        uploads to this form; a task's form also keeps `draft` and is claimed when `claim` and nobody holds it.
        `description` (the API's upload) is recorded with each new file's audit event."""
        files, remove = tuple(files), tuple(remove)
        now = self.clock.now()
        with self.runtime.commands.scope("form.kept", username) as (session, change):
            user = require_user(session, username)
            schema, settings, row, instance_id = self._form(session, user, task_id, process_id, instance_id, message)
            change.instance_id = instance_id
            task_of = row.id if row is not None else None
            if row is not None and claim and row.claimed_by is None:
                _claim(session, now, username, row)
            removed = tuple(i for i in remove if remove_pending(session, now, username, i, instance_id=instance_id,
                                                                 task_id=task_of))
            stored, refused = _store_files(session, now, username, schema, settings, files, dict(held or {}),
                                           instance_id=instance_id, task_id=task_of, description=description)
            draft_error = None
            if row is not None and draft is not None:
                answers = draft(stored) if callable(draft) else draft
                draft_error = draft_problem(answers)
                if draft_error is None:
                    put_draft(session, now, username, row, answers)
            return Kept(stored, refused, removed, draft_error)

    # --- internals ---------------------------------------------------------------------------------------------

    def _keep_after(self, username: str, data: Any, files: tuple[FormFile, ...], draft=None, claim: bool = False,
                    **where) -> Kept:
        """What the failed command's transaction would have kept, kept in a transaction of its own."""
        if not files and draft is None and not claim:
            return Kept()
        return self.keep(username, files, held=_counts(data if isinstance(data, dict) else {}, files), draft=draft,
                         claim=claim, **where)

    def _form(self, session: Session, user, task_id: str | None, process_id: str | None, instance_id: int | None,
              message: str | None):
        """(schema, settings, task row or None, instance id) of the form being kept, once `user` may send it."""
        if task_id is not None:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"There is no task {task_id}")
            if row.status != "ready":
                raise Conflict(f"'{row.name}' was already {row.status}")
            if not policy_of(session).may_act(session, user, row):
                raise deny(user, "act", f"You cannot act on '{row.name}'", row)
            if row.claimed_by and row.claimed_by != user.username:
                raise deny(user, "complete", f"'{row.name}' is claimed by {row.claimed_by}", row)
            instance = session.get(Instance, row.instance_id)
            compiled = self.repository.compiled(session, instance.process_version_id)
            info = compiled.elements.get(row.element_id)
            return compiled.form_schema(info.form if info else row.form), compiled.settings, row, row.instance_id
        if message is not None:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            waits = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance_id,
                                                              MessageWait.kind == MESSAGE,
                                                              MessageWait.message == message)).all()
            rules = policy_of(session)
            allowed = [w for w in waits if rules.may_send(user, w)]
            if not allowed:
                raise deny(user, message, f"You cannot send '{message.replace('_', ' ')}' to "
                           f"{instance.reference or f'instance {instance_id}'}", instance_id=instance_id)
            compiled = self.repository.compiled(session, instance.process_version_id)
            return compiled.form_schema(allowed[0].form), compiled.settings, None, instance_id
        compiled = self.repository.compiled(session, self.repository.latest(session, process_id).id)
        start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
        if start is not None and not policy_of(session).may_start(user, start.role_id):
            raise deny(user, "start", f"Only a {start.lane or 'party'} can start '{compiled.name}'")
        return compiled.form_schema(compiled.start_form), compiled.settings, None, None


def _claim(session: Session, now, username: str, row: HumanTask) -> None:
    claimed = session.execute(update(HumanTask).where(HumanTask.id == row.id, HumanTask.claimed_by.is_(None),
                                                      HumanTask.status == "ready")
                              .values(claimed_by=username).execution_options(synchronize_session=False)).rowcount
    if not claimed:
        session.refresh(row)
        raise Conflict(f"'{row.name}' was claimed by {row.claimed_by} first")
    row.claimed_by = username
    audit.record(session, now, username, "task.claimed", instance_id=row.instance_id, task_id=row.id,
                 element_id=row.element_id)


def _store_files(session: Session, now, username: str, schema: dict | None, settings: Mapping[str, Any] | None,
                 files: Iterable[FormFile], held: dict[str, int], *, instance_id: int | None, task_id: str | None,
                 into: dict | None = None, description: str = "") -> tuple[dict[str, list[dict]], dict[str, str]]:
    """Check each file against its field's limits and store the acceptable ones pending: (descriptors by field,
    why files were refused by field). With `into`, each descriptor is also added to its field in that data."""
    stored: dict[str, list[dict]] = {}
    refusals: dict[str, list[str]] = {}
    for path, name, content in files:
        prop = _property_at(schema, path)
        if not is_attachment_field(prop):
            refusals.setdefault(path, []).append(f"is not a file field of this form (its file fields: "
                                                 f"{', '.join(file_fields(schema)) or 'none'})")
            continue
        limits = limits_for(prop, settings)
        try:
            if held.get(path, 0) >= limits.max_files:
                raise AttachmentRefused(too_many(limits))
            kind = check(name, content, limits)
        except AttachmentRefused as err:
            refusals.setdefault(path, []).append(str(err))
            continue
        target = _files_at(into, path) if into is not None else []
        if target is None:
            refusals.setdefault(path, []).append("is not a file field of this form: the data has something else "
                                                 "there")
            continue
        found = store_pending(session, now, username, path, name, content, kind, instance_id=instance_id,
                              task_id=task_id, description=description)
        held[path] = held.get(path, 0) + 1
        stored.setdefault(path, []).append(found)
        target.append(found)
    if stored:
        purge_abandoned(session, now)
    return stored, {path: "; ".join(dict.fromkeys(messages)) for path, messages in refusals.items()}


def _counts(data: dict, files: Iterable[FormFile]) -> dict[str, int]:
    """How many files each field the uploads go to holds in `data` already."""
    counts = {}
    for path, _name, _content in files:
        node: Any = data
        for part in path.split("."):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                node = None
                break
        counts[path] = len(node) if isinstance(node, list) else 0
    return counts


def _property_at(schema: dict | None, path: str) -> Any:
    """The schema property of the field at a data path ('options.1.papers': an item's field of a list)."""
    node: Any = schema or {}
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get("items") if part.isdigit() else (node.get("properties") or {}).get(part)
    return node


def _files_at(data: dict, path: str) -> list | None:
    """The list of files at a data path, made when missing (with the list item or group it is in); None when the
    data has something else there."""
    parts = path.split(".")
    node: Any = data
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        empty: Any = [] if last else ([] if parts[n + 1].isdigit() else {})
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            if index == len(node):
                node.append(empty)
            elif index > len(node):
                return None
            node = node[index]
        elif isinstance(node, dict) and not part.isdigit():
            node = node.setdefault(part, empty)
        else:
            return None
    return node if isinstance(node, list) else None


def file_fields(schema: dict | None) -> list[str]:
    """The form's top-level file fields, by name."""
    properties = (schema or {}).get("properties") or {}
    return sorted(name for name, prop in properties.items() if is_attachment_field(prop))


def file_field(schema: dict | None, asked: str, *, asked_as: str = "field") -> str:
    """The form's file field an upload goes to: the one asked for, or the form's only one; FormInvalid on
    `asked_as` (how the caller names its choice: the API's `field`, the CLI's `--field`) otherwise."""
    fields = file_fields(schema)
    if asked:
        if asked not in fields:
            raise FormInvalid({"field": f"'{asked}' is not a file field of this form (its file fields: "
                                        f"{', '.join(fields) or 'none'})"})
        return asked
    if len(fields) != 1:
        raise FormInvalid({"field": f"Name the file field ({asked_as}): this form has " + (
            f"{len(fields)} ({', '.join(fields)})" if fields else "none")})
    return fields[0]
