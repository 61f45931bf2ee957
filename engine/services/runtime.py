"""The RuntimeService: start, claim, complete, message, withdraw and fire timers — one transaction per command.

Every command loads the instance (locked on PostgreSQL, IMMEDIATE on SQLite, version-checked on both), first fires
any timer already due on the command's clock, runs the engine, then saves the instance's own state, the derived
human-task, timer and message rows and the audit events, and commits. Listeners run after the commit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessage
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition as SpiffSignal
from SpiffWorkflow.util.task import TaskState

from engine.store import audit
from engine.services import incidents
from engine.clock import Clock
from engine.store.db import Database
from engine.bpmn.definitions import CompiledProcess, ElementInfo
from engine.services.eligibility import groups_of, may_act
from engine.errors import Conflict, Forbidden, GovflowError, NotFound
from engine.services.attachments import attach_submitted
from engine.services.collaboration import drop_drafts
from engine.bpmn.forms import clean_submission
from engine.services.identity import find_user, require_user
from engine.store.models import HumanTask, Instance, MessageWait, Timer, User
from engine.bpmn.passages import finished_ids, record_passages
from engine.services.repository import Repository
from engine.bpmn.sandbox import make_script_engine
from engine.services.diagram_functions import script_functions
from engine.bpmn.state import dump_state, load_state, move_back_window, prune_history
from engine.bpmn.waits import MESSAGE, SIGNAL, TIMER, waiting_timers, waits

log = logging.getLogger(__name__)

# FOR NO KEY UPDATE: it serialises commands on an instance, yet lets the notification worker insert rows that refer
# to the instance (a plain FOR UPDATE would block those foreign-key checks and deadlock with the worker).
INSTANCE_ROW_LOCK = {"key_share": True}

MAX_TIMER_ATTEMPTS = 5


class ProcessError(GovflowError):
    """A step of the diagram failed (a script, a condition, a decision table): nothing was saved."""

    status = 422


@dataclass(frozen=True)
class Snapshot:
    """What an instance was waiting for when loaded; its rows in the database mirror exactly this."""

    ready: dict[str, str] = field(default_factory=dict)  # open user task id -> element id
    timers: set[str] = field(default_factory=set)  # waiting timer task ids
    messages: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, message or signal, element id)

    @property
    def waits_for_nothing(self) -> bool:
        return not (self.ready or self.timers or self.messages)


def snapshot(workflow: BpmnWorkflow) -> Snapshot:
    found = waits(workflow)
    return Snapshot(
        ready={str(t.id): t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True)},
        timers={w.task_id for w in found if w.kind == TIMER},
        messages={(w.kind, w.event, w.element_id) for w in found if w.kind != TIMER},
    )


@dataclass
class Change:
    """What a committed command changed, for listeners (notifications, the scheduler)."""

    action: str
    actor: str
    instance_id: int | None
    at: datetime
    new_task_ids: list[str] = field(default_factory=list)
    timers_changed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    before: Snapshot = field(default_factory=Snapshot, repr=False)
    finished: set = field(default_factory=set, repr=False)  # task ids finished when loaded
    created_tasks: list = field(default_factory=list, repr=False)


@dataclass(frozen=True)
class CommandResult:
    instance_id: int
    status: str
    state: str
    reference: str | None
    next_task_id: str | None = None
    new_task_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return dict(self.__dict__, new_task_ids=list(self.new_task_ids))


class Runtime:
    """Runs process instances. Every public method is one command and one transaction."""

    def __init__(self, db: Database, repository: Repository, clock: Clock, script_time_limit: float = 1.0):
        self.db = db
        self.repository = repository
        self.clock = clock
        self.script_time_limit = script_time_limit
        self.listeners: list[Callable[[Change], None]] = []

    # --- commands ------------------------------------------------------------------------------------------

    def start(self, process_id: str, username: str, data: dict | None = None) -> CommandResult:
        """Start the latest version of a process with the start form's data."""
        return self._start(process_id, username, data, started_by_process=False)

    def _start(self, process_id: str, username: str, data: dict | None, started_by_process: bool,
               on_behalf_of: str | None = None) -> CommandResult:
        """A person's start is checked against the start lane and form; a process's follow-up start is trusted, and
        may be on behalf of another person, whose instance it then is (`started_by`; `started_on_behalf_by` in the
        data and the audit event's actor name who started it)."""
        now = self.clock.now()
        with self._command("instance.started", username) as (session, change):
            version = self.repository.latest(session, process_id)
            compiled = self.repository.compiled(session, version.id)
            owner, extra = username, {}
            if started_by_process:
                clean = dict(data or {})
                behalf = find_user(session, on_behalf_of) if on_behalf_of and on_behalf_of != username else None
                if behalf is not None and behalf.active:
                    owner, extra = behalf.username, {"started_on_behalf_by": username}
            else:
                user = require_user(session, username)
                start = next((e for e in compiled.elements.values() if e.kind == "start"), None)
                if start is not None and start.role_id and start.role_id not in user.role_ids:
                    raise self._deny(session, user, "start", f"Only a {start.lane} can start '{compiled.name}'")
                clean = clean_submission(compiled.form_schema(compiled.start_form), data)
            instance = Instance(process_version_id=version.id, process_id=process_id, status="running",
                                started_by=owner, started_at=now, updated_at=now, workflow_state="", facts={})
            session.add(instance)
            session.flush()
            workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs,
                                    script_engine=self._script_engine(session, compiled, now, instance.id))
            workflow.task_tree.data.update(clean, started_by=owner, started_at=now.isoformat(),
                                           instance_id=instance.id, **extra)
            self._run(workflow.do_engine_steps)
            audit.record(session, now, username, "instance.started", instance_id=instance.id,
                         process_id=process_id, version=version.version, data=clean,
                         by_process=started_by_process or None, on_behalf_of=owner if extra else None)
            if not started_by_process:
                attach_submitted(session, now, compiled.form_schema(compiled.start_form), clean, username, instance.id)
            change.instance_id = instance.id
            return self._save(session, instance, workflow, compiled, username, now, change)

    def claim(self, task_id: str, username: str) -> None:
        """Take an unclaimed task of one of my roles, so that the others in the role see it is taken."""
        now = self.clock.now()
        with self._command("task.claimed", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            self._authorise_act(session, user, row)
            if row.claimed_by == username:
                return
            claimed = session.execute(update(HumanTask).where(HumanTask.id == task_id, HumanTask.claimed_by.is_(None),
                                                              HumanTask.status == "ready")
                                      .values(claimed_by=username)).rowcount
            if not claimed:
                raise Conflict(f"'{row.name}' was claimed by {row.claimed_by} first")
            change.instance_id = row.instance_id
            audit.record(session, now, username, "task.claimed", instance_id=row.instance_id, task_id=task_id,
                         element_id=row.element_id)

    def unclaim(self, task_id: str, username: str) -> None:
        """Give a claimed task back to its role; the holder, a PMO or an admin may do it."""
        now = self.clock.now()
        with self._command("task.unclaimed", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            if row.claimed_by is None:
                return
            if row.claimed_by != username and not user.role_ids & {"pmo", "admin"}:
                raise self._deny(session, user, "unclaim", f"'{row.name}' is claimed by {row.claimed_by}; "
                                 "only they, a PMO or an admin can release it", row)
            previous, row.claimed_by = row.claimed_by, None
            change.instance_id = row.instance_id
            audit.record(session, now, username, "task.unclaimed", instance_id=row.instance_id, task_id=task_id,
                         element_id=row.element_id, previous_holder=previous)

    def reassign(self, task_id: str, username: str, to_username: str) -> None:
        """A PMO or an admin gives a task to someone who holds its role."""
        now = self.clock.now()
        with self._command("task.reassigned", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            if not user.role_ids & {"pmo", "admin"}:
                raise self._deny(session, user, "reassign", "Only a PMO or an admin can reassign tasks", row)
            target = require_user(session, to_username)
            if not self._eligible(session, target, row):
                raise Forbidden(f"{target.display_name} cannot do '{row.name}': it needs the {row.lane} role")
            previous, row.claimed_by = row.claimed_by, to_username
            change.instance_id = row.instance_id
            change.details["assigned_to"] = to_username
            change.details["task_id"] = task_id
            audit.record(session, now, username, "task.reassigned", instance_id=row.instance_id, task_id=task_id,
                         element_id=row.element_id, previous_holder=previous, new_holder=to_username)

    def complete(self, task_id: str, username: str, data: dict | None = None) -> CommandResult:
        """Submit a task's form: checked against its schema on the server, then the process moves on."""
        now = self.clock.now()
        stale_message = None
        with self._command("task.completed", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            self._authorise_act(session, user, row)
            if row.claimed_by and row.claimed_by != username:
                raise self._deny(session, user, "complete", f"'{row.name}' is claimed by {row.claimed_by}", row)
            instance = self._lock_instance(session, row.instance_id)
            if not self.db.is_sqlite:  # SQLite read it under the write lock already (BEGIN IMMEDIATE)
                session.refresh(row)  # re-read under the row lock: someone may have completed it meanwhile
            if row.status != "ready":
                raise Conflict(f"'{row.name}' was {row.status} by {row.completed_by or 'the process'} just now; "
                               "your answers were not applied")
            compiled = self.repository.compiled(session, instance.process_version_id)
            info = compiled.elements.get(row.element_id)
            schema = compiled.form_schema(info.form if info else row.form)
            clean = clean_submission(schema, data)
            workflow = self._load(session, instance, compiled, now, change)
            self._fire_due(workflow)
            task = _find_task(workflow, task_id)
            change.instance_id = instance.id
            if task is None or task.state != TaskState.READY:
                stale_message = (f"'{row.name}' is no longer open (a deadline passed or the process moved on); "
                                 "your answers were not applied")
                self._save(session, instance, workflow, compiled, username, now, change)
            else:
                task.set_data(**clean)
                self._run(task.run)
                self._run(workflow.do_engine_steps)
                row.status, row.completed_at, row.completed_by = "completed", now, username
                row.claimed_by = row.claimed_by or username
                audit.record(session, now, username, "task.completed", instance_id=instance.id, task_id=task_id,
                             element_id=row.element_id, data=clean)
                attach_submitted(session, now, schema, clean, username, instance.id)
                result = self._save(session, instance, workflow, compiled, username, now, change,
                                    completed_task_id=task_id)
                next_task = self._next_task_for(session, user, change)
                return CommandResult(**{**result.__dict__, "next_task_id": next_task})
        raise Conflict(stale_message)

    def send_message(self, instance_id: int, message: str, username: str, data: dict | None = None) -> CommandResult:
        """Deliver a message the instance is waiting for (a consultation response, a withdrawal…)."""
        return self._deliver(MESSAGE, instance_id, message, username, data)

    def send_signal(self, instance_id: int, signal: str, username: str, data: dict | None = None) -> CommandResult:
        """Broadcast a signal to an instance that waits for it; every catch waiting for it receives it."""
        return self._deliver(SIGNAL, instance_id, signal, username, data)

    def _deliver(self, kind: str, instance_id: int, name: str, username: str, data: dict | None) -> CommandResult:
        now = self.clock.now()
        words = ("" if kind == MESSAGE else f"the {kind} ") + f"'{name.replace('_', ' ')}'"
        with self._command(f"{kind}.received", username) as (session, change):
            user = require_user(session, username)
            instance = self._lock_instance(session, instance_id)
            label = instance.reference or f"Instance {instance_id}"
            waits = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance_id,
                                                              MessageWait.kind == kind,
                                                              MessageWait.message == name)).all()
            if not waits:
                raise Conflict(f"{label} is not accepting {words} now")
            allowed = [w for w in waits if self._eligible_for_wait(user, w)]
            if not allowed:
                raise self._deny(session, user, name, f"You cannot send {words} to {label}",
                                 instance_id=instance_id)
            compiled = self.repository.compiled(session, instance.process_version_id)
            schema = compiled.form_schema(allowed[0].form)
            clean = clean_submission(schema, data)
            payload = dict(clean, sent_by=username, sent_at=now.isoformat())
            workflow = self._load(session, instance, compiled, now, change)
            self._fire_due(workflow)
            definition = SpiffMessage(name) if kind == MESSAGE else SpiffSignal(name)
            try:
                workflow.send_event(BpmnEvent(definition, payload=payload))
            except SpiffWorkflowException:
                raise Conflict(f"{label} stopped waiting for {words}")
            carry_subprocess_data(workflow)
            self._run(workflow.do_engine_steps)
            audit.record(session, now, username, f"{kind}.received", instance_id=instance_id,
                         element_id=allowed[0].element_id, **{kind: name}, data=clean)
            attach_submitted(session, now, schema, clean, username, instance_id)
            change.instance_id = instance_id
            return self._save(session, instance, workflow, compiled, username, now, change)

    def withdraw(self, instance_id: int, username: str, reason: str = "") -> CommandResult:
        """The raiser withdraws: delivered as the process's `withdraw` message, so the diagram decides when."""
        return self.send_message(instance_id, "withdraw", username, {"reason": reason} if reason else {})

    # --- timers --------------------------------------------------------------------------------------------

    def due_timers(self, at: datetime | None = None, limit: int = 1000) -> list[tuple[int, int, datetime]]:
        """(timer id, instance id, due time) of waiting timers due at `at`, oldest first."""
        at = at or self.clock.now()
        with self.db.read() as session:
            rows = session.execute(
                select(Timer.id, Timer.instance_id, Timer.due_at)
                .where(Timer.status == "waiting", Timer.due_at <= at)
                .where((Timer.next_attempt_at.is_(None)) | (Timer.next_attempt_at <= at))
                .order_by(Timer.due_at, Timer.id).limit(limit)).all()
        return [tuple(r) for r in rows]

    def fire_due_timers(self, at: datetime | None = None, limit: int = 1000) -> list[dict]:
        """Fire every timer due at `at` (default now), oldest first; each instance in its own transaction."""
        at = at or self.clock.now()
        fired, seen = [], set()
        for _timer_id, instance_id, _due in self.due_timers(at, limit):
            if instance_id in seen:
                continue
            seen.add(instance_id)
            outcome = self.fire_instance_timers(instance_id, at)
            if outcome:
                fired.append(outcome)
        return fired

    def fire_instance_timers(self, instance_id: int, at: datetime) -> dict | None:
        """Claim this instance's due timers atomically and run them; None if another scheduler got there first.
        A failure is recorded on the timers (retried with backoff, then an incident), never dropped."""
        try:
            with self._command("timer.fired", "system") as (session, change):
                claimed = session.execute(
                    update(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting",
                                        Timer.due_at <= at)
                    .values(status="firing", attempts=Timer.attempts + 1)).rowcount
                if not claimed:
                    return None
                instance = self._lock_instance(session, instance_id)
                compiled = self.repository.compiled(session, instance.process_version_id)
                workflow = self._load(session, instance, compiled, at, change)
                before = {t.task_id: t for t in waiting_timers(workflow) if t.due_at <= at}
                self._fire_due(workflow)
                change.instance_id = instance_id
                result = self._save(session, instance, workflow, compiled, "system", at, change)
                session.execute(update(Timer).where(Timer.instance_id == instance_id, Timer.status == "firing")
                                .values(status="waiting"))
                return {"instance_id": instance_id, "reference": result.reference, "state": result.state,
                        "timers": [{"element_id": t.element_id, "name": t.name, "due_at": t.due_at.isoformat()}
                                   for t in before.values()]}
        except (Conflict, StaleDataError):
            return None
        except Exception as err:  # a failing step: keep the timer, back off, then raise an incident
            self._record_timer_failure(instance_id, at, err)
            return {"instance_id": instance_id, "error": str(err)}

    def _record_timer_failure(self, instance_id: int, at: datetime, err: Exception) -> None:
        with self.db.write() as session:
            rows = session.scalars(select(Timer).where(Timer.instance_id == instance_id, Timer.status == "waiting",
                                                       Timer.due_at <= at)).all()
            for row in rows:
                row.attempts += 1
                row.last_error = f"{type(err).__name__}: {err}"
                if row.attempts >= MAX_TIMER_ATTEMPTS:
                    row.status = "failed"
                    incidents.open_incident(
                        session, at, "timer_failed",
                        f"The timer '{row.name or row.element_id}' failed {row.attempts} times and stopped: "
                        f"{row.last_error}. Fix the cause, then retry it.",
                        instance_id=instance_id, element_ids=[row.element_id], command="timer.fired",
                        actor="system", timer_id=row.id, attempts=row.attempts, last_error=row.last_error)
                else:
                    row.next_attempt_at = at + timedelta(seconds=30 * 2 ** (row.attempts - 1))
                audit.record(session, at, "system", "timer.failed" if row.status == "failed" else "timer.retrying",
                             instance_id=instance_id, element_id=row.element_id, error=row.last_error,
                             attempts=row.attempts)

    # --- the parts of a command ----------------------------------------------------------------------------

    class _CommandScope:
        def __init__(self, runtime: "Runtime", action: str, actor: str):
            self.runtime, self.change = runtime, Change(action, actor, None, runtime.clock.now())

        def __enter__(self):
            self._ctx = self.runtime.db.write()
            self._session = self._ctx.__enter__()
            return self._session, self.change

        def __exit__(self, exc_type, exc, tb):
            followups = self._session.info.pop("followups", [])
            try:
                suppressed = self._ctx.__exit__(exc_type, exc, tb)
            except StaleDataError:
                raise Conflict("Someone else changed this process at the same moment; nothing of yours was "
                               "saved. Reload and try again.")
            if isinstance(exc, Forbidden) and getattr(exc, "denial", None):
                self.runtime._record_denial(exc.denial)
            if exc_type is StaleDataError:
                raise Conflict("Someone else changed this process at the same moment; nothing of yours was "
                               "saved. Reload and try again.") from exc
            if exc_type is None:
                for process_id, data, on_behalf_of in followups:
                    self.runtime._start(process_id, self.change.actor, data, started_by_process=True,
                                        on_behalf_of=on_behalf_of)
                for listener in self.runtime.listeners:
                    try:
                        listener(self.change)
                    except Exception:  # a listener never undoes a committed command
                        log.exception("listener failed after %s", self.change.action)
            return suppressed

    def _record_denial(self, denial: dict) -> None:
        with self.db.write() as session:
            d = dict(denial)
            audit.record(session, self.clock.now(), d.pop("actor"), "access.denied", instance_id=d.pop("instance_id"),
                         task_id=d.pop("task_id"), element_id=d.pop("element_id"), **d)

    def _command(self, action: str, actor: str) -> "_CommandScope":
        return Runtime._CommandScope(self, action, actor)

    def _script_engine(self, session: Session, compiled: CompiledProcess, now: datetime,
                       instance_id: int | None = None):
        clock = Clock(now)
        engine = make_script_engine(
            script_functions(session, clock, compiled.settings, compiled.process_id, instance_id=instance_id),
            time_limit=self.script_time_limit)
        engine.clock = clock
        return engine

    def _load(self, session: Session, instance: Instance, compiled: CompiledProcess, now: datetime,
              change: Change) -> BpmnWorkflow:
        if instance.status not in ("running",):
            raise Conflict(f"{instance.reference or 'Instance ' + str(instance.id)} is {instance.status}")
        workflow = load_state(instance.workflow_state, compiled.spec, compiled.subprocess_specs,
                              self._script_engine(session, compiled, now, instance.id))
        change.before = snapshot(workflow)
        change.finished = finished_ids(workflow)
        return workflow

    def _fire_due(self, workflow: BpmnWorkflow) -> None:
        self._run(workflow.refresh_timers)
        carry_subprocess_data(workflow)
        self._run(workflow.do_engine_steps)

    @staticmethod
    def _run(step: Callable[[], Any]) -> None:
        try:
            step()
        except SpiffWorkflowException as err:
            raise ProcessError(_describe_process_error(err)) from err

    def _lock_instance(self, session: Session, instance_id: int) -> Instance:
        instance = session.get(Instance, instance_id, with_for_update=INSTANCE_ROW_LOCK if not self.db.is_sqlite else False)
        if instance is None:
            raise NotFound(f"There is no instance {instance_id}")
        return instance

    @staticmethod
    def _open_task(session: Session, task_id: str) -> HumanTask:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"There is no task {task_id}")
        if row.status != "ready":
            who = f" by {row.completed_by}" if row.completed_by else ""
            raise Conflict(f"'{row.name}' was already {row.status}{who}")
        return row

    @staticmethod
    def _eligible(session: Session, user: User, row: HumanTask) -> bool:
        groups = groups_of(session, user) if row.group_id and not row.assignee else None
        return may_act(user, row, groups)

    @staticmethod
    def _eligible_for_wait(user: User, wait: MessageWait) -> bool:
        if wait.assignee:
            return wait.assignee == user.username
        return wait.role_id is None or wait.role_id in user.role_ids

    def _authorise_act(self, session: Session, user: User, row: HumanTask) -> None:
        if not self._eligible(session, user, row):
            need = (f"it is assigned to {row.assignee}" if row.assignee else
                    f"it needs the {row.lane} role" + (f" in {row.group_id}" if row.group_id else ""))
            raise self._deny(session, user, "act", f"You cannot act on '{row.name}': {need}", row)

    def _deny(self, session: Session, user: User, attempted: str, message: str, row: HumanTask | None = None,
              instance_id: int | None = None) -> Forbidden:
        """The refusal to raise; the command scope records it in its own transaction after the rollback."""
        error = Forbidden(message)
        error.denial = dict(actor=user.username, instance_id=row.instance_id if row else instance_id,
                            task_id=row.id if row else None, element_id=row.element_id if row else None,
                            attempted=attempted, reason=message)
        return error

    def _save(self, session: Session, instance: Instance, workflow: BpmnWorkflow, compiled: CompiledProcess,
              actor: str, now: datetime, change: Change, completed_task_id: str | None = None) -> CommandResult:
        """Derive the rows that mirror the workflow (only what changed since it was loaded), prune, store."""
        data = current_data(workflow)
        after = snapshot(workflow)
        change.created_tasks = self._sync_human_tasks(session, instance, workflow, compiled, now, actor,
                                                      change.before, after, completed_task_id)
        change.new_task_ids = [row.id for row in change.created_tasks]
        drop_drafts(session, [task_id for task_id in change.before.ready if task_id not in after.ready])
        change.timers_changed = self._sync_timers(session, instance, workflow, now, actor, change.before, after)
        self._sync_message_waits(session, instance, workflow, compiled, change.before, after)
        record_passages(session, instance.id, workflow, change.finished, now)
        prune_history(workflow, move_back_window(compiled.settings))
        instance.workflow_state = dump_state(workflow)
        instance.facts = _plain(data)
        instance.reference = _text(data.get("reference"), 40) or instance.reference
        instance.title = _text(data.get("title"), 300) or instance.title
        instance.state = _text(data.get("state"), 60) or instance.state
        instance.updated_at = now
        if workflow.completed and instance.status == "running":
            instance.status, instance.ended_at = "completed", now
            audit.record(session, now, actor, "instance.completed", instance_id=instance.id, state=instance.state)
        elif instance.status == "running" and after.waits_for_nothing:
            self._report_stranded(session, instance, workflow, actor, now, change)
        session.flush()
        return CommandResult(instance.id, instance.status, instance.state, instance.reference,
                             new_task_ids=tuple(change.new_task_ids))

    @staticmethod
    def _report_stranded(session: Session, instance: Instance, workflow: BpmnWorkflow, actor: str, now: datetime,
                         change: Change) -> None:
        """A running instance that waits for nothing can never move again: open an incident (once) naming where it
        stopped and the command that left it there."""
        if incidents.is_open(session, "stranded", instance.id):
            return
        stopped_at = sorted({t.task_spec.bpmn_id for t in live_tasks(workflow) if t.task_spec.bpmn_id})
        where = ", ".join(stopped_at) or "no element"
        incidents.open_incident(
            session, now, "stranded",
            f"{instance.reference or instance.process_id + ' #' + str(instance.id)} is running but has no open task, "
            f"no waiting timer and no message or signal it can accept: it stopped at {where}.",
            instance_id=instance.id, element_ids=stopped_at, command=change.action, actor=actor)

    def _sync_human_tasks(self, session: Session, instance: Instance, workflow: BpmnWorkflow,
                          compiled: CompiledProcess, now: datetime, actor: str, before: Snapshot, after: Snapshot,
                          completed_task_id: str | None) -> list[str]:
        gone = [task_id for task_id in before.ready if task_id not in after.ready and task_id != completed_task_id]
        holders = {}
        if gone:
            holders = {element: holder for element, holder in session.execute(
                select(HumanTask.element_id, HumanTask.claimed_by).where(HumanTask.id.in_(gone),
                                                                          HumanTask.claimed_by.is_not(None)))}
            session.execute(update(HumanTask).where(HumanTask.id.in_(gone), HumanTask.status == "ready")
                            .values(status="cancelled", completed_at=now))
            for task_id in gone:
                audit.record(session, now, actor, "task.cancelled", instance_id=instance.id, task_id=task_id,
                             element_id=before.ready[task_id])
        created = []
        for task_id in after.ready:
            if task_id in before.ready:
                continue
            task = workflow.get_task_from_id(UUID(task_id))
            spec = task.task_spec
            info = compiled.elements.get(spec.bpmn_id) or _bare_info(spec.bpmn_id or spec.name, spec.bpmn_name or spec.name)
            row = HumanTask(id=task_id, instance_id=instance.id, process_id=instance.process_id,
                            element_id=info.element_id, name=info.name, lane=info.lane, role_id=info.role_id,
                            assignee=_evaluate_text(workflow, task, info.assignee_expression, "assignee"),
                            group_id=_evaluate_text(workflow, task, info.group_expression, "group"),
                            form=info.form, status="ready",
                            due_at=_evaluate_moment(workflow, task, info.due_expression),
                            claimed_by=holders.get(info.element_id), created_at=now)
            session.add(row)
            created.append(row)
            audit.record(session, now, actor, "task.created", instance_id=instance.id, task_id=task_id,
                         element_id=info.element_id, role=info.role_id, assignee=row.assignee, group=row.group_id,
                         due_at=row.due_at)
            if row.due_at is not None and row.due_at <= now:
                incidents.open_incident(
                    session, now, "created_overdue",
                    f"'{row.name}' was created already overdue: due {row.due_at.isoformat()}, created "
                    f"{now.isoformat()}. Check the dueDate of element {info.element_id} and the settings it uses.",
                    instance_id=instance.id, element_ids=[info.element_id], command="task.created",
                    actor=actor, task_id=task_id)
        return created

    def _sync_timers(self, session: Session, instance: Instance, workflow: BpmnWorkflow, now: datetime,
                     actor: str, before: Snapshot, after: Snapshot) -> bool:
        gone = before.timers - after.timers
        fired = [tid for tid in gone if (task := _find_task(workflow, tid)) is not None
                 and task.state == TaskState.COMPLETED]
        cancelled = [tid for tid in gone if tid not in fired]
        for task_ids, status in ((fired, "fired"), (cancelled, "cancelled")):
            if task_ids:
                session.execute(update(Timer).where(Timer.instance_id == instance.id, Timer.task_id.in_(task_ids),
                                                    Timer.status.in_(("waiting", "firing")))
                                .values(status=status, fired_at=now if status == "fired" else None))
        for task_id in gone:
            task = _find_task(workflow, task_id)
            audit.record(session, now, actor, "timer.fired" if task_id in fired else "timer.cancelled",
                         instance_id=instance.id, task_id=task_id,
                         element_id=task.task_spec.bpmn_id if task is not None else None)
        new = [t for t in waiting_timers(workflow) if t.task_id not in before.timers]
        for timer in new:
            session.add(Timer(instance_id=instance.id, task_id=timer.task_id, element_id=timer.element_id,
                              name=timer.name, due_at=timer.due_at, status="waiting"))
        return bool(gone or new)

    def _sync_message_waits(self, session: Session, instance: Instance, workflow: BpmnWorkflow,
                            compiled: CompiledProcess, before: Snapshot, after: Snapshot) -> None:
        """Mirror the messages and signals waited for in `message_wait` rows (who may send each, with which form)."""
        for kind, name, element_id in before.messages - after.messages:
            session.execute(delete(MessageWait).where(MessageWait.instance_id == instance.id,
                                                      MessageWait.kind == kind, MessageWait.message == name,
                                                      MessageWait.element_id == element_id))
        added = set(before.messages)
        for wait in waits(workflow):
            key = (wait.kind, wait.event, wait.element_id)
            if wait.kind == TIMER or key in added:
                continue
            added.add(key)
            task = workflow.get_task_from_id(UUID(wait.task_id)) if wait.task_id else workflow.task_tree
            info = compiled.elements.get(wait.element_id) or _bare_info(wait.element_id, wait.name, wait.kind)
            session.add(MessageWait(instance_id=instance.id, kind=wait.kind, message=wait.event,
                                    element_id=wait.element_id, name=info.name, role_id=info.role_id, form=info.form,
                                    assignee=_evaluate_text(workflow, task, info.assignee_expression, "assignee")))

    def _next_task_for(self, session: Session, user: User, change: Change) -> str | None:
        """The first task this command created that the same person may do next."""
        for row in change.created_tasks:
            if self._eligible(session, user, row):
                return row.id
        return None


# --- reading a workflow ----------------------------------------------------------------------------------------


def current_data(workflow: BpmnWorkflow) -> dict:
    """The instance's record: the data of its most recently changed live task (or the final data), with the
    process's data objects (state shared by every branch, such as an overdue flag) laid over it."""
    if workflow.completed:
        data = dict(workflow.data)
    else:
        live = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING) if t.data]
        if live:
            data = dict(max(live, key=lambda t: t.last_state_change).data)
        else:
            data = dict(workflow.last_task.data) if workflow.last_task is not None else {}
    data_objects = data.pop("data_objects", None) or workflow.data.get("data_objects") or {}
    data.update({k: v for k, v in data_objects.items() if v is not None})
    return data


def live_tasks(workflow: BpmnWorkflow) -> list:
    """Every task of the workflow and its subprocesses that is neither finished nor only predicted."""
    found = []
    for each in [workflow, *workflow.subprocesses.values()]:
        found.extend(t for t in each.tasks.values() if t.state & (TaskState.READY | TaskState.WAITING | TaskState.STARTED))
    return found


CARRY_DATA_PROPERTY = "carrySubprocessData"


def carry_subprocess_data(workflow: BpmnWorkflow) -> None:
    """An interrupting boundary event with the property `carrySubprocessData` = `true` that has just caught on a
    subprocess (a withdrawal) takes the subprocess's latest data with it; without it the path goes on, as in
    SpiffWorkflow, with the data the subprocess started with."""
    for task in workflow.get_tasks(state=TaskState.READY):
        spec = task.task_spec
        if not isinstance(spec, BoundaryEvent) or not spec.cancel_activity or task.parent is None:
            continue
        properties = (getattr(spec, "extensions", None) or {}).get("properties") or {}
        if str(properties.get(CARRY_DATA_PROPERTY, "")).lower() != "true":
            continue
        for sibling in task.parent.children:
            subprocess = workflow.subprocesses.get(sibling.id)
            if subprocess is None or subprocess.completed:
                continue
            task.data = {**task.data, **current_data(subprocess)}  # the payload is added when the event runs


def _find_task(workflow: BpmnWorkflow, task_id: str):
    """The live Spiff task with this id, or None when it is gone (finished and pruned)."""
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except TaskNotFoundException:
        return None


def _bare_info(element_id: str, name: str, kind: str = "user_task") -> ElementInfo:
    """What govflow knows of an element the compiled version has no entry for: its id and name."""
    return ElementInfo(element_id=element_id, name=name, kind=kind,
                       lane=None, role_id=None, form=None, instructions="", due_expression=None,
                       assignee_expression=None)


def _evaluate_text(workflow: BpmnWorkflow, task, expression: str | None, what: str) -> str | None:
    if not expression:
        return None
    try:
        value = workflow.script_engine.evaluate(task, expression)
    except SpiffWorkflowException as err:
        raise ProcessError(f"the {what} of '{task.task_spec.bpmn_name}' ({expression}) failed: {err}") from err
    return str(value) if value not in (None, "") else None


def _evaluate_moment(workflow: BpmnWorkflow, task, expression: str | None) -> datetime | None:
    if not expression:
        return None
    try:
        value = workflow.script_engine.evaluate(task, expression)
    except SpiffWorkflowException as err:
        raise ProcessError(f"the due date of '{task.task_spec.bpmn_name}' ({expression}) failed: {err}") from err
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise ProcessError(f"the due date of '{task.task_spec.bpmn_name}' must be a date and time with a zone, "
                       f"not {value!r}")


def _describe_process_error(err: SpiffWorkflowException) -> str:
    task = getattr(err, "task", None)
    where = f" at '{task.task_spec.bpmn_name or task.task_spec.name}'" if task is not None else ""
    return f"The process could not continue{where}: {err}"


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _plain(data: dict) -> dict:
    """Task data as plain JSON for the record (dates as ISO text)."""
    return audit._jsonable({k: v for k, v in data.items() if not str(k).startswith("_")})
