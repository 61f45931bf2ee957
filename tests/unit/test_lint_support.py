"""What govflow cannot run end to end is refused at validate/deploy, in plain words, with the file, line and element.

Each refused construct was checked against SpiffWorkflow 3.2 in memory first (see the reasons in engine/bpmn/lint.py);
each test here is one small diagram with that construct, asserting the exact Problem. The supported constructs
pass: a refusal must not catch what runs.
"""
from __future__ import annotations

import pytest

from engine.bpmn.definitions import DeploymentError, Problem, SourceFile, load_bundle
from engine.bpmn.lint import lint, lint_report
from engine.services.repository import validate_sources

from .test_lint import LANES, bundle_of, line_of, only

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
"""
START = """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
"""


def diagram(body: str, before: str = "", attrs: str = 'isExecutable="true"', pid: str = "p") -> str:
    """One process `pid` holding `body` (after a start event whose flow is f1), with `before` ahead of it."""
    return (HEAD + before + f'  <bpmn:process id="{pid}" {attrs}>\n' + START + body
            + "  </bpmn:process>\n</bpmn:definitions>\n")


def through(tag: str, inner: str = "", attrs: str = "", element: str = "t") -> str:
    """start -f1-> <tag id=t> -f2-> end"""
    return (f'    <bpmn:{tag} id="{element}" {attrs}>\n'
            f"      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>\n{inner}"
            f"    </bpmn:{tag}>\n"
            '    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>\n'
            f'    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{element}" />\n'
            f'    <bpmn:sequenceFlow id="f2" sourceRef="{element}" targetRef="end" />\n')


def problems_of(xml: str, **kwargs) -> list[Problem]:
    return lint(bundle_of(xml, **kwargs), LANES)


def refused(xml: str, element_id: str, needle: str, reason: str) -> None:
    """The diagram has exactly one problem: this reason, on this element, at the line holding `needle`."""
    assert only(problems_of(xml)) == Problem("p.bpmn", reason, element_id, line_of(xml, needle))


# ---- compensation ------------------------------------------------------------------------------------------------

COMPENSATION = ("not supported by govflow: compensation (SpiffWorkflow 3.2 does not run compensation events): undo "
                "the work with ordinary tasks on the path that needs it, e.g. after an error boundary event")


def test_compensation_throw_event_is_refused() -> None:
    # Spiff 3.2 parses it as a plain throw event and walks on: nothing is compensated
    xml = diagram(through("intermediateThrowEvent", '      <bpmn:compensateEventDefinition id="undo_all" />\n',
                          element="compensate"))
    refused(xml, "compensate", "<bpmn:compensateEventDefinition", COMPENSATION)


def test_compensation_boundary_event_and_handler_are_refused() -> None:
    # Spiff 3.2 raises NotImplementedError('Unsupported Catch Event') on the boundary event, with no line
    body = through("scriptTask", "      <bpmn:script>booked = True</bpmn:script>\n", element="book") + """\
    <bpmn:boundaryEvent id="on_undo" attachedToRef="book">
      <bpmn:compensateEventDefinition id="undo_def" />
    </bpmn:boundaryEvent>
    <bpmn:scriptTask id="unbook" name="Unbook" isForCompensation="true"><bpmn:script>booked = False</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:association id="undo_link" associationDirection="One" sourceRef="on_undo" targetRef="unbook" />
"""
    xml = diagram(body)
    assert problems_of(xml) == [
        Problem("p.bpmn", COMPENSATION, "on_undo", line_of(xml, '<bpmn:compensateEventDefinition id="undo_def"')),
        Problem("p.bpmn", "not supported by govflow: compensation activities (isForCompensation; SpiffWorkflow 3.2 "
                "never runs them): put the undo work as ordinary tasks on the path that needs it", "unbook",
                line_of(xml, 'id="unbook"')),
    ]


# ---- data stores -------------------------------------------------------------------------------------------------

DATA_STORE = ("not supported by govflow: data stores (govflow has no store to connect them to): keep the data in "
              "task data, or read another instance's with process_record(...)")


def test_data_store_is_refused_where_spiff_names_no_line() -> None:
    # Spiff 3.2 raises "Data Store with name ledger has no implementation." when the file is added: no id, no line
    xml = diagram(through("scriptTask", "      <bpmn:script>x = 1</bpmn:script>\n")
                  + '    <bpmn:dataStoreReference id="ledger_ref" dataStoreRef="ledger" />\n',
                  before='  <bpmn:dataStore id="ledger" name="ledger" />\n')
    with pytest.raises(DeploymentError) as caught:
        bundle_of(xml)
    assert caught.value.problems == [
        Problem("p.bpmn", DATA_STORE, "ledger", line_of(xml, 'id="ledger"')),
        Problem("p.bpmn", DATA_STORE, "ledger_ref", line_of(xml, 'id="ledger_ref"')),
    ]


def test_data_store_reference_without_a_store_is_refused() -> None:
    # Spiff 3.2 accepts it and does nothing with it
    xml = diagram(through("scriptTask", "      <bpmn:script>x = 1</bpmn:script>\n")
                  + '    <bpmn:dataStoreReference id="ledger_ref" />\n')
    refused(xml, "ledger_ref", 'id="ledger_ref"', DATA_STORE)


# ---- timers, gateways, events ------------------------------------------------------------------------------------


def test_cycle_timer_is_refused() -> None:
    xml = diagram(through("intermediateCatchEvent", """\
      <bpmn:timerEventDefinition id="every_hour_def">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">'R3/PT1H'</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
""", element="every_hour"))
    refused(xml, "every_hour", "<bpmn:timeCycle", "not supported by govflow: cycle timers (timeCycle): use a timeDate "
            "worked out with the working-day helpers, re-armed in a loop")


def test_complex_gateway_is_refused() -> None:
    # Spiff 3.2: "There is no support implemented for this task type." (no line)
    xml = diagram(through("complexGateway", element="cg"))
    refused(xml, "cg", 'id="cg"', "not supported by govflow: complex gateways (SpiffWorkflow 3.2 cannot run them): "
            "use an inclusive or exclusive gateway with a condition on each flow")


CONDITIONAL = ("not supported by govflow: conditional events (SpiffWorkflow 3.2 tests the condition once, when the "
               "event is reached, and never again): use an exclusive gateway, or a message or signal someone sends")


def test_conditional_catch_event_is_refused() -> None:
    # in a probe the event waited for ever after the data made its condition true
    xml = diagram(through("intermediateCatchEvent", """\
      <bpmn:conditionalEventDefinition id="when_paid_def">
        <bpmn:condition xsi:type="bpmn:tFormalExpression">paid == True</bpmn:condition>
      </bpmn:conditionalEventDefinition>
""", element="when_paid"))
    refused(xml, "when_paid", "<bpmn:conditionalEventDefinition", CONDITIONAL)


def test_conditional_boundary_event_is_refused() -> None:
    body = """\
    <bpmn:userTask id="review">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="t/review.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
"""
    body += """\
    <bpmn:boundaryEvent id="stopped" attachedToRef="review">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:conditionalEventDefinition id="stopped_def">
        <bpmn:condition xsi:type="bpmn:tFormalExpression">stop == True</bpmn:condition>
      </bpmn:conditionalEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="stopped_end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="stopped" targetRef="stopped_end" />
    <bpmn:laneSet id="lanes"><bpmn:lane id="lane" name="Participant">
      <bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
"""
    xml = diagram(body)
    refused(xml, "stopped", "<bpmn:conditionalEventDefinition", CONDITIONAL)


def test_service_task_is_refused() -> None:
    # Spiff 3.2: "A Service Task must have an operator"; with one, the default engine has no service to call
    xml = diagram(through("serviceTask", element="call_api"))
    refused(xml, "call_api", 'id="call_api"', "not supported by govflow: service tasks (govflow has no connector to "
            "call a service): use a script task with govflow's functions, or a user task for the person who does "
            "the work")


def test_send_task_is_refused() -> None:
    # Spiff 3.2 completes it and leaves the message in workflow.bpmn_events, which nothing delivers
    xml = diagram(through("sendTask", attrs='messageRef="m"', element="tell"),
                  before='  <bpmn:message id="m" name="decision" />\n')
    refused(xml, "tell", 'id="tell"', "not supported by govflow: send tasks (govflow has no connector to deliver a "
            "message): use a script task calling notify(...) to tell people, or start_process(...) to start another "
            "process")


def test_message_thrown_that_nothing_in_the_process_catches_is_refused() -> None:
    xml = diagram(through("intermediateThrowEvent", '      <bpmn:messageEventDefinition id="tell_def" '
                          'messageRef="m" />\n', element="tell"),
                  before='  <bpmn:message id="m" name="decision" />\n')
    refused(xml, "tell", "<bpmn:messageEventDefinition", "not supported by govflow: throwing message 'decision', "
            "which nothing in process 'p' catches (govflow delivers no message out of an instance): use notify(...) "
            "to tell people, start_process(...) to start another process, or a signal within this process")


def test_message_thrown_and_caught_in_the_same_instance_is_kept() -> None:
    # in memory Spiff 3.2 delivers it to the branch that waits for it
    body = """\
    <bpmn:parallelGateway id="split"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>a</bpmn:outgoing>
      <bpmn:outgoing>b</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:intermediateCatchEvent id="hear"><bpmn:incoming>a</bpmn:incoming><bpmn:outgoing>a2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="hear_def" messageRef="m" /></bpmn:intermediateCatchEvent>
    <bpmn:intermediateThrowEvent id="tell"><bpmn:incoming>b</bpmn:incoming><bpmn:outgoing>b2</bpmn:outgoing>
      <bpmn:messageEventDefinition id="tell_def" messageRef="m" /></bpmn:intermediateThrowEvent>
    <bpmn:parallelGateway id="join"><bpmn:incoming>a2</bpmn:incoming><bpmn:incoming>b2</bpmn:incoming>
      <bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="a" sourceRef="split" targetRef="hear" />
    <bpmn:sequenceFlow id="a2" sourceRef="hear" targetRef="join" />
    <bpmn:sequenceFlow id="b" sourceRef="split" targetRef="tell" />
    <bpmn:sequenceFlow id="b2" sourceRef="tell" targetRef="join" />
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end" />
"""
    assert problems_of(diagram(body, before='  <bpmn:message id="m" name="decision" />\n')) == []


def test_ad_hoc_subprocess_is_refused() -> None:
    # Spiff 3.2 fails on it (KeyError 'data_objects' / eval of a missing completion condition)
    xml = diagram(through("adHocSubProcess", """\
      <bpmn:scriptTask id="a"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:scriptTask id="b"><bpmn:script>y = 1</bpmn:script></bpmn:scriptTask>
""", element="pick"))
    refused(xml, "pick", 'id="pick"', "not supported by govflow: ad-hoc subprocesses (govflow cannot let people pick "
            "which of its tasks to run, and SpiffWorkflow 3.2 fails on them): use an expanded subprocess with "
            "parallel or gateway-chosen tasks")


def _event_gateway(*events: tuple[str, str]) -> str:
    """start → event-based gateway → each (id, definition) catch event → its own end."""
    outgoing = "".join(f"<bpmn:outgoing>to_{e}</bpmn:outgoing>" for e, _ in events)
    body = (f'    <bpmn:eventBasedGateway id="gw"><bpmn:incoming>f1</bpmn:incoming>{outgoing}'
            "</bpmn:eventBasedGateway>\n"
            '    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />\n')
    for event_id, definition in events:
        body += (f'    <bpmn:intermediateCatchEvent id="{event_id}"><bpmn:incoming>to_{event_id}</bpmn:incoming>'
                 f"<bpmn:outgoing>from_{event_id}</bpmn:outgoing>\n      {definition}\n"
                 "    </bpmn:intermediateCatchEvent>\n"
                 f'    <bpmn:endEvent id="end_{event_id}"><bpmn:incoming>from_{event_id}</bpmn:incoming>'
                 "</bpmn:endEvent>\n"
                 f'    <bpmn:sequenceFlow id="to_{event_id}" sourceRef="gw" targetRef="{event_id}" />\n'
                 f'    <bpmn:sequenceFlow id="from_{event_id}" sourceRef="{event_id}" targetRef="end_{event_id}" />\n')
    return diagram(body, before='  <bpmn:message id="m" name="go" />\n')


def _timer(expression: str) -> str:
    return f"<bpmn:timerEventDefinition><bpmn:timeDuration>{expression}</bpmn:timeDuration></bpmn:timerEventDefinition>"


def test_event_gateway_with_two_timers_is_refused() -> None:
    # in a probe the gateway kept the last timer's due time: the 'PT0S' timer did not fire until 'P2D' was due
    xml = _event_gateway(("long", _timer("'P2D'")), ("short", _timer("'PT0S'")))
    refused(xml, "gw", 'id="gw"', "not supported by govflow: an event-based gateway with more than one timer ('long', "
            "'short'; SpiffWorkflow 3.2 keeps one due time per gateway, so the timers do not fire at their own "
            "times): keep one timer after the gateway and put the other deadline on a boundary timer")


def test_event_gateway_with_a_message_and_one_timer_is_kept() -> None:
    xml = _event_gateway(("go", '<bpmn:messageEventDefinition id="go_def" messageRef="m" />'),
                         ("a_day", _timer("'P1D'")))
    assert problems_of(xml) == []


MULTIPLE = ("not supported by govflow: an event with more than one trigger (a multiple or parallel multiple event; "
            "SpiffWorkflow 3.2 drops a message's data there): use one event per trigger, e.g. an event-based gateway "
            "or one boundary event each")
TWO_TRIGGERS = """\
      <bpmn:messageEventDefinition id="{id}_message" messageRef="m" />
      <bpmn:signalEventDefinition id="{id}_signal" signalRef="s" />
"""
MESSAGE_AND_SIGNAL = '  <bpmn:message id="m" name="go" />\n  <bpmn:signal id="s" name="ring" />\n'


@pytest.mark.parametrize("parallel", ["false", "true"])
def test_multiple_catch_event_is_refused(parallel: str) -> None:
    # in a probe the message's payload never reached the task data (MultipleEventDefinition has no update_task_data)
    xml = diagram(through("intermediateCatchEvent", TWO_TRIGGERS.format(id="either"),
                          attrs=f'parallelMultiple="{parallel}"', element="either"), before=MESSAGE_AND_SIGNAL)
    refused(xml, "either", 'id="either"', MULTIPLE)


def test_multiple_start_event_is_refused() -> None:
    body = """\
    <bpmn:subProcess id="sub"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="sub_start"><bpmn:outgoing>s1</bpmn:outgoing>
""" + TWO_TRIGGERS.format(id="sub_start") + """\
      </bpmn:startEvent>
      <bpmn:endEvent id="sub_end"><bpmn:incoming>s1</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="sub_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub" />
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end" />
"""
    xml = diagram(body, before=MESSAGE_AND_SIGNAL)
    refused(xml, "sub_start", 'id="sub_start"', MULTIPLE)


def test_link_events_are_refused() -> None:
    # in a probe Spiff 3.2 completed the instance at the link throw: the catch's path never ran
    body = """\
    <bpmn:intermediateThrowEvent id="jump"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:linkEventDefinition id="jump_def" name="on" /></bpmn:intermediateThrowEvent>
    <bpmn:intermediateCatchEvent id="land"><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:linkEventDefinition id="land_def" name="on" /></bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="jump" />
    <bpmn:sequenceFlow id="f2" sourceRef="land" targetRef="end" />
"""
    xml = diagram(body)
    link = ("not supported by govflow: link events (SpiffWorkflow 3.2 does not follow them: the path stops at the "
            "throw): draw the sequence flow instead")
    assert problems_of(xml) == [Problem("p.bpmn", link, "jump", line_of(xml, 'id="jump_def"')),
                                Problem("p.bpmn", link, "land", line_of(xml, 'id="land_def"'))]


# ---- processes that are not executable ----------------------------------------------------------------------------

TASK = through("scriptTask", "      <bpmn:script>x = 1</bpmn:script>\n")


def test_a_file_without_an_executable_process_is_an_error() -> None:
    # Spiff lists no process for it, so it used to validate as "Valid" with nothing in it
    xml = diagram(TASK, attrs='isExecutable="false"')
    refused(xml, "p", '<bpmn:process id="p"',
            'no executable process in p.bpmn: set isExecutable="true" on the process govflow should run')
    with pytest.raises(DeploymentError) as caught:
        validate_sources(None, [SourceFile("p.bpmn", "bpmn", xml.encode())], roles=[])
    assert [p.reason for p in caught.value.problems] == [
        'no executable process in p.bpmn: set isExecutable="true" on the process govflow should run']


def test_a_process_that_is_not_executable_beside_one_that_is_is_refused() -> None:
    xml = diagram(TASK).replace("</bpmn:definitions>", """\
  <bpmn:process id="sketch" name="Sketch" isExecutable="false">
    <bpmn:task id="idea" />
  </bpmn:process>
</bpmn:definitions>""")
    refused(xml, "sketch", '<bpmn:process id="sketch"', 'not supported by govflow: a process that is not executable '
            '(isExecutable="false": govflow would never run \'Sketch\'): set isExecutable="true", or delete it')


# ---- SpiffWorkflow's own parser errors carry the file, line and element -----------------------------------------


def test_spiff_parser_error_names_the_line_and_element() -> None:
    # a task with two outgoing flows: Spiff's ValidationException has the id but no line (line_number is '')
    body = """\
    <bpmn:scriptTask id="split_here"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split_here" />
    <bpmn:sequenceFlow id="f2" sourceRef="split_here" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="split_here" targetRef="end" />
"""
    xml = diagram(body)
    problem = only(problems_of(xml))
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "split_here", line_of(xml, 'id="split_here"'))
    assert problem.reason.startswith("Multiple outgoing flows are not supported")


def test_spiff_wrapped_error_reads_plainly_with_its_line() -> None:
    # a boundary event with no trigger: Spiff wraps NotImplementedError('Unsupported Catch Event: %r', b'<…>')
    body = TASK + """\
    <bpmn:boundaryEvent id="nothing" attachedToRef="t"><bpmn:outgoing>f3</bpmn:outgoing></bpmn:boundaryEvent>
    <bpmn:endEvent id="end2"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="nothing" targetRef="end2" />
"""
    xml = diagram(body)
    assert only(problems_of(xml)) == Problem("p.bpmn", "Unsupported Catch Event", "nothing",
                                             line_of(xml, 'id="nothing"'))


def test_duplicate_process_ids_across_files_name_the_line() -> None:
    xml = diagram(TASK)
    sources = [SourceFile("a.bpmn", "bpmn", xml.encode()), SourceFile("b.bpmn", "bpmn", xml.encode())]
    with pytest.raises(DeploymentError) as caught:
        load_bundle(sources)
    assert caught.value.problems == [
        Problem("b.bpmn", "Duplicate process ID: p", "p", line_of(xml, '<bpmn:process id="p"'))]


def test_schema_error_names_the_element_holding_the_line() -> None:
    # the XSD error comes as Spiff's ValidationException with a line and no id
    xml = diagram(TASK.replace("<bpmn:script>x = 1</bpmn:script>", "<bpmn:script>x = 1</bpmn:script><bpmn:bogus />"))
    with pytest.raises(DeploymentError) as caught:
        bundle_of(xml)
    problem = only(caught.value.problems)
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "t", line_of(xml, "<bpmn:bogus"))
    assert problem.reason.startswith("does not match the BPMN schema: Element 'bpmn:bogus': This element is not "
                                     "expected.")


def test_call_activity_to_a_process_not_given() -> None:
    # Spiff's "The process 'costing' was not found" names neither the call activity nor a line
    xml = diagram(through("callActivity", attrs='calledElement="costing"', element="cost_it"))
    refused(xml, "cost_it", 'id="cost_it"', "call activity 'cost_it' calls process 'costing', which is in none of the "
            "files given: add its .bpmn file")


# ---- DMN -------------------------------------------------------------------------------------------------------

DMN_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn_defs" name="D" namespace="http://x">
"""


def table(decision_id: str, policy: str = "UNIQUE", extra: str = "", aggregation: str = "") -> str:
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    return f"""  <decision id="{decision_id}" name="{decision_id}">
    <decisionTable id="{decision_id}_table" hitPolicy="{policy}"{agg}>
      <input id="{decision_id}_in" label="Cost">
        <inputExpression id="{decision_id}_in_expr" typeRef="number"><text>cost</text></inputExpression>
      </input>
      <output id="{decision_id}_out" name="band" typeRef="string" />{extra}
      <rule id="{decision_id}_big">
        <inputEntry id="{decision_id}_big_in"><text>&gt;= 100</text></inputEntry>
        <outputEntry id="{decision_id}_big_out"><text>'big'</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
"""


def dmn_problems(text: str, name: str = "d.dmn") -> list[Problem]:
    """The DMN checked on its own, as `govflow validate d.dmn` does."""
    try:
        validate_sources(None, [SourceFile(name, "dmn", text.encode())], roles=[])
    except DeploymentError as err:
        return err.problems
    return []


def test_a_dmn_file_alone_is_checked_and_passes() -> None:
    assert dmn_problems(DMN_HEAD + table("band") + "</definitions>\n") == []


def test_two_decisions_in_one_file_are_refused() -> None:
    text = DMN_HEAD + table("band") + table("grade") + "</definitions>\n"
    assert dmn_problems(text) == [Problem(
        "d.dmn", "not supported by govflow: more than one decision in a DMN file (SpiffWorkflow 3.2 reads only the "
        "first, 'band'): put decision 'grade' in a .dmn file of its own", "grade",
        line_of(text, 'decision id="grade"'))]


def test_a_decision_that_is_not_a_table_is_refused() -> None:
    text = DMN_HEAD + """  <decision id="band" name="Band">
    <literalExpression id="band_expr"><text>'big' if cost &gt;= 100 else 'small'</text></literalExpression>
  </decision>
</definitions>
"""
    assert dmn_problems(text) == [Problem(
        "d.dmn", "not supported by govflow: a decision that is not a decision table (decision 'band' holds a "
        "literalExpression; SpiffWorkflow 3.2 runs decision tables only): write it as a decision table", "band",
        line_of(text, 'decision id="band"'))]


@pytest.mark.parametrize("policy, instead", [
    ("PRIORITY", "use UNIQUE with exclusive rules, or FIRST with the rules in priority order"),
    ("RULE ORDER", "use COLLECT, which gives every matching rule's output in rule order"),
    ("OUTPUT ORDER", "use COLLECT and sort the outputs in a script"),
])
def test_hit_policies_spiff_runs_as_first_match_are_refused(policy: str, instead: str) -> None:
    text = DMN_HEAD + table("band", policy) + "</definitions>\n"
    assert dmn_problems(text) == [Problem(
        "d.dmn", f"not supported by govflow: hit policy {policy} (SpiffWorkflow 3.2 returns the first matching rule "
        f"instead): {instead}", "band", line_of(text, "<decisionTable"))]


def test_first_and_any_hit_policies_are_kept() -> None:
    for policy in ("FIRST", "ANY", "COLLECT"):
        assert dmn_problems(DMN_HEAD + table("band", policy) + "</definitions>\n") == [], policy


def test_collect_with_an_aggregation_is_refused() -> None:
    text = DMN_HEAD + table("band", "COLLECT", aggregation="SUM") + "</definitions>\n"
    assert dmn_problems(text) == [Problem(
        "d.dmn", "not supported by govflow: COLLECT with aggregation SUM (SpiffWorkflow 3.2 ignores the aggregation "
        "and gives the list of outputs): use COLLECT and work the sum out in a script, e.g. sum(outputs)", "band",
        line_of(text, "<decisionTable"))]


def test_spiff_dmn_parser_errors_name_the_line_and_element() -> None:
    # DMN 1.3 rule annotations: Spiff 3.2's table parser raises "Unknown type in decision table"
    text = DMN_HEAD + table("band", extra='\n      <annotation name="Why" />') + "</definitions>\n"
    # the error names no id and no line: the element is found by its tag and name
    assert dmn_problems(text) == [Problem("d.dmn", "Unknown type in decision table: 'annotation'", "band_table",
                                          line_of(text, '<annotation name="Why"'))]


def test_a_dmn_file_without_a_decision() -> None:
    text = DMN_HEAD + "</definitions>\n"
    assert dmn_problems(text) == [Problem("d.dmn", "no decision in d.dmn: a DMN file holds one decision table",
                                          "dmn_defs", 2)]


def test_nothing_to_validate() -> None:
    with pytest.raises(DeploymentError) as caught:
        validate_sources(None, [SourceFile("settings.yaml", "settings", b"{}")], roles=[])
    assert caught.value.problems == [Problem("(deployment)", "no .bpmn or .dmn file was given")]


# ---- what runs is kept --------------------------------------------------------------------------------------------

SUPPORTED = {
    "standard loop": through("scriptTask", """\
      <bpmn:standardLoopCharacteristics loopMaximum="3" />
      <bpmn:script>n = 1</bpmn:script>
"""),
    "multi-instance": through("scriptTask", """\
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopCardinality>3</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>n = 1</bpmn:script>
"""),
    "inclusive gateway": """\
    <bpmn:inclusiveGateway id="which" default="f3"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:inclusiveGateway>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="which" />
    <bpmn:sequenceFlow id="f2" sourceRef="which" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">x &gt; 1</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="which" targetRef="end" />
""",
    "signal throw and catch, escalation and error": """\
    <bpmn:subProcess id="work"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="w_start"><bpmn:outgoing>w1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:intermediateThrowEvent id="ring"><bpmn:incoming>w1</bpmn:incoming><bpmn:outgoing>w2</bpmn:outgoing>
        <bpmn:signalEventDefinition id="ring_def" signalRef="s" /></bpmn:intermediateThrowEvent>
      <bpmn:intermediateThrowEvent id="shout"><bpmn:incoming>w2</bpmn:incoming><bpmn:outgoing>w3</bpmn:outgoing>
        <bpmn:escalationEventDefinition id="shout_def" escalationRef="esc" /></bpmn:intermediateThrowEvent>
      <bpmn:endEvent id="fail"><bpmn:incoming>w3</bpmn:incoming>
        <bpmn:errorEventDefinition id="fail_def" errorRef="err" /></bpmn:endEvent>
      <bpmn:sequenceFlow id="w1" sourceRef="w_start" targetRef="ring" />
      <bpmn:sequenceFlow id="w2" sourceRef="ring" targetRef="shout" />
      <bpmn:sequenceFlow id="w3" sourceRef="shout" targetRef="fail" />
    </bpmn:subProcess>
    <bpmn:boundaryEvent id="heard" attachedToRef="work" cancelActivity="false"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:escalationEventDefinition id="heard_def" escalationRef="esc" /></bpmn:boundaryEvent>
    <bpmn:boundaryEvent id="failed" attachedToRef="work"><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:errorEventDefinition id="failed_def" errorRef="err" /></bpmn:boundaryEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end3"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end4"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="heard" targetRef="end3" />
    <bpmn:sequenceFlow id="f4" sourceRef="failed" targetRef="end4" />
    <bpmn:subProcess id="on_ring" triggeredByEvent="true">
      <bpmn:startEvent id="rung" isInterrupting="false"><bpmn:outgoing>r1</bpmn:outgoing>
        <bpmn:signalEventDefinition id="rung_def" signalRef="s" /></bpmn:startEvent>
      <bpmn:endEvent id="rung_end"><bpmn:incoming>r1</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="r1" sourceRef="rung" targetRef="rung_end" />
    </bpmn:subProcess>
""",
    "transaction and cancel": """\
    <bpmn:transaction id="book"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="b_start"><bpmn:outgoing>b1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:endEvent id="b_cancel"><bpmn:incoming>b1</bpmn:incoming>
        <bpmn:cancelEventDefinition id="b_cancel_def" /></bpmn:endEvent>
      <bpmn:sequenceFlow id="b1" sourceRef="b_start" targetRef="b_cancel" />
    </bpmn:transaction>
    <bpmn:boundaryEvent id="cancelled" attachedToRef="book"><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:cancelEventDefinition id="cancelled_def" /></bpmn:boundaryEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="end3"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="book" />
    <bpmn:sequenceFlow id="f2" sourceRef="book" targetRef="end" />
    <bpmn:sequenceFlow id="f3" sourceRef="cancelled" targetRef="end3" />
""",
    # not top-level: a probe ran it to its end through govflow as in memory (Spiff waits for the message there)
    "message start event of an embedded subprocess": """\
    <bpmn:subProcess id="sub"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="sub_start"><bpmn:outgoing>s1</bpmn:outgoing>
        <bpmn:messageEventDefinition id="sub_start_def" messageRef="m" /></bpmn:startEvent>
      <bpmn:endEvent id="sub_end"><bpmn:incoming>s1</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="sub_end" />
    </bpmn:subProcess>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub" />
    <bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="end" />
""",
}
DECLARED = ('  <bpmn:message id="m" name="go" />\n  <bpmn:signal id="s" name="ring" />\n'
            '  <bpmn:escalation id="esc" name="late" escalationCode="late" />\n'
            '  <bpmn:error id="err" name="failed" errorCode="failed" />\n')


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_constructs_that_run_are_not_refused(name: str) -> None:
    problems = problems_of(diagram(SUPPORTED[name], before=DECLARED))
    assert problems == [], lint_report(problems)


def test_call_activity_with_its_process_given_is_kept() -> None:
    caller = diagram(through("callActivity", attrs='calledElement="costing"', element="cost_it"))
    called = diagram(TASK, pid="costing").replace('id="defs"', 'id="defs_costing"')
    sources = [SourceFile("p.bpmn", "bpmn", caller.encode()), SourceFile("costing.bpmn", "bpmn", called.encode())]
    assert lint(load_bundle(sources), LANES) == []


# ---- what the conformance suite found SpiffWorkflow 3.2 runs differently from BPMN ---------------------------------


def _sequential_mi(output: bool) -> str:
    out_ref = '<bpmn:loopDataOutputRef>answers</bpmn:loopDataOutputRef>' if output else ""
    out_item = '<bpmn:outputDataItem id="answer" name="answer"/>' if output else ""
    return f'''<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:laneSet id="ls"><bpmn:lane id="l" name="Participant"><bpmn:flowNodeRef>s</bpmn:flowNodeRef><bpmn:flowNodeRef>ask</bpmn:flowNodeRef><bpmn:flowNodeRef>e</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="ask" name="Ask each approver">
      <bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="formJsonSchemaFilename" value="answer.schema.json"/></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics isSequential="true">
        <bpmn:loopDataInputRef>approvers</bpmn:loopDataInputRef>{out_ref}
        <bpmn:inputDataItem id="approver" name="approver"/>{out_item}
      </bpmn:multiInstanceLoopCharacteristics>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="ask"/><bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>'''


def test_a_sequential_multi_instance_with_an_input_item_needs_an_output_collection() -> None:
    from engine.bpmn.lint import lint as run_lint
    from engine.bpmn.definitions import SourceFile, load_bundle
    form = SourceFile("answer.schema.json", "form", b'{"type": "object", "title": "Answer"}')

    def problems(xml: str):
        bundle = load_bundle([SourceFile("mi.bpmn", "bpmn", xml.encode()), form])
        return [p for p in run_lint(bundle, {"participant": "participant"}) if "multi-instance" in p.reason]

    [problem] = problems(_sequential_mi(output=False))
    assert problem.reason.startswith("not supported by govflow: a sequential multi-instance with an input item")
    assert (problem.element_id, problem.line) == ("ask", 9)
    assert problems(_sequential_mi(output=True)) == []
