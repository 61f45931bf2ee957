"""Element passages: every BPMN element an instance passes through (tasks, gateways, events, sub-processes), with
the command-clock moments it was entered and left, for the heatmap.

Spiff keeps no clock of its own, so a task that stays live across commands (a user task, a waiting timer or message,
a running sub-process) carries the moment it was first seen live in its `internal_data`; a task that is entered and
left within one command took no time. The runtime writes a command's passages in one batched insert.
"""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import ReceiveTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState


ENTERED = "govflow_entered_at"
LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _all_tasks(workflow: BpmnWorkflow):
    yield from workflow.tasks.values()
    for sp in workflow.subprocesses.values():
        yield from sp.tasks.values()


def finished_ids(workflow: BpmnWorkflow) -> set[UUID]:
    """The ids of the tasks already finished when the workflow was loaded (their passages are recorded)."""
    return {t.id for t in _all_tasks(workflow) if t.has_state(TaskState.FINISHED_MASK)}


def passages_since(workflow: BpmnWorkflow, finished_before: set[UUID], now: datetime) -> list[dict]:
    """Stamp the tasks newly live with `now`, and give a passage row (element, entered, left, outcome) for each
    diagram element finished since load: completed, or an activity cancelled after it had been live (a task cut
    short by a timer or a withdrawal), in the order they were left."""
    rows = []
    stamp = now.isoformat()
    for task in _all_tasks(workflow):
        state = task.state
        if state & LIVE:
            task.internal_data.setdefault(ENTERED, stamp)
            continue
        if not state & TaskState.FINISHED_MASK or task.id in finished_before:
            continue
        element_id = task.task_spec.bpmn_id
        entered = task.internal_data.get(ENTERED)
        if not element_id:
            continue  # Spiff's own bookkeeping tasks
        if state != TaskState.COMPLETED and (entered is None or _is_event(task.task_spec)):
            continue  # a path not taken, or an event that never happened (a boundary timer that did not fire)
        rows.append((task.last_state_change, {
            "element_id": element_id, "entered_at": datetime.fromisoformat(entered) if entered else now,
            "left_at": now, "outcome": "completed" if state == TaskState.COMPLETED else "cancelled"}))
    rows.sort(key=lambda row: row[0])
    return [row for _left, row in rows]


def _is_event(spec) -> bool:
    return isinstance(spec, CatchingEvent) and not isinstance(spec, ReceiveTask)
