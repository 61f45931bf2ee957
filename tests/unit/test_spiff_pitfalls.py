"""Regression tests for the SpiffWorkflow 3.2 pitfalls govflow guards against (docs/spiffworkflow.md).

The ~333-pass loop stall and running a cancelled task are covered end to end in
tests/integration/test_runtime.py (test_state_stays_flat_over_hundreds_of_loop_passes,
test_a_submission_after_the_deadline_is_refused_even_before_the_scheduler_ran).
"""
from __future__ import annotations

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState
from lxml import etree

from engine.bpmn.sandbox import make_script_engine
from engine.bpmn.state import dump_state, load_state, prune_history

NESTED = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="nested" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="make"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>cr = {'costs': {'total': 1}, 'items': [1]}</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="change"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>cr['costs']['total'] = 2
cr['items'].append(2)</bpmn:script></bpmn:scriptTask>
    <bpmn:userTask id="look"><bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="make" />
    <bpmn:sequenceFlow id="f2" sourceRef="make" targetRef="change" />
    <bpmn:sequenceFlow id="f3" sourceRef="change" targetRef="look" />
    <bpmn:sequenceFlow id="f4" sourceRef="look" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow():
    parser = SpiffBpmnParser()
    parser.add_bpmn_xml(etree.fromstring(NESTED), filename="nested.bpmn")
    return BpmnWorkflow(parser.get_spec("nested"), script_engine=make_script_engine({}))


def test_a_script_changing_nested_data_does_not_rewrite_earlier_tasks():
    workflow = _workflow()
    workflow.do_engine_steps()
    make = workflow.get_next_task(spec_name="make")
    look = workflow.get_next_task(spec_name="look")
    assert look.data["cr"] == {"costs": {"total": 2}, "items": [1, 2]}
    assert make.data["cr"] == {"costs": {"total": 1}, "items": [1]}  # Spiff 3.2 alone would show total 2


def test_the_change_survives_saving_and_pruning():
    workflow = _workflow()
    workflow.do_engine_steps()
    prune_history(workflow)
    spec = workflow.spec
    restored = load_state(dump_state(workflow), spec, {}, make_script_engine({}))
    look = restored.get_next_task(state=TaskState.READY, manual=True)
    assert look.data["cr"]["costs"]["total"] == 2 and look.data["cr"]["items"] == [1, 2]
