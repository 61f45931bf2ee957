"""An instance's own state: serialized without its specs (kept once per version) and pruned of finished history.

Spiff embeds the specs in every serialization and never drops a finished task, so state and cost per step grow with
an instance's history. Here the specs are re-attached from the version cache on load, and `prune_history` cuts the
finished chain above the tasks that are still live: what happened is kept in the audit events, not in the tree.
"""
from __future__ import annotations

import json
from datetime import date
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

_REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
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


def prune_history(workflow: BpmnWorkflow) -> int:
    """Drop finished tasks above the lowest common ancestor of the live ones, in the workflow and its
    subprocesses. Returns how many tasks were dropped. Safe only between commands (no task running)."""
    dropped = 0
    for each in [workflow, *workflow.subprocesses.values()]:
        dropped += _prune_one(each)
    live_ids = set(workflow.tasks)
    for sp in workflow.subprocesses.values():
        live_ids.update(sp.tasks)
    for parent_id in [k for k in workflow.subprocesses if k not in live_ids]:
        del workflow.subprocesses[parent_id]
    return dropped


def _prune_one(wf) -> int:
    live = [t for t in wf.tasks.values() if not t.has_state(TaskState.FINISHED_MASK)]
    if not live:
        return 0
    new_root = _lowest_common_ancestor(live)
    # keep the parent of the new root so that it still has someone to inherit data from
    if new_root.parent is not None:
        new_root = new_root.parent
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
