"""A request as a person reads it: its answers (the start form's fields, current values), each step's answers as
given (a task completed, a message received) with the form that asked them, the names of the people involved and
the files the reader may open. Confidential messages (an attachment field's `confidential_when` answered yes) are
left out for whoever may not see all requests, unless they sent them. A message whose form says
`"x-govflow-withdraws": "<message>"` takes its sender's earlier such messages out (a withdrawn consultation response
is no longer shown, and no longer "yours"). Pages format the values; this reads them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from engine.errors import NotFound
from engine.governance.policy import SEE_ALL_REQUESTS, policy_of
from engine.services.identity import require_user
from engine.store.models import AuditEvent, Instance, User
from engine.bpmn.attachment_fields import FIELD_LIMITS_KEY

STEP_ACTIONS = {"task.completed": "task", "message.received": "message"}
WITHDRAWS_KEY = "x-govflow-withdraws"


@dataclass
class Section:
    """One form's answers: `schema` labels and formats `values`; `by`/`at` who gave them and when (None for the
    request itself, which shows its current answers)."""

    title: str
    schema: dict
    values: dict
    kind: str = "request"  # request | task | message
    element_id: str | None = None
    by: str | None = None
    at: str | None = None
    confidential: bool = False
    message: str | None = None  # the message's name, for a message


@dataclass
class RequestSummary:
    """The request's own answers, then every step in order; `names` maps usernames to names; `files` the attached
    files the reader may open, by id."""

    instance_id: int
    request: Section | None
    steps: list[Section] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    files: dict[int, dict] = field(default_factory=dict)
    element_names: dict[str, str] = field(default_factory=dict)  # each diagram element's name, by id
    withdrawals: dict[str, str] = field(default_factory=dict)  # message name -> the message it withdraws

    @property
    def messages(self) -> list[Section]:
        return [s for s in self.steps if s.kind == "message"]

    def last_sent(self, username: str, message: str) -> Section | None:
        """The last `message` this person sent, if any."""
        return next((s for s in reversed(self.messages) if s.by == username and s.message == message), None)


def confidential_switches(schema: dict | None) -> set[str]:
    """The yes/no fields that make a form's answers confidential (named by an attachment field's
    `confidential_when`)."""
    found = set()
    for prop in ((schema or {}).get("properties") or {}).values():
        own = prop.get(FIELD_LIMITS_KEY) if isinstance(prop, dict) else None
        if isinstance(own, dict) and isinstance(own.get("confidential_when"), str):
            found.add(own["confidential_when"])
    return found


class RequestSummaries:
    """Reads a request's summary over one database and the repository of compiled versions."""

    def __init__(self, db, repository, attachments):
        self.db = db
        self.repository = repository
        self.attachments = attachments

    def of_instance(self, instance_id: int, viewer: str) -> RequestSummary:
        with self.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no request {instance_id}")
            user = require_user(session, viewer)
            sees_all = policy_of(session).allows(user, SEE_ALL_REQUESTS)
            compiled = self.repository.compiled(session, instance.process_version_id)
            facts = dict(instance.facts or {})
            start = compiled.form_schema(compiled.start_form)
            request = None
            if start:
                values = {k: facts[k] for k in (start.get("properties") or {}) if k in facts}
                request = Section(start.get("title") or compiled.name, start, values)
            events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id,
                                                              AuditEvent.action.in_(STEP_ACTIONS))
                                     .order_by(AuditEvent.id)).all()
            steps = []
            withdrawals = withdrawn_messages(compiled)
            for event in events:
                info = compiled.elements.get(event.element_id or "")
                schema = compiled.form_schema(info.form if info else None)
                withdrawn = (schema or {}).get(WITHDRAWS_KEY)
                if withdrawn and event.action == "message.received":
                    steps = [s for s in steps if not (s.message == withdrawn and s.by == event.actor)]
                    continue
                data = (event.details or {}).get("data")
                if not schema or not isinstance(data, dict) or not data:
                    continue
                secret = any(data.get(name) is True for name in confidential_switches(schema))
                if secret and not sees_all and event.actor != viewer:
                    continue
                title = info.name if STEP_ACTIONS[event.action] == "task" else (schema.get("title") or info.name)
                steps.append(Section(title, schema, data, STEP_ACTIONS[event.action], event.element_id,
                                     event.actor, event.at.isoformat(), secret, (event.details or {}).get("message")))
            people = set(session.scalars(select(AuditEvent.actor).where(AuditEvent.instance_id == instance_id)
                                         .distinct()))
            people.add(instance.started_by)
            names = dict(session.execute(select(User.username, User.display_name)
                                         .where(User.username.in_([p for p in people if p]))).all())
            element_names = compiled.element_names()
        files = {f["id"]: f for f in self.attachments.of_instance(instance_id, viewer)}
        return RequestSummary(instance_id, request, steps, names, files, element_names, withdrawals)


def withdrawn_messages(compiled) -> dict[str, str]:
    """Message name -> the message it withdraws, for each message catch whose form names one."""
    found = {}
    for info in compiled.elements.values():
        withdrawn = (compiled.form_schema(info.form) or {}).get(WITHDRAWS_KEY) if info.message and info.form else None
        if isinstance(withdrawn, str):
            found[info.message] = withdrawn
    return found
