"""Shared edits of the fixture and change-control diagrams for the library tests."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
LOOP_BPMN = (FIXTURES / "processes" / "loop.bpmn").read_bytes()

EXTRA_TASK = (b'<bpmn:userTask id="extra" name="Extra check"><bpmn:extensionElements><spiffworkflow:properties>'
              b'<spiffworkflow:property name="formJsonSchemaFilename" value="loop/review.schema.json" />'
              b'</spiffworkflow:properties></bpmn:extensionElements>'
              b'<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f2b</bpmn:outgoing></bpmn:userTask>')


def loop_with_extra_task(lane: bool = True) -> bytes:
    """The loop process with a user task 'extra' between 'review' and the gateway."""
    xml = LOOP_BPMN.replace(
        b'<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="valid_gw" />',
        b'<bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="extra" />'
        b'<bpmn:sequenceFlow id="f2b" sourceRef="extra" targetRef="valid_gw" />')
    xml = xml.replace(b'<bpmn:exclusiveGateway id="valid_gw"', EXTRA_TASK + b'<bpmn:exclusiveGateway id="valid_gw"')
    if lane:
        xml = xml.replace(b'<bpmn:flowNodeRef>review</bpmn:flowNodeRef>',
                          b'<bpmn:flowNodeRef>review</bpmn:flowNodeRef><bpmn:flowNodeRef>extra</bpmn:flowNodeRef>')
    return xml


def loop_without_fix() -> bytes:
    """The loop process where an invalid request ends instead of going back to the raiser ('fix' removed)."""
    xml = LOOP_BPMN
    start = xml.index(b'<bpmn:userTask id="fix"')
    end = xml.index(b'</bpmn:boundaryEvent>') + len(b'</bpmn:boundaryEvent>')
    xml = xml[:start] + xml[end:]
    xml = xml.replace(b'<bpmn:sequenceFlow id="f4" name="invalid" sourceRef="valid_gw" targetRef="fix" />',
                      b'<bpmn:sequenceFlow id="f4" name="invalid" sourceRef="valid_gw" targetRef="lapsed" />')
    xml = xml.replace(b'<bpmn:sequenceFlow id="f5" sourceRef="fix" targetRef="review" />', b'')
    xml = xml.replace(b'<bpmn:sequenceFlow id="f7" sourceRef="lapse_timer" targetRef="lapsed" />', b'')
    xml = xml.replace(b'<bpmn:incoming>f7</bpmn:incoming>', b'<bpmn:incoming>f4</bpmn:incoming>')
    xml = xml.replace(b'<bpmn:incoming>f5</bpmn:incoming>', b'')
    xml = xml.replace(b'<bpmn:flowNodeRef>fix</bpmn:flowNodeRef>', b'')
    xml = xml.replace(b'<bpmn:flowNodeRef>lapse_timer</bpmn:flowNodeRef>', b'')
    import re
    xml = re.sub(rb'<bpmndi:BPMN(Shape|Edge) id="[^"]*" bpmnElement="(fix|lapse_timer|f5|f7)".*?</bpmndi:BPMN\1>', b'',
                 xml, flags=re.S)
    return xml


CHANGE_CONTROL = (ROOT / "processes" / "change_control.bpmn").read_bytes()

RAISE_FORM = {
    "title": "Shorten the MPAN validation window", "problem_statement": "Validation takes too long",
    "proposed_change": "Cut the window from 5 to 3 days", "justification": "Faster settlement",
    "impacted_constituencies.0": "SUPPLIER_LARGE", "impacted_constituencies.2": "SUPPLIER_SMALL",
    "urgency": "standard", "cost_impact_gbp": "£12,500", "tom_impact": "false",
    "consumer_competition_impact": "false", "level1_milestone_change": "false",
    "raiser_organisation": "Northern Power Supply", "raiser_contact_email": "alice@example.org",
    "requested_decision_date[day]": "15", "requested_decision_date[month]": "1", "requested_decision_date[year]": "2027",
}


def raise_data() -> dict:
    """The change-control start form's data, parsed as the web would."""
    import json
    from web.form_parse import parse_form
    schema = json.loads((ROOT / "forms" / "change_control" / "raise.schema.json").read_text())
    return parse_form(schema, RAISE_FORM).data


def change_control_with_duplicate_check(lane: bool = True, form: bool = True) -> bytes:
    """change_control with a user task 'check_duplicates' just before 'validate' (inside the pre_decision subprocess)."""
    props = (b'<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property '
             b'name="formJsonSchemaFilename" value="change_control/triage.schema.json" /></spiffworkflow:properties>'
             b'</bpmn:extensionElements>') if form else b''
    task = (b'<bpmn:userTask id="check_duplicates" name="Check for duplicates">' + props +
            b'<bpmn:incoming>flow_validate_merge_to_validate</bpmn:incoming>'
            b'<bpmn:outgoing>flow_check_duplicates_to_validate</bpmn:outgoing></bpmn:userTask>\n      ')
    xml = CHANGE_CONTROL.replace(b'<bpmn:userTask id="validate" ', task + b'<bpmn:userTask id="validate" ', 1)
    xml = xml.replace(b'<bpmn:incoming>flow_validate_merge_to_validate</bpmn:incoming>\n        <bpmn:outgoing>'
                      b'flow_validate_to_valid_gateway',
                      b'<bpmn:incoming>flow_check_duplicates_to_validate</bpmn:incoming>\n        <bpmn:outgoing>'
                      b'flow_validate_to_valid_gateway')
    xml = xml.replace(b'<bpmn:sequenceFlow id="flow_validate_merge_to_validate" sourceRef="validate_merge" '
                      b'targetRef="validate" />',
                      b'<bpmn:sequenceFlow id="flow_validate_merge_to_validate" sourceRef="validate_merge" '
                      b'targetRef="check_duplicates" />\n      <bpmn:sequenceFlow id="flow_check_duplicates_to_validate" '
                      b'sourceRef="check_duplicates" targetRef="validate" />')
    if lane:
        xml = xml.replace(b'<bpmn:flowNodeRef>validate</bpmn:flowNodeRef>',
                          b'<bpmn:flowNodeRef>validate</bpmn:flowNodeRef>\n        '
                          b'<bpmn:flowNodeRef>check_duplicates</bpmn:flowNodeRef>')
    assert xml.count(b'check_duplicates') >= 4
    return xml


def open_draft_as_analyst(page, base: str, process_id: str) -> None:
    """Sign in as the analyst (ann) in the browser and open the process's draft in the library."""
    from tests.conftest import TEST_PASSWORD
    page.goto(base + "/sign-in")
    page.fill("#username", "ann")
    page.fill("#password", TEST_PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base + "/")
    page.goto(f"{base}/library/{process_id}")
    page.click("#open-draft")
