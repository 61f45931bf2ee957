"""What a workflow waits for from outside — timers, messages and signals — read off its waiting events.

Spiff keeps every waiting catch (an intermediate or boundary event, a receive task, an event-based gateway) in its
event manager. An event-based gateway waits on behalf of the events after it: Spiff moves their definitions into
the gateway's own (a multiple event), so the element that catches is the gateway's n-th outgoing event. Timers keep
their due moment in the waiting task's internal data once they have started waiting.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.util.task import TaskState

TIMER, MESSAGE, SIGNAL = "timer", "message", "signal"


@dataclass(frozen=True)
class Wait:
    """One event a workflow waits for: `event` is the message or signal name (the timer's label for a timer)."""

    kind: str  # timer | message | signal
    task_id: str  # the waiting Spiff task (for an event-based gateway, the gateway's)
    element_id: str  # the element that catches it
    name: str  # the catching element's name, for people
    event: str
    due_at: datetime | None = None  # timers only


def catching_members(task_spec) -> list[tuple[object, object]]:
    """(event definition, catching element spec) pairs of a waiting event spec: one pair for a plain catch, one per
    outgoing event for an event-based gateway, one per definition (all caught by the element) for a multiple."""
    definition = task_spec.event_definition
    if not isinstance(definition, MultipleEventDefinition):
        return [(definition, task_spec)]
    if isinstance(task_spec, EventBasedGateway):
        return list(zip(definition.event_definitions, task_spec.outputs))
    return [(each, task_spec) for each in definition.event_definitions]


def waits(workflow) -> list[Wait]:
    """Every timer, message and signal the workflow (and its subprocesses) waits for now, including those that
    would start one of its event subprocesses."""
    found = []
    for task in workflow.event_manager.tasks.values():
        if task.state != TaskState.WAITING:
            continue
        for definition, element in catching_members(task.task_spec):
            wait = _wait(task, definition, element)
            if wait is not None:
                found.append(wait)
    return found + _event_subprocess_starts(workflow)


def _event_subprocess_starts(workflow) -> list[Wait]:
    """A message or signal start of a top-level event subprocess is not a waiting task: Spiff starts the
    subprocess when the event arrives, as long as the process runs (its `task_id` is empty)."""
    if workflow.completed:
        return []
    found = []
    for name in getattr(workflow.spec.start, "trigger_specs", ()):
        for start_event in workflow.subprocess_specs[name].bpmn_start_events:
            for definition, element in catching_members(start_event):
                if not isinstance(definition, TimerEventDefinition):
                    found.append(_wait(None, definition, element))
    return [w for w in found if w is not None]


def waiting_timers(workflow) -> list[Wait]:
    return [w for w in waits(workflow) if w.kind == TIMER]


def _wait(task, definition, element) -> Wait | None:
    element_id = element.bpmn_id or element.name
    label = element.bpmn_name or ""
    task_id = str(task.id) if task is not None else ""
    if isinstance(definition, TimerEventDefinition) and not isinstance(definition, CycleTimerEventDefinition):
        value = task._get_internal_data("event_value")
        if value is None:
            return None
        return Wait(TIMER, task_id, element_id, label or definition.name or "", definition.name or "",
                    TimerEventDefinition.get_datetime(value))
    if isinstance(definition, MessageEventDefinition):
        return Wait(MESSAGE, task_id, element_id, label or definition.name, definition.name)
    if isinstance(definition, SignalEventDefinition):
        return Wait(SIGNAL, task_id, element_id, label or definition.name, definition.name)
    return None
