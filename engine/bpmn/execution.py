"""One instance's workflow for the length of one command: what the services do to a running process, in govflow's
words, with SpiffWorkflow kept behind this class.

An execution is made new (a start) or restored from stored state, with the version's compiled specs, the functions
its diagram may call and the command's moment; it then fires due timers, completes a task, delivers a message or
signal, or moves a token back, and reports what the instance now waits for, its record and the elements it passed.
A step of the diagram that fails raises ProcessError and nothing is kept.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException, TaskNotFoundException
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition, SignalEventDefinition
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.definitions import CompiledProcess
from engine.bpmn.passages import finished_ids, passages_since
from engine.bpmn.sandbox import make_script_engine
from engine.bpmn.state import dump_state, is_reopenable, load_state, prune_history
from engine.bpmn.waits import MESSAGE, TIMER, Wait, waits
from engine.clock import Clock
from engine.errors import Conflict, ProcessError

#: a boundary event with this property = "true" continues with its interrupted subprocess's latest data
CARRY_DATA_PROPERTY = "carrySubprocessData"
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


@dataclass(frozen=True)
class Snapshot:
    """What an instance waits for at one moment; its rows in the database mirror exactly this."""

    ready: dict[str, str] = field(default_factory=dict)  # open user task id -> element id
    timers: set[str] = field(default_factory=set)  # waiting timer task ids
    messages: set[tuple[str, str, str]] = field(default_factory=set)  # (kind, message or signal, element id)

    @property
    def waits_for_nothing(self) -> bool:
        return not (self.ready or self.timers or self.messages)


@dataclass(frozen=True)
class CompletedUserTask:
    task_id: str
    element_id: str
    reopenable: bool  # held whole enough in the state to move a token back to it


class Execution:
    """A workflow being run by one command (or a simulation)."""

    def __init__(self, workflow: BpmnWorkflow, compiled: CompiledProcess, clock: Clock):
        self.workflow = workflow
        self.compiled = compiled
        self.clock = clock
        self.finished_when_loaded = finished_ids(workflow)

    # --- making one --------------------------------------------------------------------------------------------

    @classmethod
    def new(cls, compiled: CompiledProcess, functions: Mapping[str, Callable], now: datetime, data: Mapping,
            time_limit: float = 1.0, clock: Clock | None = None) -> "Execution":
        """A new instance with `data` as its first data, run to its first wait (on `clock` when given: a
        simulation's, which firing a timer moves on)."""
        clock = clock or Clock(now)
        workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs,
                                script_engine=script_engine_for(functions, clock, time_limit))
        workflow.task_tree.data.update(data)
        execution = cls(workflow, compiled, clock)
        execution.run_engine()
        return execution

    @classmethod
    def restore(cls, state: str, compiled: CompiledProcess, functions: Mapping[str, Callable] | None, now: datetime,
                time_limit: float = 1.0) -> "Execution":
        """An instance from its stored state (`functions` None: only to read it, never to run a script)."""
        clock = Clock(now)
        engine = script_engine_for(functions, clock, time_limit) if functions is not None else None
        return cls(load_state(state, compiled.spec, compiled.subprocess_specs, engine), compiled, clock)

    # --- running -----------------------------------------------------------------------------------------------

    def run_engine(self) -> None:
        """Run every automatic step that is ready (scripts, gateways, decisions, events) up to the next wait."""
        _run(self.workflow.do_engine_steps)

    def fire_due(self) -> None:
        """Fire every timer due at the execution's moment, and run on."""
        _run(self.workflow.refresh_timers)
        self._carry_subprocess_data()
        self.run_engine()

    def is_ready(self, task_id: str) -> bool:
        task = self._task(task_id)
        return task is not None and task.state == TaskState.READY

    def complete(self, task_id: str, data: Mapping[str, Any]) -> None:
        """Complete a ready user task with its form's data, and run on."""
        task = self._task(task_id)
        if task is None or task.state != TaskState.READY:
            raise Conflict("the task is no longer open")
        task.set_data(**data)
        _run(task.run)
        self.run_engine()

    def deliver(self, kind: str, name: str, payload: Mapping[str, Any]) -> bool:
        """Deliver a message or broadcast a signal to this instance and run on; False when nothing waits for it."""
        definition = MessageEventDefinition(name) if kind == MESSAGE else SignalEventDefinition(name)
        try:
            self.workflow.send_event(BpmnEvent(definition, payload=dict(payload)))
        except SpiffWorkflowException:
            return False
        self._carry_subprocess_data()
        self.run_engine()
        return True

    def move_back(self, task_id: str) -> str:
        """Reopen an earlier completed user task (SpiffWorkflow's reset): what came after it is dropped, and it is
        open again with the data it had when first reached. Returns its element id."""
        task = self._task(task_id)
        if task is None or not is_reopenable(self.workflow, task):
            raise Conflict("That task is no longer held in this instance's state; choose one of those offered")
        _run(lambda: self.workflow.reset_from_task_id(task.id))
        _reopen_enclosing_subprocesses(task)
        self._forget_dropped_events()
        self.run_engine()
        return task.task_spec.bpmn_id

    def evaluate(self, task_id: str | None, expression: str | None, what: str) -> Any:
        """An element's expression (its assignee, group, due date) on a task's data (the root's if `task_id` is
        empty); None when there is no expression."""
        if not expression:
            return None
        task = self._task(task_id) if task_id else self.workflow.task_tree
        try:
            return self.workflow.script_engine.evaluate(task, expression)
        except SpiffWorkflowException as err:
            raise ProcessError(f"the {what} of '{task.task_spec.bpmn_name}' ({expression}) failed: {err}") from err

    # --- reading -----------------------------------------------------------------------------------------------

    @property
    def completed(self) -> bool:
        return self.workflow.completed

    def snapshot(self) -> Snapshot:
        found = self.waits()
        return Snapshot(
            ready={str(t.id): t.task_spec.bpmn_id
                   for t in self.workflow.get_tasks(state=TaskState.READY, manual=True)},
            timers={w.task_id for w in found if w.kind == TIMER},
            messages={(w.kind, w.event, w.element_id) for w in found if w.kind != TIMER},
        )

    def waits(self) -> list[Wait]:
        return waits(self.workflow)

    def timer_fired(self, task_id: str) -> bool:
        task = self._task(task_id)
        return task is not None and task.state == TaskState.COMPLETED

    def element_of(self, task_id: str) -> str | None:
        task = self._task(task_id)
        return task.task_spec.bpmn_id if task is not None else None

    def live_elements(self) -> list[str]:
        """The elements of every task neither finished nor only predicted, sorted."""
        return sorted({t.task_spec.bpmn_id for t in _all_tasks(self.workflow)
                       if t.state & LIVE and t.task_spec.bpmn_id})

    def record(self) -> dict:
        """The instance's record: the data of its most recently changed live task (or the final data), with the
        process's data objects (state shared by every branch, such as an overdue flag) laid over it."""
        return current_data(self.workflow)

    def completed_user_tasks(self) -> list[CompletedUserTask]:
        return [CompletedUserTask(str(t.id), t.task_spec.bpmn_id, is_reopenable(self.workflow, t))
                for t in self.workflow.get_tasks(state=TaskState.COMPLETED, manual=True)]

    def open_user_task_ids(self) -> set[str]:
        return {str(t.id) for t in self.workflow.get_tasks(state=TaskState.NOT_FINISHED_MASK, manual=True)}

    def completed_elements(self) -> set[str]:
        return {t.task_spec.bpmn_id for t in self.workflow.get_tasks(state=TaskState.COMPLETED)
                if t.task_spec.bpmn_id}

    def passages(self, now: datetime) -> list[dict]:
        """The elements left since the execution was loaded, in order, as passage rows (without instance)."""
        return passages_since(self.workflow, self.finished_when_loaded, now)

    def dump(self, move_back_window: int) -> str:
        """The state to store: finished history pruned to the move-back window, specs left out."""
        prune_history(self.workflow, move_back_window)
        return dump_state(self.workflow)

    # --- internals ---------------------------------------------------------------------------------------------

    def _task(self, task_id: str):
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except (TaskNotFoundException, ValueError):
            return None

    def _carry_subprocess_data(self) -> None:
        """An interrupting boundary event with `carrySubprocessData` = `true` that has just caught on a subprocess
        (a withdrawal) takes the subprocess's latest data with it; without it the path goes on, as in
        SpiffWorkflow, with the data the subprocess started with."""
        workflow = self.workflow
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

    def _forget_dropped_events(self) -> None:
        """Spiff's reset drops the tasks after the target but leaves their event waits (a boundary timer of a
        dropped task); forget those, or the next step would refresh a timer whose task no longer exists."""
        live = {t.id for t in _all_tasks(self.workflow)}
        manager = self.workflow.event_manager
        for task_id in [tid for tid in manager.tasks if tid not in live]:
            del manager.tasks[task_id]


def current_data(workflow: BpmnWorkflow) -> dict:
    """The data of the latest live element of the diagram: never of Spiff's own joins (no bpmn_id), one of which
    keeps, until its activity ends, the data a finished non-interrupting boundary branch started with."""
    if workflow.completed:
        data = dict(workflow.data)
    else:
        live = [t for t in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING)
                if t.data and t.task_spec.bpmn_id is not None]
        if live:
            data = dict(max(live, key=lambda t: t.last_state_change).data)
        else:
            data = dict(workflow.last_task.data) if workflow.last_task is not None else {}
    data_objects = data.pop("data_objects", None) or workflow.data.get("data_objects") or {}
    data.update({k: v for k, v in data_objects.items() if v is not None})
    return data


def script_engine_for(functions: Mapping[str, Callable], clock: Clock, time_limit: float):
    """The sandboxed script engine with the diagram's functions, its timers on `clock`."""
    engine = make_script_engine(functions, time_limit=time_limit)
    engine.clock = clock  # timers compare with the command's clock
    return engine


def _all_tasks(workflow: BpmnWorkflow):
    yield from workflow.tasks.values()
    for sp in workflow.subprocesses.values():
        yield from sp.tasks.values()


def _reopen_enclosing_subprocesses(task) -> None:
    """Spiff's reset reopens a finished subprocess's tasks but leaves the subprocess marked completed, so its next
    step would end it at once and its results would never reach the parent: mark it (and any around it) open."""
    sub = task.workflow
    while sub.parent_workflow is not None:
        sub.completed = False
        sub = sub.parent_workflow


def _run(step: Callable[[], Any]) -> None:
    try:
        step()
    except SpiffWorkflowException as err:
        task = getattr(err, "task", None)
        where = f" at '{task.task_spec.bpmn_name or task.task_spec.name}'" if task is not None else ""
        raise ProcessError(f"The process could not continue{where}: {err}") from err
