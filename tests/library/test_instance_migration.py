"""Moving a loaded workflow to another version's specs: allowed when its active elements remain, refused otherwise."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.bpmn import migration as im
from engine.clock import Clock
from engine.bpmn.definitions import SourceFile, collect_sources, compile_process, load_bundle
from engine.bpmn.sandbox import make_script_engine
from engine.services.diagram_functions import script_functions
from engine.bpmn.state import dump_state, load_state

from .helpers import FIXTURES, LOOP_BPMN, loop_with_extra_task, loop_without_fix

LANES = {"participant": "participant", "change control manager": "change_control_manager"}
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def compiled(xml: bytes):
    sources = [SourceFile(s.path, s.kind, xml) if s.path == "loop.bpmn" else s
               for s in collect_sources([FIXTURES / "processes"], FIXTURES / "forms")
               if s.kind != "bpmn" or s.path == "loop.bpmn"]
    return compile_process(load_bundle(sources), "loop", LANES)


def engine(settings):
    functions = script_functions(None, Clock(NOW), settings, "loop")
    functions["next_reference"] = lambda prefix: prefix + "001"
    return make_script_engine(functions)


@pytest.fixture(scope="module")
def versions():
    return compiled(LOOP_BPMN), compiled(loop_with_extra_task()), compiled(loop_without_fix())


def started(version):
    workflow = BpmnWorkflow(version.spec, version.subprocess_specs, script_engine=engine(version.settings))
    workflow.task_tree.data.update(title="A request")
    workflow.do_engine_steps()
    return workflow


def reload(workflow, version):
    return load_state(dump_state(workflow), version.spec, version.subprocess_specs, engine(version.settings))


def ready(workflow):
    return [t for t in workflow.get_tasks(state=TaskState.READY, manual=True)]


def complete(workflow, **data):
    task = ready(workflow)[0]
    task.set_data(**data)
    task.run()
    workflow.do_engine_steps()


def test_an_instance_moves_keeps_its_task_ids_and_then_follows_the_new_diagram(versions):
    v1, v2, _ = versions
    workflow = started(v1)
    task_id = ready(workflow)[0].id
    loaded = reload(workflow, v1)
    assert im.check(loaded, v2, 2) == []
    assert im.active_elements(loaded) == ["review"]
    moved = im.migrate(loaded, v2, engine(v2.settings), 2)
    assert moved.spec is v2.spec
    assert [(t.id, t.task_spec.bpmn_id) for t in ready(moved)] == [(task_id, "review")]
    complete(moved, valid=False)
    assert [t.task_spec.bpmn_id for t in ready(moved)] == ["extra"]  # the new task is reached
    complete(moved)
    assert [t.task_spec.bpmn_id for t in ready(moved)] == ["fix"]


def test_a_waiting_timer_moves_with_its_task(versions):
    v1, v2, _ = versions
    workflow = started(v1)
    complete(workflow, valid=False)  # now at 'fix' with the lapse timer waiting
    loaded = reload(workflow, v1)
    waiting_before = {t.task_spec.bpmn_id for t in loaded.get_tasks(state=TaskState.WAITING)}
    moved = im.migrate(loaded, v2, engine(v2.settings), 2)
    assert {t.task_spec.bpmn_id for t in moved.get_tasks(state=TaskState.WAITING)} == waiting_before
    assert "lapse_timer" in waiting_before
    assert [t.task_spec.bpmn_id for t in ready(moved)] == ["fix"]
    complete(moved, title="Better title")
    assert [t.task_spec.bpmn_id for t in ready(moved)] == ["review"]
    assert not moved.get_tasks(state=TaskState.WAITING)  # the timer was cancelled with its task
    complete(moved, valid=True)
    assert [t.task_spec.bpmn_id for t in ready(moved)] == ["extra"]
    complete(moved)
    assert moved.completed


def test_an_instance_waiting_in_a_removed_element_is_refused_with_the_reason(versions):
    v1, _, v3 = versions
    workflow = started(v1)
    complete(workflow, valid=False)
    loaded = reload(workflow, v1)
    reasons = im.check(loaded, v3, 3)
    assert "it is waiting in 'Fix the request' (fix), which is not in version 3" in reasons
    with pytest.raises(im.MigrationRefused) as refused:
        im.migrate(loaded, v3, engine(v3.settings), 3)
    assert refused.value.reasons == reasons


def test_moving_back_to_a_version_without_the_new_task_is_refused(versions):
    v1, v2, _ = versions
    workflow = started(v2)
    complete(workflow, valid=True)
    assert [t.task_spec.bpmn_id for t in ready(workflow)] == ["extra"]
    assert im.check(reload(workflow, v2), v1, 1) == ["it is waiting in 'Extra check' (extra), which is not in version 1"]


def test_an_element_that_changed_kind_is_refused(versions):
    v1, _, _ = versions
    manual = compiled(LOOP_BPMN.replace(b'<bpmn:userTask id="review" name="Review">',
                                        b'<bpmn:manualTask id="review" name="Review">').replace(
        b"</bpmn:userTask>\n    <bpmn:exclusiveGateway", b"</bpmn:manualTask>\n    <bpmn:exclusiveGateway"))
    reasons = im.check(reload(started(v1), v1), manual, 4)
    assert len(reasons) == 1 and "'Review' (review) is a user task but a manual task in version 4" in reasons[0]


def test_changed_active_elements_are_named(versions):
    v1, _, _ = versions
    due = compiled(LOOP_BPMN.replace(b'value="add_working_days(now(), 5)"', b'value="add_working_days(now(), 2)"'))
    loaded = reload(started(v1), v1)
    assert im.check(loaded, due, 2) == []
    assert im.changed_active_elements(loaded, due) == ["review"]
