"""What a form page shows, as plain values: a start form, a task's form or a message's form (its JSON Schema, the
attachment limits of its version, its element's instructions), and the rules a page applies while rendering it (the
schema's own messages for some data, whether a schema is usable, instructions filled from an instance's data). The
web renders; the rules stay here and in engine/bpmn."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from engine.bpmn.form_dates import NOT_BEFORE  # noqa: F401 (the date rule's keyword, for the date input's min)
from engine.bpmn.forms import clean_submission
from engine.bpmn.forms import schema_problem  # noqa: F401 (for the form editor's preview)
from engine.bpmn.instructions import FilledInstructions
from engine.bpmn.instructions import fill as _fill
from engine.errors import Forbidden, FormInvalid, NotFound
from engine.services import inbox
from engine.services.collaboration import my_draft
from engine.governance.policy import policy_of
from engine.services.identity import find_user, require_user
from engine.store.models import Instance, MessageWait


@dataclass(frozen=True)
class FormView:
    """A form as its page shows it. `kind`: start | task | message. `instructions` is the element's Markdown, a
    template to fill from the instance's data (`fill_instructions`). For a task: the task and whether the person
    may act on it by the engine's rule."""

    kind: str
    process_id: str
    process_name: str
    schema: dict | None
    settings: dict = field(default_factory=dict)
    instructions: str = ""
    title: str = ""
    element_id: str | None = None
    instance_id: int | None = None
    task: inbox.TaskView | None = None
    may_act: bool = False
    message: str | None = None
    revision: int = 0  # the instance's, read with the task (for the task's ETag)
    draft: dict | None = None  # the person's saved answers to the open task, read with it


def form_errors(schema: dict | None, data: Any, today: date | None = None) -> dict[str, str]:
    """The schema's own message for each field `data` gets wrong (by its path in the data); {} when it passes.
    `today`: the govflow Clock's date, for a date that may not be in the past (as sending the form checks it)."""
    try:
        clean_submission(schema, data, today)
    except FormInvalid as err:
        return dict(err.errors)
    return {}


def fill_instructions(text: str | None, data: dict | None) -> FilledInstructions:
    """Instructions filled from an instance's data in the sandbox: `.markdown`, and `.notice` when they were cut or
    are shown as written."""
    return _fill(text, data)


class FormsView:
    """The forms' queries, over one database and repository; denials recorded as the runtime's are."""

    def __init__(self, db, repository, runtime):
        self.db = db
        self.repository = repository
        self.runtime = runtime

    def start_form(self, process_id: str, username: str) -> FormView:
        """The latest version's start form; Forbidden (audited) when my roles cannot start the process."""
        with self.db.read() as session:
            user = require_user(session, username)
            compiled = self.repository.compiled(session, self.repository.latest(session, process_id).id)
            start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
            allowed = start is None or policy_of(session).may_start(user, start.role_id)
        if not allowed:
            raise self._deny(username, f"Only a {start.lane or 'party'} can start ‘{compiled.name}’.",
                             attempted="start")
        schema = compiled.form_schema(compiled.start_form)
        shown = next((e for e in compiled.elements.values() if e.kind == "start" and e.form), None)
        return FormView("start", process_id, compiled.name, schema, dict(compiled.settings or {}),
                        shown.instructions if shown else "", (schema or {}).get("title") or f"Start: {compiled.name}",
                        element_id=shown.element_id if shown else None)

    def startable(self, username: str) -> list[tuple[str, str]]:
        """(process id, name) of the processes I may start from a form, by name."""
        with self.db.read() as session:
            user = require_user(session, username)
            rules = policy_of(session)
            found = []
            for process_id in self.repository.process_ids(session):
                compiled = self.repository.compiled(session, self.repository.latest(session, process_id).id)
                start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
                if start is not None and rules.may_start(user, start.role_id):
                    found.append((process_id, compiled.name))
        return sorted(found, key=lambda pair: pair[1])

    def task_form(self, task_id: str, username: str) -> FormView:
        """A task with its form, instructions and version's settings, and whether I may act on it, in one read."""
        with self.db.read() as session:
            found = inbox.task_rows(session, task_id)
            if found is None:
                raise NotFound(f"There is no task {task_id}")
            row, instance = found
            allowed = policy_of(session).may_act(session, find_user(session, username), row)
            compiled = self.repository.compiled(session, instance.process_version_id)
            view = inbox.view_of(row, instance)
            draft = my_draft(session, task_id, username) if row.status == "ready" else None
        info = compiled.elements.get(view.element_id)
        schema = compiled.form_schema(info.form if info else None)
        return FormView("task", view.process_id, compiled.name, schema, dict(compiled.settings or {}),
                        info.instructions if info else "", view.name, element_id=view.element_id,
                        instance_id=view.instance_id, task=view, may_act=allowed, revision=instance.revision,
                        draft=draft)

    def message_form(self, instance_id: int, message: str, username: str) -> FormView | None:
        """The form of a message the instance waits for and I may send now; None when it waits for no such message
        from me (observers never send)."""
        with self.db.read() as session:
            user = require_user(session, username)
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            waits = session.scalars(select(MessageWait).where(
                MessageWait.instance_id == instance_id, MessageWait.message == message)
                .order_by(MessageWait.id)).all()
            rules = policy_of(session)
            wait = next((w for w in waits if rules.may_send(user, w)), None)  # observers read, never act
            if wait is None:
                return None
            compiled = self.repository.compiled(session, instance.process_version_id)
        schema = compiled.form_schema(wait.form) if wait.form else None
        info = compiled.elements.get(wait.element_id)
        return FormView("message", instance.process_id, compiled.name, schema, dict(compiled.settings or {}),
                        info.instructions if info else "", (schema or {}).get("title") or wait.name,
                        element_id=wait.element_id, instance_id=instance_id, message=message)

    def _deny(self, username: str, reason: str, *, attempted: str, instance_id: int | None = None) -> Forbidden:
        self.runtime.commands.record_denial(dict(actor=username, instance_id=instance_id, task_id=None,
                                                 element_id=None, attempted=attempted, reason=reason))
        return Forbidden(reason)
