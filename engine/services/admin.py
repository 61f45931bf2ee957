"""Administrative actions on one instance, each with a reason and an audit event: suspend, resume, terminate,
retry a failed timer, and move a stuck token back to an earlier user task still held in the instance's state (the last
`move_back_window` completed user tasks on each open path, see engine/bpmn/state.py).

Suspending parks the instance's open tasks and waiting timers (status `suspended`), so the inbox no longer offers the
tasks, the scheduler no longer fires the timers, and every command is refused (the runtime runs only `running`
instances). Resuming puts them back as they were; a timer that fell due meanwhile fires at the next scheduler tick.
Terminating ends the instance for good: open tasks and timers are cancelled, message waits dropped.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

from sqlalchemy import delete, select, update

from engine.delivery import outbox
from engine.store import audit
from engine.services import incidents
from engine.errors import Conflict, GovflowError, NotFound
from engine.services.identity import require_user
from engine.store.models import AuditEvent, HumanTask, Instance, MessageWait, Timer
from engine.services.commands import CommandResult
from engine.services.runtime import Runtime
from engine.bpmn.execution import Execution
from engine.bpmn.state import move_back_window
from engine.services import instance_rows
from engine.services.commands import deny
from engine.governance.policy import ADMINISTER, policy_of

MAX_REASON = 2000
MAX_UNAVAILABLE_SHOWN = 20


class ReasonMissing(GovflowError):
    status = 422


@dataclass(frozen=True)
class MoveTarget:
    """A completed user task offered for moving the token back: who completed it and when (from the audit trail),
    and whether it can be reopened (`why_not` says why not)."""

    task_id: str
    element_id: str
    name: str
    completed_by: str | None = None
    completed_at: datetime | None = None
    why_not: str | None = None

    @property
    def available(self) -> bool:
        return self.why_not is None


class InstanceAdmin:
    """The administrative commands over a runtime; each is one transaction, like the runtime's own."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    # --- status ------------------------------------------------------------------------------------------

    def suspend(self, instance_id: int, username: str, reason: str) -> str:
        return self._set_status(instance_id, username, reason, "instance.suspended", frm=("running",),
                                to="suspended", tasks=("ready", "suspended"), timers=("waiting", "suspended"))

    def resume(self, instance_id: int, username: str, reason: str) -> str:
        return self._set_status(instance_id, username, reason, "instance.resumed", frm=("suspended",),
                                to="running", tasks=("suspended", "ready"), timers=("suspended", "waiting"))

    def terminate(self, instance_id: int, username: str, reason: str) -> str:
        return self._set_status(instance_id, username, reason, "instance.terminated", frm=("running", "suspended"),
                                to="terminated", tasks=None, timers=None)

    def _set_status(self, instance_id: int, username: str, reason: str, action: str, *, frm: tuple[str, ...],
                    to: str, tasks: tuple[str, str] | None, timers: tuple[str, str] | None) -> str:
        reason = _reason(reason)
        now = self.runtime.clock.now()
        with self.runtime.commands.scope(action, username) as (session, change):
            self._authorise(session, username, action, instance_id)
            instance = self.runtime.commands.lock_instance(session, instance_id)
            if instance.status not in frm:
                raise Conflict(f"{_name(instance)} is {instance.status}: it cannot be "
                               f"{action.split('.')[1]}")
            details: dict = {}
            if to == "terminated":
                open_tasks = session.scalars(select(HumanTask).where(
                    HumanTask.instance_id == instance_id, HumanTask.status.in_(("ready", "suspended")))).all()
                for row in open_tasks:
                    row.status, row.completed_at = "cancelled", now
                    audit.record(session, now, username, "task.cancelled", instance_id=instance_id, task_id=row.id,
                                 element_id=row.element_id, reason=reason)
                open_timers = session.scalars(select(Timer).where(
                    Timer.instance_id == instance_id,
                    Timer.status.in_(("waiting", "suspended", "failed", "firing")))).all()
                for timer in open_timers:
                    timer.status = "cancelled"
                    audit.record(session, now, username, "timer.cancelled", instance_id=instance_id,
                                 task_id=timer.task_id, element_id=timer.element_id, reason=reason)
                session.execute(delete(MessageWait).where(MessageWait.instance_id == instance_id))
                instance.ended_at = now
                details = {"tasks_cancelled": len(open_tasks), "timers_cancelled": len(open_timers)}
                change.timers_changed = bool(open_timers)
            else:
                moved = session.execute(update(HumanTask).where(HumanTask.instance_id == instance_id,
                                                                HumanTask.status == tasks[0])
                                        .values(status=tasks[1])).rowcount
                parked = session.execute(update(Timer).where(Timer.instance_id == instance_id,
                                                             Timer.status == timers[0])
                                         .values(status=timers[1])).rowcount
                details = {"tasks": moved, "timers": parked}
                change.timers_changed = bool(parked)
            previous, instance.status, instance.updated_at = instance.status, to, now
            if to == "terminated":
                incidents.resolve_open(session, now, username, f"Instance terminated: {reason}",
                                       instance_id=instance_id)
            change.instance_id = instance_id
            audit.record(session, now, username, action, instance_id=instance_id, reason=reason,
                         previous_status=previous, **details)
            session.flush()
            return instance.status

    # --- timers ------------------------------------------------------------------------------------------

    def retry_timer(self, timer_id: int, username: str, reason: str) -> None:
        """Put a failed timer (an incident) back in the queue with a fresh count of attempts."""
        reason = _reason(reason)
        now = self.runtime.clock.now()
        with self.runtime.commands.scope("timer.retried", username) as (session, change):
            row = session.get(Timer, timer_id)
            if row is None:
                raise NotFound(f"There is no timer {timer_id}")
            self._authorise(session, username, "timer.retried", row.instance_id)
            if row.status != "failed":
                raise Conflict(f"Timer {timer_id} is {row.status}, not failed")
            instance = self.runtime.commands.lock_instance(session, row.instance_id)
            row.status = "waiting" if instance.status == "running" else "suspended"
            row.next_attempt_at, row.attempts, row.last_error = None, 0, None
            change.instance_id, change.timers_changed = row.instance_id, True
            audit.record(session, now, username, "timer.retried", instance_id=row.instance_id,
                         task_id=row.task_id, element_id=row.element_id, reason=reason)
            incidents.resolve_open(session, now, username, reason, kind="timer_failed", timer_id=timer_id)

    # --- effects ------------------------------------------------------------------------------------------

    def retry_effect(self, effect_id: int, username: str, reason: str) -> None:
        """Put a failed outbox effect (an incident) back in the queue with a fresh count of attempts."""
        reason = _reason(reason)
        now = self.runtime.clock.now()
        with self.runtime.commands.scope("effect.retried", username) as (session, change):
            self._authorise(session, username, "effect.retried", None)
            row = outbox.retry(session, effect_id, now)
            if row is None:
                raise Conflict(f"Effect {effect_id} is not a failed effect")
            change.instance_id = row.instance_id
            change.effects = [outbox.Effect.of(row)]
            audit.record(session, now, username, "effect.retried", instance_id=row.instance_id, effect_id=row.id,
                         kind=row.kind, reason=reason)
            incidents.resolve_open(session, now, username, reason, kind="delivery_failed", effect_id=effect_id)

    # --- incidents -----------------------------------------------------------------------------------------

    def resolve_incident(self, incident_id: int, username: str, reason: str) -> dict:
        """Close an incident with what was done about it."""
        reason = _reason(reason)
        now = self.runtime.clock.now()
        with self.runtime.commands.scope("incident.resolved", username) as (session, change):
            self._authorise(session, username, "incident.resolved", None)
            row = incidents.resolve(session, now, incident_id, username, reason)
            change.instance_id = row.instance_id
            return incidents.as_dict(row)

    # --- moving a token back -----------------------------------------------------------------------------

    def move_targets(self, instance_id: int) -> list[MoveTarget]:
        """The completed user tasks of a running instance, most recent first: those still held in its state can be
        reopened; older ones (pruned: see engine/bpmn/state.py) are listed as unavailable, with the reason.
        Who completed each and when come from its latest `task.completed` audit event."""
        runtime = self.runtime
        with runtime.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            if instance.status != "running":
                return []
            compiled = runtime.repository.compiled(session, instance.process_version_id)
            execution = Execution.restore(instance.workflow_state, compiled, None, runtime.clock.now())
            events = session.scalars(select(AuditEvent).where(
                AuditEvent.instance_id == instance_id, AuditEvent.action.in_(("task.completed", "instance.moved_back")),
                AuditEvent.task_id.is_not(None)).order_by(AuditEvent.at, AuditEvent.id)).all()
            window = move_back_window(compiled.settings)
        completions, undone = _completions(events)

        def target(task_id: str, element_id: str, why_not: str | None) -> MoveTarget:
            info = compiled.elements.get(element_id)
            event = completions.get(task_id)
            return MoveTarget(task_id, element_id, info.name if info else element_id,
                              event.actor if event else None, event.at if event else None, why_not)

        held, found = set(), []
        for task in execution.completed_user_tasks():
            held.add(task.task_id)
            found.append(target(task.task_id, task.element_id, None if task.reopenable else
                                "Its place in the process is no longer held whole in the instance's state"))
        open_now = execution.open_user_task_ids()
        beyond = (f"Older than the last {window} completed user tasks this instance keeps for moving back "
                  f"(setting move_back_window)" if window else
                  "This process keeps no completed user tasks for moving back (setting move_back_window is 0)")
        older = [target(task_id, event.element_id, undone.get(task_id, beyond)) for task_id, event in completions.items()
                 if task_id not in held and task_id not in open_now and event.element_id]
        rank = {task_id: n for n, task_id in enumerate(completions)}  # audit order: by time, then event id
        found.sort(key=lambda t: rank.get(t.task_id, -1), reverse=True)
        older.sort(key=lambda t: rank[t.task_id], reverse=True)
        return found + older[:MAX_UNAVAILABLE_SHOWN]

    def move_back(self, instance_id: int, task_id: str, username: str, reason: str) -> CommandResult:
        """Reset the instance to an earlier user task (SpiffWorkflow's reset_from_task_id): the tasks after it are
        dropped (their open rows cancelled) and it is open again, with the data it had when it was first reached."""
        reason = _reason(reason)
        runtime = self.runtime
        now = runtime.clock.now()
        with runtime.commands.scope("instance.moved_back", username) as (session, change):
            self._authorise(session, username, "instance.moved_back", instance_id)
            instance = runtime.commands.lock_instance(session, instance_id)
            compiled = runtime.repository.compiled(session, instance.process_version_id)
            execution = runtime.load(session, instance, compiled, now, change)
            element_id = execution.move_back(task_id)
            info = compiled.elements.get(element_id)
            # the task keeps its Spiff id; its completed row keeps its history under a fresh id
            session.execute(update(HumanTask).where(HumanTask.id == task_id).values(id=str(uuid4())))
            audit.record(session, now, username, "instance.moved_back", instance_id=instance_id, task_id=task_id,
                         element_id=element_id, reason=reason, task=info.name if info else element_id,
                         from_tasks=sorted(set(change.before.ready.values())))
            change.instance_id = instance_id
            incidents.resolve_open(session, now, username, f"Moved back to {element_id}: {reason}",
                                   kind="stranded", instance_id=instance_id)
            return instance_rows.save(session, instance, execution, username, now, change)

    # --- what the admin actions are offered on ------------------------------------------------------------

    def timers(self, instance_id: int, status: str | None = None) -> list[dict]:
        """An instance's timers (of one status when given), by due time: id, element, name, due time, status,
        attempts and the last error."""
        with self.runtime.db.read() as session:
            query = select(Timer).where(Timer.instance_id == instance_id)
            if status is not None:
                query = query.where(Timer.status == status)
            return [{"id": t.id, "instance_id": t.instance_id, "element_id": t.element_id, "name": t.name,
                     "due_at": t.due_at, "status": t.status, "attempts": t.attempts, "last_error": t.last_error}
                    for t in session.scalars(query.order_by(Timer.due_at, Timer.id))]

    def move_window(self, version_id: int) -> int:
        """How many completed user tasks on each open path a version's instances keep for moving back."""
        with self.runtime.db.read() as session:
            return move_back_window(self.runtime.repository.compiled(session, version_id).settings)

    # --- internals ---------------------------------------------------------------------------------------

    def _authorise(self, session, username: str, action: str, instance_id: int | None) -> None:
        user = require_user(session, username)
        if not policy_of(session).may_administer(user):
            raise deny(user, action, f"Only {policy_of(session).names_with(ADMINISTER)} can do this",
                       instance_id=instance_id)


def _completions(events) -> tuple[dict[str, AuditEvent], dict[str, str]]:
    """From an instance's task.completed and instance.moved_back events in order: the latest completion of each
    task, and the tasks whose completion a move back undid (completed after the task it went back to)."""
    completions: dict[str, AuditEvent] = {}
    done: list[AuditEvent] = []
    undone: dict[str, str] = {}
    for event in events:
        if event.action == "task.completed":
            completions[event.task_id] = event
            done.append(event)
            continue
        back_to = max((n for n, e in enumerate(done) if e.task_id == event.task_id), default=None)
        if back_to is not None:
            for later in done[back_to + 1:]:
                if later.task_id != event.task_id:
                    undone.setdefault(later.task_id, f"Undone when {event.actor} moved the token back to an "
                                                     f"earlier task")
    return completions, undone


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonMissing("Give a reason: it is kept in the audit trail")
    if len(text) > MAX_REASON:
        raise ReasonMissing(f"A reason must be {MAX_REASON} characters or fewer")
    return text


def _name(instance: Instance) -> str:
    return instance.reference or f"Instance {instance.id}"
