"""Pruning with a window of history (engine/bpmn/state.py): each live task keeps its last K completed user tasks, so the
state stays bounded by K however long an instance loops, and Spiff's reset_from_task_id works on what is kept.

Runs SpiffWorkflow in memory on the test fixture tests/fixtures/processes/loop.bpmn (review → valid? → fix with a
boundary timer → review …), saving and loading through engine/bpmn/state.py after every step as the runtime does.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import state
from engine.clock import Clock
from engine.bpmn.definitions import collect_sources, compile_process, load_bundle
from engine.bpmn.sandbox import make_script_engine
from engine.services.diagram_functions import script_functions
from engine.bpmn.state import (BadSetting, dump_state, is_reopenable, load_state, move_back_window, prune_history)
from engine.bpmn.waits import waiting_timers
from tests.conftest import FIXTURES

T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def loop_bundle():
    bundle = load_bundle(collect_sources([FIXTURES / "processes"], FIXTURES / "forms"))
    return compile_process(bundle, "loop", {})


class Loop:
    """One in-memory instance of the loop process, stored and reloaded after every step."""

    def __init__(self, compiled, window: int):
        self.compiled, self.window = compiled, window
        self.clock = Clock(T0)
        self.spec, self.subprocess_specs = compiled.spec, compiled.subprocess_specs
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.engine())
        workflow.task_tree.data.update(title="Loop", started_by="alice")
        workflow.do_engine_steps()
        self.save(workflow)

    def engine(self):
        functions = script_functions(None, self.clock, self.compiled.settings, "loop")
        functions["next_reference"] = lambda prefix: f"{prefix}001"
        engine = make_script_engine(functions)
        engine.clock = self.clock
        return engine

    def save(self, workflow) -> None:
        prune_history(workflow, self.window)
        self.text = dump_state(workflow)

    def load(self) -> BpmnWorkflow:
        return load_state(self.text, self.spec, self.subprocess_specs, self.engine())

    def complete(self, element_id: str, **data) -> None:
        workflow = self.load()
        task = next(t for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == element_id)
        task.set_data(**data)
        task.run()
        workflow.do_engine_steps()
        self.save(workflow)

    def passes(self, n: int) -> None:
        for _ in range(n):
            self.complete("review", valid=False)
            self.complete("fix", title="Fixed")


def completed_user_tasks(workflow) -> list[str]:
    return [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED, manual=True)]


def ready(workflow) -> list[str]:
    return [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.READY, manual=True)]


def test_the_window_keeps_the_last_k_completed_user_tasks(loop_bundle):
    loop = Loop(loop_bundle, window=3)
    loop.passes(4)  # 8 user tasks completed; fix's successor review is ready
    workflow = loop.load()
    assert ready(workflow) == ["review"]
    assert completed_user_tasks(workflow) == ["fix", "review", "fix"]  # oldest first
    assert all(is_reopenable(workflow, t) for t in workflow.get_tasks(state=TaskState.COMPLETED, manual=True))


def test_window_zero_keeps_only_what_the_live_tasks_need(loop_bundle):
    loop = Loop(loop_bundle, window=0)
    loop.passes(3)
    workflow = loop.load()
    assert completed_user_tasks(workflow) == ["fix"]  # the live task's parent, kept to inherit data from
    fix = workflow.get_tasks(state=TaskState.COMPLETED, manual=True)[0]
    assert not is_reopenable(workflow, fix)  # it is the root now: nothing to reset from


def test_a_loop_run_200_times_keeps_its_state_bounded(loop_bundle):
    loop = Loop(loop_bundle, window=5)
    sizes = {}
    for n in range(1, 201):
        loop.passes(1)
        if n in (10, 50, 200):
            sizes[n] = (len(loop.text), len(loop.load().tasks))
    assert sizes[10][1] == sizes[50][1] == sizes[200][1], sizes  # the same number of tasks held
    assert sizes[200][0] <= sizes[10][0] * 1.05, sizes  # and the same size, give or take ids and counters
    assert len(completed_user_tasks(loop.load())) == 5


def test_the_state_grows_with_k_not_with_history(loop_bundle):
    held = {}
    for window in (1, 5, 10):
        loop = Loop(loop_bundle, window)
        loop.passes(30)
        held[window] = len(loop.load().tasks)
    assert held[1] < held[5] < held[10]
    assert held[10] < 30 * 2 * 3  # far below what 60 user tasks of history would hold


def test_a_path_without_user_tasks_is_cut_after_a_bounded_number_of_steps(loop_bundle, monkeypatch):
    normal = Loop(loop_bundle, window=3)
    normal.passes(5)
    monkeypatch.setattr(state, "STEPS_PER_USER_TASK", 1)  # the cap: at most 1 × (K + 1) steps up a path
    capped = Loop(loop_bundle, window=3)
    capped.passes(5)
    assert len(completed_user_tasks(normal.load())) == 3
    assert len(completed_user_tasks(capped.load())) < 3
    assert len(capped.load().tasks) < len(normal.load().tasks)


def test_reset_to_the_oldest_kept_task_rearms_its_boundary_timer(loop_bundle):
    loop = Loop(loop_bundle, window=3)
    loop.passes(6)
    loop.clock.set(datetime(2027, 2, 1, 9, tzinfo=timezone.utc))  # a Monday, long after the first timers
    workflow = loop.load()
    oldest_fix = workflow.get_tasks(state=TaskState.COMPLETED, manual=True)[0]
    assert oldest_fix.task_spec.bpmn_id == "fix" and is_reopenable(workflow, oldest_fix)
    workflow.reset_from_task_id(oldest_fix.id)
    workflow.do_engine_steps()
    assert ready(workflow) == ["fix"] and completed_user_tasks(workflow) == []
    timers = waiting_timers(workflow)
    assert [t.element_id for t in timers] == ["lapse_timer"]
    # re-armed from the reset's moment: 20 working days after Mon 1 Feb 2027
    assert timers[0].due_at == datetime(2027, 3, 1, 9, tzinfo=timezone.utc)
    loop.save(workflow)
    loop.complete("fix", title="Fixed again")
    loop.complete("review", valid=True)
    assert loop.load().completed


def test_the_window_setting(loop_bundle):
    assert move_back_window({}) == state.DEFAULT_MOVE_BACK_WINDOW == 5
    assert move_back_window({"move_back_window": 0}) == 0
    assert move_back_window({"move_back_window": 12}) == 12
    for bad in (-1, 51, "5", 2.5, True, None):
        with pytest.raises(BadSetting, match="move_back_window must be a whole number from 0 to 50"):
            move_back_window({"move_back_window": bad})


def tasks_as_held(workflow) -> dict:
    """Each task's state, spec, parent, children and data, as the workflow holds them in memory."""
    return {t.id: (t.state, t.task_spec.name, t._parent, list(t._children), t.data) for t in workflow.tasks.values()}


def test_a_stored_state_restores_every_tasks_data_as_it_was_held(loop_bundle):
    loop = Loop(loop_bundle, window=3)
    loop.passes(2)
    loop.complete("review", valid=False)
    held = loop.load()  # the workflow in memory, as a command would run it
    stored = json.loads(dump_state(held))["tasks"]
    predicted = [dct for dct in stored.values() if dct["state"] & (TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE)]
    assert predicted and all(dct["data"] == {} and dct["delta"] == {} for dct in predicted)  # stored empty
    assert tasks_as_held(load_state(dump_state(held), loop.spec, loop.subprocess_specs, loop.engine())) == \
        tasks_as_held(held)


def test_a_state_stored_by_spiffs_own_task_converter_loads_the_same(loop_bundle, monkeypatch):
    # states written before govflow stored predicted tasks empty carry the deletion of each of the parent's keys
    loop = Loop(loop_bundle, window=3)
    loop.passes(2)
    held = loop.load()
    ours = dump_state(held)
    stock = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure({**state._REGISTRY_CONFIG, Task: TaskConverter}))
    monkeypatch.setattr(state, "_SERIALIZER", stock)
    spiffs = dump_state(held)
    assert len(ours) < len(spiffs)
    monkeypatch.undo()
    assert tasks_as_held(load_state(spiffs, loop.spec, loop.subprocess_specs, loop.engine())) == \
        tasks_as_held(load_state(ours, loop.spec, loop.subprocess_specs, loop.engine())) == tasks_as_held(held)
