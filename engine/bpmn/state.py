"""An instance's own state: serialized without its specs (kept once per version) and pruned of finished history.

Spiff embeds the specs in every serialization and never drops a finished task, so state and cost per step grow with
an instance's history. Here the specs are re-attached from the version cache on load, and `prune_history` cuts the
finished chain above the tasks that are still live, keeping a bounded window of it: the last `move_back_window`
completed user tasks on each live task's path (setting `move_back_window` in processes/settings.yaml, default 5),
which an admin can move a stuck token back to. What happened before the window is kept in the audit events.
"""
from __future__ import annotations

import json
from datetime import date
from typing import Any, Mapping
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.errors import GovflowError
from engine.bpmn.timers import CLOCKED_TIMERS


class _TaskConverter(TaskConverter):
    """Spiff's, except that a task without data (a predicted one) is stored empty, not as the deletion of each of its
    parent's keys: restored the same, without copying the parent's data only to delete it (a change request's state
    is a third smaller)."""

    def to_dict(self, task):
        dct = super().to_dict(task)
        if not task.data:
            dct["delta"] = {}  # `data` is empty too: Spiff restores the task's data from it
        return dct


# govflow's clocked timers are stored as Spiff's own (an event-based gateway keeps its caught events' definitions)
_REGISTRY_CONFIG = {**SPIFF_CONFIG, **{clocked: SPIFF_CONFIG[plain] for plain, clocked in CLOCKED_TIMERS.items()}}
_REGISTRY = BpmnWorkflowSerializer.configure({**_REGISTRY_CONFIG, Task: _TaskConverter})
_SERIALIZER = BpmnWorkflowSerializer(_REGISTRY)
# Spiff stores datetimes but not plain dates, which the sandbox lets scripts compute.
_SERIALIZER.registry.register(date, lambda d: {"value": d.isoformat()}, lambda dct: date.fromisoformat(dct["value"]))
STATE_FORMAT = 1


def dump_state(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON text, without specs."""
    registry = _SERIALIZER.registry
    dct = {
        "format": STATE_FORMAT,
        "data": registry.convert(registry.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": {str(k): registry.convert(t) for k, t in workflow.tasks.items()},
        "root": str(workflow.task_tree.id),
        "subprocesses": {str(k): registry.convert(sp) for k, sp in workflow.subprocesses.items()},
        "bpmn_events": registry.convert(workflow.bpmn_events),
    }
    return json.dumps(dct, separators=(",", ":"), default=_json_default)


def load_state(text: str, spec, subprocess_specs: dict, script_engine) -> BpmnWorkflow:
    """Rebuild a workflow from `dump_state` output and the version's cached specs."""
    dct = json.loads(text)
    registry = _SERIALIZER.registry
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
    workflow.tasks = {UUID(k): registry.restore(v, workflow=workflow) for k, v in dct["tasks"].items()}
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    workflow.success = dct["success"]
    workflow.completed = dct.get("completed", False)
    workflow.correlations = dct.get("correlations", {})
    if dct["last_task"]:
        workflow.last_task = workflow.tasks.get(UUID(dct["last_task"]))
    workflow.data = registry.restore(dct.get("data", {}))
    _workflow_converter().subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = registry.restore(dct.get("bpmn_events", []))
    return workflow


def _workflow_converter():
    """Spiff's own workflow converter, for its subprocess restoring logic."""
    registry = _SERIALIZER.registry
    return registry.convert_from_dict[registry.typenames[BpmnWorkflow]].args[0].__self__


def _json_default(value):
    raise TypeError(f"task data holds a {type(value).__name__}, which cannot be stored: use text, numbers, "
                    f"booleans, lists and objects")


DEFAULT_MOVE_BACK_WINDOW = 5
MAX_MOVE_BACK_WINDOW = 50
STEPS_PER_USER_TASK = 20  # a window also stops after this many tasks per user task kept (loops without a user task)


class BadSetting(GovflowError):
    status = 422


def move_back_window(settings: Mapping[str, Any]) -> int:
    """The process version's `move_back_window` setting: how many completed user tasks to keep per live task."""
    value = settings.get("move_back_window", DEFAULT_MOVE_BACK_WINDOW)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MOVE_BACK_WINDOW:
        raise BadSetting(f"The setting move_back_window must be a whole number from 0 to {MAX_MOVE_BACK_WINDOW} "
                         f"(completed user tasks kept for moving a token back), not {value!r}")
    return value


def prune_history(workflow: BpmnWorkflow, window: int = 0) -> int:
    """Drop finished tasks above the last `window` completed user tasks on each live task's path (and above the
    parent of the live tasks' lowest common ancestor), in the workflow and its subprocesses. The cut is also made
    at most `STEPS_PER_USER_TASK * (window + 1)` tasks up a path, so a loop without user tasks stays bounded.
    Returns how many tasks were dropped. Safe only between commands (no task running)."""
    dropped = 0
    for each in [workflow, *workflow.subprocesses.values()]:
        dropped += _prune_one(each, window)
    live_ids = set(workflow.tasks)
    for sp in workflow.subprocesses.values():
        live_ids.update(sp.tasks)
    for parent_id in [k for k in workflow.subprocesses if k not in live_ids]:
        del workflow.subprocesses[parent_id]
    return dropped


def _prune_one(wf, window: int) -> int:
    live = [t for t in wf.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not live:
        return 0
    common = _lowest_common_ancestor(live)
    # keep the parent of the common ancestor so that it still has someone to inherit data from
    # the window above each live path; a predicted task's path runs through its live ancestor, so only the
    # frontier (live tasks under finished ones) can reach higher
    frontier = [t for t in live if t.parent is None or t.parent.has_state(TaskState.FINISHED_MASK)]
    marks = [common.parent or common] + [_window_top(task, window) for task in frontier]
    new_root = _lowest_common_ancestor(marks)
    if new_root is wf.task_tree or new_root.parent is None:
        return 0
    keep = set()
    stack = [new_root]
    while stack:
        task = stack.pop()
        keep.add(task.id)
        stack.extend(task.children)
    dropped = [tid for tid in wf.tasks if tid not in keep]
    data = new_root.data
    new_root._parent = None
    new_root.data = data  # the root stores its data whole rather than as a delta from a parent
    for tid in dropped:
        del wf.tasks[tid]
        wf.top_workflow.event_manager.tasks.pop(tid, None)
    wf.task_tree = new_root
    if wf.last_task is not None and wf.last_task.id not in keep:
        wf.last_task = None
    return len(dropped)


def _window_top(task, window: int):
    """The highest task to keep on `task`'s path: the parent of its `window`-th most recent completed user task
    (a task is reset from its parent's data), or the task `STEPS_PER_USER_TASK * (window + 1)` steps up."""
    if window <= 0:
        return task
    node, seen, steps = task, 0, STEPS_PER_USER_TASK * (window + 1)
    while node.parent is not None and steps > 0:
        node, steps = node.parent, steps - 1
        if node.task_spec.manual and node.state == TaskState.COMPLETED:
            seen += 1
            if seen == window:
                return node.parent or node
    return node


def is_reopenable(workflow: BpmnWorkflow, task) -> bool:
    """Whether a completed user task is held whole enough in the state for Spiff's `reset_from_task_id`: it has a
    parent to take its data from, and inside a subprocess, each enclosing subprocess task has one too."""
    if task.state != TaskState.COMPLETED or not task.task_spec.manual:
        return False
    node = task
    while True:
        if node.parent is None:
            return False
        host_id = node.workflow.parent_task_id
        if host_id is None:
            return True
        try:
            node = workflow.get_task_from_id(host_id)
        except Exception:  # the subprocess's own task was pruned
            return False


def _lowest_common_ancestor(tasks):
    paths = []
    for task in tasks:
        path = []
        node = task
        while node is not None:
            path.append(node)
            node = node.parent
        paths.append(list(reversed(path)))
    common = None
    for level in zip(*paths):
        first = level[0]
        if all(node is first for node in level):
            common = first
        else:
            break
    return common
