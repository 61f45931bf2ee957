"""What a command writes beside an instance's state: the open-task, timer and message-wait rows that mirror what the
workflow waits for (only what changed since it was loaded), the passages, the record people read, and an incident
when the instance is left waiting for nothing or a task is created already overdue."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, inspect, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.definitions import CompiledProcess, ElementInfo
from engine.bpmn.execution import Execution, Snapshot
from engine.bpmn.state import move_back_window
from engine.bpmn.waits import TIMER
from engine.delivery import outbox
from engine.errors import ProcessError
from engine.services import incidents
from engine.services.collaboration import drop_drafts
from engine.services.commands import Change, CommandResult
from engine.store import audit
from engine.store.models import ElementPassage, HumanTask, Instance, MessageWait, Timer


_INSERT_PASSAGES = insert(ElementPassage.__table__)


def save(session: Session, instance: Instance, execution: Execution, actor: str, now: datetime, change: Change,
         completed_task_id: str | None = None) -> CommandResult:
    """Derive the rows that mirror the execution, record its passages, prune and store its state."""
    compiled = execution.compiled
    data = execution.record()
    after = execution.snapshot()
    change.created_tasks = _sync_human_tasks(session, instance, execution, now, actor, change.before, after,
                                             completed_task_id)
    change.new_task_ids = [row.id for row in change.created_tasks]
    if change.new_task_ids:
        outbox.enqueue(session, now, "announce_tasks", {"task_ids": change.new_task_ids}, instance_id=instance.id,
                       actor=actor)
    drop_drafts(session, [task_id for task_id in change.before.ready if task_id not in after.ready])
    change.timers_changed = _sync_timers(session, instance, execution, now, actor, change.before, after)
    _sync_message_waits(session, instance, execution, change.before, after)
    passages = execution.passages(now)
    if passages:
        session.execute(_INSERT_PASSAGES, [dict(row, instance_id=instance.id) for row in passages])
    _stage(instance, workflow_state=execution.dump(move_back_window(compiled.settings)), facts=_plain(data),
           reference=_text(data.get("reference"), 40) or instance.reference,
           title=_text(data.get("title"), 300) or instance.title,
           state=_text(data.get("state"), 60) or instance.state, updated_at=now)
    if execution.completed and instance.status == "running":
        _stage(instance, status="completed", ended_at=now)
        audit.record(session, now, actor, "instance.completed", instance_id=instance.id, state=instance.state)
    elif instance.status == "running" and after.waits_for_nothing:
        _report_stranded(session, instance, execution, actor, now, change)
    _write_instance(session, instance)
    session.flush()  # what else the command added (timers, waits, incidents…); usually nothing
    return CommandResult(instance.id, instance.status, instance.state, instance.reference,
                         new_task_ids=tuple(change.new_task_ids))


_INSTANCES = Instance.__table__
_TASKS = HumanTask.__table__
#: what `save` writes of the instance row (with its audit chain's head and the next revision)
_WRITTEN = ("workflow_state", "facts", "reference", "title", "state", "updated_at", "status", "ended_at")
_WRITE_INSTANCE = (update(_INSTANCES)
                   .where(_INSTANCES.c.id == bindparam("instance_id"), _INSTANCES.c.revision == bindparam("read_at"))
                   .values({**{key: bindparam(f"new_{key}") for key in _WRITTEN},
                            "audit_seq": bindparam("new_audit_seq"), "audit_head": bindparam("new_audit_head"),
                            "revision": bindparam("new_revision")}))
_INSERT_TASKS = insert(_TASKS)
_COMPLETE_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("task_id"))
                  .values(status="completed", completed_at=bindparam("at"), completed_by=bindparam("by"),
                          claimed_by=bindparam("holder")))


def mark_completed(session: Session, row: HumanTask, username: str, now: datetime) -> None:
    """The task row completed by this person (its holder, if nobody had claimed it)."""
    holder = row.claimed_by or username
    session.execute(_COMPLETE_TASK, {"task_id": row.id, "at": now, "by": username, "holder": holder})
    for key, value in (("status", "completed"), ("completed_at", now), ("completed_by", username),
                       ("claimed_by", holder)):
        set_committed_value(row, key, value)


def _stage(instance: Instance, **values: Any) -> None:
    """Set what `_write_instance` stores, without the ORM noting a change for its flush to look at (a new
    instance's values are set as usual: the flush inserts it)."""
    persistent = inspect(instance).persistent
    for key, value in values.items():
        if persistent:
            set_committed_value(instance, key, value)
        else:
            setattr(instance, key, value)


def _write_instance(session: Session, instance: Instance) -> None:
    """The instance row's UPDATE as one prebuilt statement, without the ORM's unit of work: the new state and
    record (`_stage`d), the head of its audit chain (its events queued so far, chained now) and the next revision,
    only if the row is still at the revision this command read (else StaleDataError: a concurrent change). The
    object is left as stored. A new instance is left to the session's flush, which inserts it."""
    if not inspect(instance).persistent:
        return
    seq, head = audit.chain_instance(session, instance.id, instance.audit_seq, instance.audit_head)
    values = {key: getattr(instance, key) for key in _WRITTEN}
    values.update(audit_seq=seq, audit_head=head, revision=instance.revision + 1)
    written = session.execute(_WRITE_INSTANCE, {"instance_id": instance.id, "read_at": instance.revision,
                                                **{f"new_{key}": value for key, value in values.items()}}).rowcount
    if written != 1:
        raise StaleDataError(f"instance {instance.id} changed since revision {instance.revision} was read")
    for key, value in values.items():
        set_committed_value(instance, key, value)


def refresh_for_version(session: Session, instance: Instance, compiled: CompiledProcess) -> None:
    """Open inbox rows and message waits take a (new) version's name, lane, role and form."""
    for row in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.status == "ready")):
        info = compiled.elements.get(row.element_id)
        if info is not None:
            row.name, row.lane, row.role_id, row.form = info.name, info.lane, info.role_id, info.form
    for wait in session.scalars(select(MessageWait).where(MessageWait.instance_id == instance.id)):
        info = compiled.elements.get(wait.element_id)
        if info is not None:
            wait.name, wait.role_id, wait.form = info.name, info.role_id, info.form


def _report_stranded(session: Session, instance: Instance, execution: Execution, actor: str, now: datetime,
                     change: Change) -> None:
    """A running instance that waits for nothing can never move again: open an incident (once) naming where it
    stopped and the command that left it there."""
    if incidents.is_open(session, "stranded", instance.id):
        return
    stopped_at = execution.live_elements()
    where = ", ".join(stopped_at) or "no element"
    incidents.open_incident(
        session, now, "stranded",
        f"{instance.reference or instance.process_id + ' #' + str(instance.id)} is running but has no open task, "
        f"no waiting timer and no message or signal it can accept: it stopped at {where}.",
        instance_id=instance.id, element_ids=stopped_at, command=change.action, actor=actor)


def _sync_human_tasks(session: Session, instance: Instance, execution: Execution, now: datetime, actor: str,
                      before: Snapshot, after: Snapshot, completed_task_id: str | None) -> list[HumanTask]:
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
    created, values = [], []
    for task_id, element_id in after.ready.items():
        if task_id in before.ready:
            continue
        info = execution.compiled.elements.get(element_id) or _bare_info(element_id, element_id)
        values.append(dict(
            id=task_id, instance_id=instance.id, process_id=instance.process_id, element_id=info.element_id,
            name=info.name, lane=info.lane, role_id=info.role_id,
            assignee=_text_of(execution.evaluate(task_id, info.assignee_expression, "assignee")),
            group_id=_text_of(execution.evaluate(task_id, info.group_expression, "group")), form=info.form,
            status="ready", due_at=_moment(execution.evaluate(task_id, info.due_expression, "due date"), info),
            claimed_by=holders.get(info.element_id), created_at=now))
        row = HumanTask(**values[-1])  # the row as inserted, for the command's listeners (not in the session)
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
    if values:  # one statement for them all, before anything that refers to them is flushed
        session.execute(_INSERT_TASKS, values)
    return created


def _sync_timers(session: Session, instance: Instance, execution: Execution, now: datetime, actor: str,
                 before: Snapshot, after: Snapshot) -> bool:
    gone = before.timers - after.timers
    fired = [task_id for task_id in gone if execution.timer_fired(task_id)]
    cancelled = [task_id for task_id in gone if task_id not in fired]
    for task_ids, status in ((fired, "fired"), (cancelled, "cancelled")):
        if task_ids:
            session.execute(update(Timer).where(Timer.instance_id == instance.id, Timer.task_id.in_(task_ids),
                                                Timer.status.in_(("waiting", "firing")))
                            .values(status=status, fired_at=now if status == "fired" else None))
    for task_id in gone:
        audit.record(session, now, actor, "timer.fired" if task_id in fired else "timer.cancelled",
                     instance_id=instance.id, task_id=task_id, element_id=execution.element_of(task_id))
    new = [w for w in execution.waits() if w.kind == TIMER and w.task_id not in before.timers]
    for timer in new:
        session.add(Timer(instance_id=instance.id, task_id=timer.task_id, element_id=timer.element_id,
                          name=timer.name, due_at=timer.due_at, status="waiting"))
    return bool(gone or new)


def _sync_message_waits(session: Session, instance: Instance, execution: Execution, before: Snapshot,
                        after: Snapshot) -> None:
    """Mirror the messages and signals waited for in `message_wait` rows (who may send each, with which form)."""
    for kind, name, element_id in before.messages - after.messages:
        session.execute(delete(MessageWait).where(MessageWait.instance_id == instance.id,
                                                  MessageWait.kind == kind, MessageWait.message == name,
                                                  MessageWait.element_id == element_id))
    added = set(before.messages)
    for wait in execution.waits():
        key = (wait.kind, wait.event, wait.element_id)
        if wait.kind == TIMER or key in added:
            continue
        added.add(key)
        info = execution.compiled.elements.get(wait.element_id) or _bare_info(wait.element_id, wait.name, wait.kind)
        session.add(MessageWait(instance_id=instance.id, kind=wait.kind, message=wait.event,
                                element_id=wait.element_id, name=info.name, role_id=info.role_id, form=info.form,
                                assignee=_text_of(execution.evaluate(wait.task_id, info.assignee_expression,
                                                                     "assignee"))))


def _bare_info(element_id: str, name: str, kind: str = "user_task") -> ElementInfo:
    """What govflow knows of an element the compiled version has no entry for: its id and name."""
    return ElementInfo(element_id=element_id, name=name, kind=kind, lane=None, role_id=None, form=None,
                       instructions="", due_expression=None, assignee_expression=None)


def _text_of(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _moment(value: Any, info: ElementInfo) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    raise ProcessError(f"the due date of '{info.name}' must be a date and time with a zone, not {value!r}")


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value not in (None, "") else None


def _plain(data: dict) -> dict:
    """Task data as plain JSON for the record (dates as ISO text)."""
    return audit._jsonable({k: v for k, v in data.items() if not str(k).startswith("_")})
