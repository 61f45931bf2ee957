"""Moving a running instance to another version of its process: checked first, refused with reasons when unsafe.

An instance may move when every element it is waiting in (READY user tasks, WAITING timers, messages and
subprocesses) still exists in the target version with the same kind of element. Its task tree keeps its ids (so
inbox rows, timers and audit events still point at the right tasks); each task is re-attached to the target
version's spec of the same id, predicted (not yet reached) tasks are re-predicted from the target diagram, and the
result must survive a save and a reload against the target specs showing the same open tasks, timers and messages.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.definitions import CompiledProcess
from engine.bpmn.execution import Execution, script_engine_for
from engine.bpmn.state import dump_state, load_state

LIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
NOT_REACHED = TaskState.FUTURE | TaskState.PREDICTED_MASK  # planned, not yet started


@dataclass
class MigrationCheck:
    """Whether one instance can move to the target version, why not, and what it is waiting in."""

    instance_id: int
    reference: str | None
    from_version: int | None
    to_version: int | None
    active_elements: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    changed_elements: list[str] = field(default_factory=list)  # active elements whose definition changed

    @property
    def ok(self) -> bool:
        return not self.reasons

    def as_dict(self) -> dict[str, Any]:
        return {"instance_id": self.instance_id, "reference": self.reference, "from_version": self.from_version,
                "to_version": self.to_version, "ok": self.ok, "active_elements": self.active_elements,
                "changed_elements": self.changed_elements, "reasons": self.reasons}


class MigrationRefused(Exception):
    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _scopes(workflow: BpmnWorkflow):
    """(workflow or subworkflow, its spec name) for the top workflow and every subprocess."""
    yield workflow, None
    for sub in workflow.subprocesses.values():
        yield sub, sub.spec.name


def _target_spec(target: CompiledProcess, spec_name: str | None):
    return target.spec if spec_name is None else target.subprocess_specs.get(spec_name)


def _label(task) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    element = getattr(spec, "bpmn_id", None) or spec.name
    return f"'{name}' ({element})" if name else element


def active_elements(workflow: BpmnWorkflow) -> list[str]:
    found = []
    for scope, _ in _scopes(workflow):
        for task in scope.get_tasks(state=LIVE, skip_subprocesses=True):
            element = getattr(task.task_spec, "bpmn_id", None)
            if element and element not in found:
                found.append(element)
    return found


def check(workflow: BpmnWorkflow, target: CompiledProcess, to_version: int | None = None) -> list[str]:
    """Why this loaded workflow cannot move to `target` (empty when it can)."""
    reasons: list[str] = []
    version = f"version {to_version}" if to_version else "the target version"
    for scope, spec_name in _scopes(workflow):
        new_spec = _target_spec(target, spec_name)
        if new_spec is None:
            reasons.append(f"the subprocess {spec_name} it is inside is not in {version}")
            continue
        for task in scope.tasks.values():
            if task.has_state(NOT_REACHED):
                continue
            candidate = new_spec.task_specs.get(task.task_spec.name)
            live = task.has_state(LIVE)
            if candidate is None:
                if live:
                    reasons.append(f"it is waiting in {_label(task)}, which is not in {version}")
                elif getattr(task.task_spec, "bpmn_id", None):
                    reasons.append(f"{_label(task)}, still in its recent history, is not in {version}")
                continue
            if type(candidate).__name__ != type(task.task_spec).__name__:
                reasons.append(f"{_label(task)} is a {_kind(task.task_spec)} but a {_kind(candidate)} in {version}")
    return sorted(set(reasons), key=reasons.index)


def changed_active_elements(workflow: BpmnWorkflow, target: CompiledProcess) -> list[str]:
    """Active elements whose definition differs in the target (the open task will show the new form/lane)."""
    from engine.bpmn.state import _SERIALIZER
    registry = _SERIALIZER.registry
    changed = []
    for scope, spec_name in _scopes(workflow):
        new_spec = _target_spec(target, spec_name)
        for task in scope.get_tasks(state=LIVE, skip_subprocesses=True):
            candidate = new_spec.task_specs.get(task.task_spec.name) if new_spec is not None else None
            if candidate is not None and registry.convert(candidate) != registry.convert(task.task_spec):
                element = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
                if element not in changed:
                    changed.append(element)
    return changed


def _kind(spec) -> str:
    return type(spec).__name__.replace("Task", " task").replace("Event", " event").strip().lower()


def migrate(workflow: BpmnWorkflow, target: CompiledProcess, script_engine, to_version: int | None = None
            ) -> BpmnWorkflow:
    """The workflow re-attached to `target`'s specs, saved and reloaded; raises MigrationRefused when unsafe."""
    reasons = check(workflow, target, to_version)
    if reasons:
        raise MigrationRefused(reasons)
    before = _waiting(workflow)
    for scope, spec_name in _scopes(workflow):
        new_spec = _target_spec(target, spec_name)
        dropped = [t for t in scope.tasks.values() if t.has_state(NOT_REACHED)
                   and new_spec.task_specs.get(t.task_spec.name) is None]
        for task in dropped:  # predicted tasks of elements that no longer exist: cut their branch
            if task.id in scope.tasks and task.parent is not None:
                scope._remove_task(task.id)
        for task in scope.tasks.values():
            task.task_spec = new_spec.task_specs[task.task_spec.name]
        scope.spec = new_spec
    workflow.subprocess_specs = target.subprocess_specs
    for scope, _ in _scopes(workflow):
        for task in list(scope.get_tasks(state=LIVE, skip_subprocesses=True)):
            try:  # re-plan what comes after each open task from the target diagram
                for child in task.children:
                    if child.has_state(NOT_REACHED) and not child.triggered:
                        scope._remove_task(child.id)
                task._sync_children(task.task_spec.outputs, TaskState.FUTURE)
                for child in task.children:
                    if child.has_state(NOT_REACHED):
                        child.task_spec._predict(child, mask=NOT_REACHED)
            except Exception as err:  # Spiff refuses a tree it cannot re-predict
                raise MigrationRefused([f"the path after {_label(task)} cannot be re-planned: {err}"])
    try:
        moved = load_state(dump_state(workflow), target.spec, target.subprocess_specs, script_engine)
    except Exception as err:
        raise MigrationRefused([f"its saved state does not load against the target version: {err}"])
    after = _waiting(moved)
    if after != before:
        raise MigrationRefused(["after the move it would wait for different steps "
                                f"({', '.join(sorted(after))} instead of {', '.join(sorted(before))})"])
    return moved


def _waiting(workflow: BpmnWorkflow) -> set[str]:
    """Task id:element of everything the workflow waits in (user tasks, timers, messages, subprocesses)."""
    found = set()
    for scope, _ in _scopes(workflow):
        for task in scope.get_tasks(state=LIVE, skip_subprocesses=True):
            found.add(f"{task.id}:{getattr(task.task_spec, 'bpmn_id', None) or task.task_spec.name}")
    return found


def plan(execution: Execution, target: CompiledProcess, to_version: int | None = None
         ) -> tuple[list[str], list[str], list[str]]:
    """(the elements the instance waits in, why it cannot move, those of them whose definition changed)."""
    workflow = execution.workflow
    reasons = check(workflow, target, to_version)
    changed = [] if reasons else changed_active_elements(workflow, target)
    return active_elements(workflow), reasons, changed


def move(execution: Execution, target: CompiledProcess, functions: Mapping[str, Callable], time_limit: float,
         to_version: int | None = None) -> Execution:
    """The execution on the target version; raises MigrationRefused when unsafe."""
    engine = script_engine_for(functions, execution.clock, time_limit)
    return Execution(migrate(execution.workflow, target, engine, to_version), target, execution.clock)
