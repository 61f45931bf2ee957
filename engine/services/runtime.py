"""The RuntimeService: start, claim, complete, message, withdraw and fire timers — one transaction per command.

Every command loads the instance (locked on PostgreSQL, IMMEDIATE on SQLite, version-checked on both), first fires
any timer already due on the command's clock, runs the engine, then saves the instance's own state, the derived
human-task, timer and message rows and the audit events, and commits. Listeners run after the commit.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn import acceptance
from engine.bpmn.definitions import CompiledProcess
from engine.bpmn.execution import Execution
from engine.bpmn.waits import MESSAGE, SIGNAL, TIMER
from engine.delivery import outbox
from engine.delivery.outbox import Effect
from engine.clock import Clock
from engine.errors import Conflict, Forbidden, NotFound
from engine.observability.instruments import TIMER_FIRE_LAG_SECONDS
from engine.services import incidents, instance_rows, submission
from engine.services.attachments import attach_submitted
from engine.services.commands import Change, CommandResult, Commands, deny
from engine.services.diagram_functions import script_functions
from engine.governance.policy import REASSIGN, policy_of
from engine.services.identity import find_user, require_user
from engine.services.repository import Repository
from engine.store import audit
from engine.store.db import Database
from engine.store.models import HumanTask, Instance, MessageWait, Timer, User

_TASK_WITH_INSTANCE = (select(HumanTask).options(joinedload(HumanTask.instance, innerjoin=True))
                       .where(HumanTask.id == bindparam("task_id")))

MAX_TIMER_ATTEMPTS = 5


class Runtime:
    """Runs process instances. Every public method is one command and one transaction."""

    def __init__(self, db: Database, repository: Repository, clock: Clock, script_time_limit: float = 1.0):
        self.db = db
        self.repository = repository
        self.clock = clock
        self.script_time_limit = script_time_limit
        self.commands = Commands(db, clock)

    @property
    def listeners(self):
        """Called with each committed command's Change (notifications, the scheduler)."""
        return self.commands.listeners

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
            return self._start_in(session, change, now, process_id, username, data, started_by_process,
                                  on_behalf_of)

    def start_followup(self, effect: Effect) -> CommandResult | None:
        """Deliver a `start_process` effect from the outbox: the start and the claim of the effect are one
        transaction, so the follow-up starts exactly once however many deliverers try (None: already done)."""
        now = self.clock.now()
        payload = effect.payload
        with self._command("instance.started", effect.actor or "system") as (session, change):
            if not outbox.claim(session, effect.id, now):
                return None
            return self._start_in(session, change, now, payload["process"], effect.actor or "system",
                                  payload.get("data") or {}, True, payload.get("on_behalf_of"))

    def _start_in(self, session: Session, change: Change, now: datetime, process_id: str, username: str,
                  data: dict | None, started_by_process: bool, on_behalf_of: str | None) -> CommandResult:
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
            if start is not None and not policy_of(session).may_start(user, start.role_id):
                raise deny(user, "start", f"Only a {start.lane or 'party'} can start '{compiled.name}'")
            clean = submission.validated(session, now, username, compiled.form_schema(compiled.start_form),
                                         compiled.settings, data)
        instance = Instance(process_version_id=version.id, process_id=process_id, status="running",
                            started_by=owner, started_at=now, updated_at=now, workflow_state="", facts={})
        session.add(instance)
        session.flush()
        execution = Execution.new(compiled, self._functions(session, compiled, now, instance.id, username), now,
                                  dict(clean, started_by=owner, started_at=now.isoformat(),
                                       instance_id=instance.id, **extra), self.script_time_limit)
        audit.record(session, now, username, "instance.started", instance_id=instance.id,
                     process_id=process_id, version=version.version, data=clean,
                     by_process=started_by_process or None, on_behalf_of=owner if extra else None)
        if not started_by_process:
            attach_submitted(session, now, compiled.form_schema(compiled.start_form), clean, username, instance.id)
        change.instance_id = instance.id
        return instance_rows.save(session, instance, execution, username, now, change)

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
        """Give a claimed task back to its role; its holder may, and whoever may reassign (the PMO, admins)."""
        now = self.clock.now()
        with self._command("task.unclaimed", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            if row.claimed_by is None:
                return
            if row.claimed_by != username and not policy_of(session).allows(user, REASSIGN):
                raise deny(user, "unclaim", f"'{row.name}' is claimed by {row.claimed_by}; only they or "
                           f"{policy_of(session).names_with(REASSIGN)} can release it", row)
            previous, row.claimed_by = row.claimed_by, None
            change.instance_id = row.instance_id
            audit.record(session, now, username, "task.unclaimed", instance_id=row.instance_id, task_id=task_id,
                         element_id=row.element_id, previous_holder=previous)

    def reassign(self, task_id: str, username: str, to_username: str) -> None:
        """Whoever may reassign (the PMO, admins) gives a task to someone who may act on it."""
        now = self.clock.now()
        with self._command("task.reassigned", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id)
            if not policy_of(session).allows(user, REASSIGN):
                raise deny(user, "reassign", f"Only {policy_of(session).names_with(REASSIGN)} can reassign tasks",
                           row)
            target = require_user(session, to_username)
            if not self._eligible(session, target, row):
                raise Forbidden(f"{target.display_name} cannot do '{row.name}': it needs the {row.lane} role")
            previous, row.claimed_by = row.claimed_by, to_username
            change.instance_id = row.instance_id
            change.details["assigned_to"] = to_username
            change.details["task_id"] = task_id
            outbox.enqueue(session, now, "announce_assignment", {"username": to_username, "task_id": task_id},
                           instance_id=row.instance_id, actor=username)
            audit.record(session, now, username, "task.reassigned", instance_id=row.instance_id, task_id=task_id,
                         element_id=row.element_id, previous_holder=previous, new_holder=to_username)

    def complete(self, task_id: str, username: str, data: dict | None = None,
                 authorise: Callable[[Session, User, HumanTask], None] | None = None) -> CommandResult:
        """Submit a task's form: checked against its schema on the server, then the process moves on. `authorise`
        replaces the lane's rule when another part of the policy lets this person act (the secretariat recording a
        group's decision at its meeting); it raises Forbidden to refuse."""
        now = self.clock.now()
        stale_message = None
        with self._command("task.completed", username) as (session, change):
            user = require_user(session, username)
            row = self._open_task(session, task_id, with_instance=True)
            (authorise or self._authorise_act)(session, user, row)
            if row.claimed_by and row.claimed_by != username:
                raise deny(user, "complete", f"'{row.name}' is claimed by {row.claimed_by}", row)
            instance = self._lock_instance(session, row.instance_id)
            if not self.db.is_sqlite:  # SQLite read it under the write lock already (BEGIN IMMEDIATE)
                session.refresh(row)  # re-read under the row lock: someone may have completed it meanwhile
            if row.status != "ready":
                raise Conflict(f"'{row.name}' was {row.status} by {row.completed_by or 'the process'} just now; "
                               "your answers were not applied")
            compiled = self.repository.compiled(session, instance.process_version_id)
            info = compiled.elements.get(row.element_id)
            schema = compiled.form_schema(info.form if info else row.form)
            submission.claim_if_asked(session, now, username, row, data)
            clean = submission.validated(session, now, username, schema, compiled.settings, data,
                                         instance_id=instance.id, task_id=task_id)
            execution = self.load(session, instance, compiled, now, change)
            execution.fire_due()
            change.instance_id = instance.id
            if not execution.is_ready(task_id):
                stale_message = (f"'{row.name}' is no longer open (a deadline passed or the process moved on); "
                                 "your answers were not applied")
                instance_rows.save(session, instance, execution, username, now, change)
            else:
                execution.complete(task_id, clean)
                instance_rows.mark_completed(session, row, username, now)
                audit.record(session, now, username, "task.completed", instance_id=instance.id, task_id=task_id,
                             element_id=row.element_id, data=clean)
                attach_submitted(session, now, schema, clean, username, instance.id)
                result = instance_rows.save(session, instance, execution, username, now, change,
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
            compiled = self.repository.compiled(session, instance.process_version_id)
            if not waits:
                raise Conflict(acceptance.closed_refusal(compiled, name, instance.facts or {})
                               or f"{label} is not accepting {words} now")
            allowed = [w for w in waits if policy_of(session).may_send(user, w)]
            if not allowed:
                raise deny(user, name, f"You cannot send {words} to {label}", instance_id=instance_id)
            catch = compiled.elements.get(allowed[0].element_id)
            if not acceptance.accepts(catch, instance.facts or {}, username):
                raise Conflict(acceptance.refusal(catch, instance.facts or {})
                               or f"{label} is not accepting {words} from you now")
            schema = compiled.form_schema(allowed[0].form)
            clean = submission.validated(session, now, username, schema, compiled.settings, data,
                                         instance_id=instance_id)
            payload = dict(clean, sent_by=username, sent_at=now.isoformat())
            execution = self.load(session, instance, compiled, now, change)
            execution.fire_due()
            if not execution.deliver(kind, name, payload):  # a deadline due meanwhile closed it
                raise Conflict(acceptance.closed_refusal(compiled, name, execution.record())
                               or f"{label} stopped waiting for {words}")
            audit.record(session, now, username, f"{kind}.received", instance_id=instance_id,
                         element_id=allowed[0].element_id, **{kind: name}, data=clean)
            attach_submitted(session, now, schema, clean, username, instance_id)
            change.instance_id = instance_id
            return instance_rows.save(session, instance, execution, username, now, change)

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
                execution = self.load(session, instance, compiled, at, change)
                before = {w.task_id: w for w in execution.waits() if w.kind == TIMER and w.due_at <= at}
                execution.fire_due()
                for wait in before.values():
                    TIMER_FIRE_LAG_SECONDS.observe(max((at - wait.due_at).total_seconds(), 0.0))
                change.instance_id = instance_id
                result = instance_rows.save(session, instance, execution, "system", at, change)
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

    def _command(self, action: str, actor: str):
        return self.commands.scope(action, actor)

    def _functions(self, session: Session, compiled: CompiledProcess, now: datetime, instance_id: int | None,
                   actor: str = "system"):
        """The functions the diagram's scripts may call, bound to this command's transaction, moment and actor."""
        return script_functions(session, Clock(now), compiled.settings, compiled.process_id, instance_id=instance_id,
                                actor=actor)

    def load(self, session: Session, instance: Instance, compiled: CompiledProcess, now: datetime,
             change: Change) -> Execution:
        """A running instance's execution for this command, with what it waited for noted on the change."""
        if instance.status not in ("running",):
            raise Conflict(f"{instance.reference or 'Instance ' + str(instance.id)} is {instance.status}")
        execution = Execution.restore(instance.workflow_state, compiled,
                                      self._functions(session, compiled, now, instance.id, change.actor), now,
                                      self.script_time_limit)
        change.before = execution.snapshot()
        return execution

    def _lock_instance(self, session: Session, instance_id: int) -> Instance:
        return self.commands.lock_instance(session, instance_id)

    @staticmethod
    def _open_task(session: Session, task_id: str, with_instance: bool = False) -> HumanTask:
        """The task, refused unless it is open; `with_instance` reads its instance in the same query (the lock
        that follows then finds it in the session on SQLite, and re-reads it under the row lock on PostgreSQL)."""
        if with_instance:
            row = session.scalars(_TASK_WITH_INSTANCE, {"task_id": task_id}).first()
        else:
            row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"There is no task {task_id}")
        if row.status != "ready":
            who = f" by {row.completed_by}" if row.completed_by else ""
            raise Conflict(f"'{row.name}' was already {row.status}{who}")
        return row

    @staticmethod
    def _eligible(session: Session, user: User, row: HumanTask) -> bool:
        return policy_of(session).may_act(session, user, row)

    def _authorise_act(self, session: Session, user: User, row: HumanTask) -> None:
        if not self._eligible(session, user, row):
            need = (f"it is assigned to {row.assignee}" if row.assignee else
                    f"it needs the {row.lane} role" + (f" in {row.group_id}" if row.group_id else ""))
            raise deny(user, "act", f"You cannot act on '{row.name}': {need}", row)

    def _next_task_for(self, session: Session, user: User, change: Change) -> str | None:
        """The first task this command created that the same person may do next."""
        for row in change.created_tasks:
            if self._eligible(session, user, row):
                return row.id
        return None
