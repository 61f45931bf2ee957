"""The deployment lint names the file, element, line and reason for each kind of refusal, and passes a sound bundle."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from engine.bpmn.definitions import Problem, SourceFile, collect_sources, load_bundle, load_roles_file, roles_by_lane
from engine.bpmn.lint import lint, lint_report, timer_problem

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "lint_fixtures"
LANES = roles_by_lane([("participant", "Participant"), ("change_control_manager", "Change Control Manager")])
FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}}

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="p" isExecutable="true">
"""
TAIL = """  </bpmn:process>
</bpmn:definitions>
"""
LANE_SET = """    <bpmn:laneSet id="lanes">
      <bpmn:lane id="Lane_p" name="{lane}">
        <bpmn:flowNodeRef>start</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>review</bpmn:flowNodeRef>
        <bpmn:flowNodeRef>end</bpmn:flowNodeRef>
      </bpmn:lane>
    </bpmn:laneSet>
"""
REVIEW = """    <bpmn:userTask id="review" name="Validate">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="{form}" />
          <spiffworkflow:property name="dueDate" value="{due}" />
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
"""
START_END = """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end" />
"""


def diagram(body: str = "", *, lane: str | None = "Participant", form: str = "t/review.json",
            due: str = "add_working_days(now(), 5)", review: str | None = None, start_end: str = START_END) -> str:
    """A one-task process (start → review → end) in one lane, with `body` added inside the process."""
    lanes = LANE_SET.format(lane=lane) if lane is not None else ""
    task = review if review is not None else REVIEW.format(form=form, due=due)
    return HEAD + lanes + task + start_end + body + TAIL


def bundle_of(bpmn: str, *, forms: dict | None = None, settings: dict | None = None, dmn: str | None = None,
              name: str = "p.bpmn"):
    sources = [SourceFile(name, "bpmn", bpmn.encode())]
    for path, schema in ({"t/review.json": FORM} if forms is None else forms).items():
        sources.append(SourceFile(path, "form", json.dumps(schema).encode()))
    sources.append(SourceFile("settings.yaml", "settings", yaml.safe_dump(settings or {"lapse_days": 20}).encode()))
    if dmn is not None:
        sources.append(SourceFile("d.dmn", "dmn", dmn.encode()))
    return load_bundle(sources)


def lint_of(bpmn: str, **kwargs) -> list[Problem]:
    return lint(bundle_of(bpmn, **kwargs), LANES)


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line that contains `needle`."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, lint_report(problems)
    return problems[0]


# ---- a sound bundle ------------------------------------------------------------------------------------------------


def test_the_loop_fixture_has_no_problems() -> None:
    sources = collect_sources([ROOT / "tests/fixtures/processes"], ROOT / "tests/fixtures/forms")
    assert lint(load_bundle(sources), LANES) == []


def test_the_minimal_diagram_has_no_problems() -> None:
    assert lint_of(diagram()) == []


def test_report_lists_each_problem_with_file_line_and_element() -> None:
    problems = [Problem("p.bpmn", "user task 'Validate' is in no lane", "review", 7)]
    assert lint_report(problems) == "1 problem found:\n  p.bpmn line 7 [review]: user task 'Validate' is in no lane"
    assert lint_report([]) == "No problems found."


# ---- 1. lanes for human work ---------------------------------------------------------------------------------------


def test_user_task_in_no_lane() -> None:
    xml = diagram(lane=None)
    problem = only(lint_of(xml))
    assert problem == Problem("p.bpmn", "user task 'Validate' is in no lane: put it in the lane of the role that "
                              "does it", "review", line_of(xml, 'id="review"'))


def test_start_event_with_a_form_in_no_lane() -> None:
    start = """    <bpmn:startEvent id="raise" name="Raise">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formJsonSchemaFilename" value="t/review.json" />
      </spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:outgoing>f0</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:endEvent id="raised"><bpmn:incoming>f0</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="raise" targetRef="raised" />
"""
    xml = diagram(start)
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("raise", line_of(xml, 'id="raise"'))
    assert problem.reason == "start event 'Raise' is in no lane: put it in the lane of the role that does it"


# ---- 2. lanes are roles --------------------------------------------------------------------------------------------


def test_lane_that_is_no_known_role() -> None:
    xml = diagram(lane="Operations")
    problem = only(lint_of(xml))
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "Lane_p", line_of(xml, 'id="Lane_p"'))
    assert problem.reason == ("lane 'Operations' is not a known role: name it after one of "
                              "'change control manager', 'participant'")


def test_lane_names_match_roles_by_name_or_id_in_any_case() -> None:
    assert lint_of(diagram(lane="change_control_manager")) == []
    assert lint_of(diagram(lane="  PARTICIPANT ")) == []


# ---- 3. forms ------------------------------------------------------------------------------------------------------


def test_user_task_without_a_form() -> None:
    review = REVIEW.format(form="", due="now()").replace(
        '<spiffworkflow:property name="formJsonSchemaFilename" value="" />', "")
    xml = diagram(review=review)
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("review", line_of(xml, 'id="review"'))
    assert problem.reason == ("user task 'Validate' has no form: add a property 'formJsonSchemaFilename' "
                              "naming a JSON Schema file under forms/")


def test_user_task_whose_form_file_is_missing() -> None:
    xml = diagram(form="t/nope.json")
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("review", line_of(xml, "formJsonSchemaFilename"))
    assert problem.reason == "user task 'Validate' uses form 't/nope.json', which is not in forms/"


def test_user_task_whose_form_is_no_json_schema() -> None:
    xml = diagram()
    problem = only(lint_of(xml, forms={"t/review.json": {"type": "object", "properties": {"ok": {"type": 5}}}}))
    assert (problem.element_id, problem.line) == ("review", line_of(xml, "formJsonSchemaFilename"))
    assert problem.reason.startswith("user task 'Validate': form 't/review.json' is not a valid JSON Schema: ")


def test_form_schema_must_be_an_object() -> None:
    problem = only(lint_of(diagram(), forms={"t/review.json": {"type": "array"}}))
    assert problem.reason == "user task 'Validate': form 't/review.json': a form schema must have \"type\": \"object\""


def test_form_with_an_unknown_not_before_value() -> None:
    form = {"type": "object", "properties": {"due": {"type": "string", "format": "date",
                                                     "x-govflow-not-before": "tomorrow"}}}
    problem = only(lint_of(diagram(), forms={"t/review.json": form}))
    assert problem.reason == ("user task 'Validate': form 't/review.json': field 'due': \"x-govflow-not-before\" "
                              "must be one of 'today', not 'tomorrow'")


# ---- 4. timers -----------------------------------------------------------------------------------------------------

TIMER = """    <bpmn:boundaryEvent id="chase" name="Chase" attachedToRef="review">
      <bpmn:outgoing>f9</bpmn:outgoing>
      <bpmn:timerEventDefinition id="chase_def">
        <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{expression}</bpmn:{kind}>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="chased"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f9" sourceRef="chase" targetRef="chased" />
"""


def timer_diagram(expression: str, kind: str = "timeDate") -> str:
    return diagram(TIMER.format(kind=kind, expression=expression))


def timer_lint(expression: str, kind: str = "timeDate") -> Problem:
    xml = timer_diagram(expression, kind)
    problem = only(lint_of(xml))
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "chase", line_of(xml, f"<bpmn:{kind}"))
    return problem


def test_cycle_timers_are_refused() -> None:
    problem = timer_lint("'R3/PT1H'", kind="timeCycle")
    assert problem.reason == ("not supported by govflow: cycle timers (timeCycle): use a timeDate worked out with "
                              "the working-day helpers, re-armed in a loop")


def test_bare_iso_duration_is_not_python() -> None:
    problem = timer_lint("PT2S", kind="timeDuration")
    assert problem.reason == ("timer expression PT2S is not Python: write 'PT2S' in quotes or use "
                              "add_working_days(...)")


def test_bare_iso_date_is_not_python() -> None:
    assert timer_lint("2025-06-01T17:00:00Z").reason.startswith("timer expression 2025-06-01T17:00:00Z is not Python")


def test_timer_that_does_not_compile() -> None:
    problem = timer_lint("add_working_days(now(), 5")
    assert problem.reason.startswith("timer expression add_working_days(now(), 5 does not compile: ")


def test_timer_that_escapes_the_sandbox_does_not_compile() -> None:
    problem = timer_lint("().__class__.__base__.__subclasses__()")
    assert "does not compile" in problem.reason


def test_timer_reading_a_missing_setting() -> None:
    problem = timer_lint("add_working_days(now(), setting('chase_days'))")
    assert problem.reason == ("timer expression add_working_days(now(), setting('chase_days')): "
                              "setting 'chase_days' is not defined in settings.yaml")


def test_timer_that_fails_when_run() -> None:
    problem = timer_lint("add_working_days(now(), 'five')")
    assert problem.reason.startswith("timer expression add_working_days(now(), 'five') fails: ")


def test_timer_that_gives_no_time() -> None:
    problem = timer_lint("'tomorrow'")
    assert problem.reason.startswith("timer expression 'tomorrow' gives 'tomorrow': a timeDate needs ")


def test_timer_that_gives_a_naive_time() -> None:
    assert "without a time zone" in timer_lint("'2025-06-01T17:00:00'").reason


def test_duration_timer_needs_a_duration() -> None:
    assert "a timeDuration needs an ISO duration" in timer_lint("now()", kind="timeDuration").reason


@pytest.mark.parametrize("kind, expression", [
    ("timeDate", "add_working_days(now(), setting('lapse_days'))"),
    ("timeDate", "end_of_working_day(add_working_days(today(), 3))"),
    ("timeDate", "'2025-06-01T17:00:00+00:00'"),
    ("timeDate", "'P3D'"),
    ("timeDuration", "'PT2S'"),
    ("timeDuration", "&quot;P%dD&quot; % setting('lapse_days')"),
    ("timeDate", "deadline"),  # task data: only a running instance has it
    ("timeDate", "add_working_days(parse_date(target_date), 2)"),
    ("timeDate", "add_working_days(now(), setting('missing', 5))"),
])
def test_sound_timers_pass(kind: str, expression: str) -> None:
    assert lint_of(timer_diagram(expression, kind)) == []


def test_timer_problem_can_be_asked_directly() -> None:
    assert timer_problem("timeDate", "add_working_days(now(), setting('x'))", {"x": 2}) is None
    assert timer_problem("timeDate", "", {}) is not None


# ---- 5. scripts and expressions compile in the sandbox -----------------------------------------------------------


def test_script_that_does_not_compile_in_the_sandbox() -> None:
    script = """    <bpmn:scriptTask id="review" name="Steal">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>total = 1
base = ().__class__.__base__</bpmn:script>
    </bpmn:scriptTask>
"""
    xml = diagram(review=script)
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("review", line_of(xml, "base = "))  # the script's own line
    assert problem.reason == ("script of 'Steal' does not compile: "
                              'attributes starting with "_" are not allowed ("__class__")')


def test_pre_script_and_due_date_are_checked() -> None:
    review = REVIEW.format(form="t/review.json", due="now().__globals__").replace(
        "</spiffworkflow:properties>",
        "</spiffworkflow:properties>\n        <spiffworkflow:preScript>x = _secret</spiffworkflow:preScript>")
    xml = diagram(review=review)
    problems = lint_of(xml)
    assert [(p.element_id, p.line) for p in problems] == [
        ("review", line_of(xml, 'name="dueDate"')), ("review", line_of(xml, "preScript"))]
    assert problems[0].reason.startswith("dueDate of 'Validate' does not compile: ")
    assert problems[1].reason.startswith("pre-script of 'Validate' does not compile: ")


def test_message_acceptance_rule_and_refusal_words_are_checked() -> None:
    review = REVIEW.format(form="t/review.json", due="now()").replace(
        "</spiffworkflow:properties>",
        """  <spiffworkflow:property name="acceptsWhen" value="sender in __builtins__" />
          <spiffworkflow:property name="closedRefusal" value="Closed on {{ closed_at | date }" />
        </spiffworkflow:properties>""")
    xml = diagram(review=review)
    problems = lint_of(xml)
    assert [(p.element_id, p.line) for p in problems] == [
        ("review", line_of(xml, 'name="acceptsWhen"')), ("review", line_of(xml, 'name="closedRefusal"'))]
    assert problems[0].reason.startswith("acceptsWhen of 'Validate' does not compile: ")
    assert problems[1].reason.startswith("closedRefusal of 'Validate' is not a valid template: ")


def test_gateway_condition_that_does_not_compile() -> None:
    gateway = """    <bpmn:exclusiveGateway id="review" name="Valid?" default="f3">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:exclusiveGateway>
"""
    flows = """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" name="valid" sourceRef="review" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">valid ==</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
"""
    xml = diagram(review=gateway, start_end=flows)
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("f2", line_of(xml, "conditionExpression"))
    assert problem.reason.startswith("conditionExpression of 'valid' does not compile: ")


DMN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="dmn_defs" name="Thresholds"
    namespace="http://camunda.org/schema/1.0/dmn">
  <decision id="ofgem_threshold" name="Ofgem threshold">
    <decisionTable id="table" hitPolicy="{policy}">
      <input id="in_cost" label="Cost">
        <inputExpression id="in_cost_expr" typeRef="number"><text>{input_expression}</text></inputExpression>
      </input>
      <input id="in_material" label="Material">
        <inputExpression id="in_material_expr" typeRef="boolean"><text>material</text></inputExpression>
      </input>
      <output id="out_refer" label="Refer to Ofgem" name="refer" typeRef="boolean" />
      <rule id="big">
        <inputEntry id="big_cost"><text>&gt;= 5000000</text></inputEntry>
        <inputEntry id="big_material"><text>-</text></inputEntry>
        <outputEntry id="big_out"><text>True</text></outputEntry>
      </rule>
      <rule id="material">
        <inputEntry id="material_cost"><text>{material_cost}</text></inputEntry>
        <inputEntry id="material_material"><text>True</text></inputEntry>
        <outputEntry id="material_out"><text>{material_out}</text></outputEntry>
      </rule>
      <rule id="small">
        <inputEntry id="small_cost"><text>? &lt; 5000000</text></inputEntry>
        <inputEntry id="small_material"><text>False</text></inputEntry>
        <outputEntry id="small_out"><text>False</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""


def dmn(policy: str = "UNIQUE", input_expression: str = "cost", material_cost: str = "&lt; 5000000",
        material_out: str = "True") -> str:
    return DMN.format(policy=policy, input_expression=input_expression, material_cost=material_cost,
                      material_out=material_out)


def dmn_lint(text: str) -> list[Problem]:
    return [p for p in lint_of(diagram(), dmn=text) if p.file == "d.dmn"]


def test_sound_decision_table_passes() -> None:
    assert dmn_lint(dmn()) == []


def test_dmn_input_expression_that_does_not_compile() -> None:
    text = dmn(input_expression="cost.__class__")
    problem = only(dmn_lint(text))
    assert (problem.element_id, problem.line) == ("in_cost", line_of(text, "in_cost_expr"))
    assert problem.reason.startswith("input expression of 'Cost' does not compile: ")


def test_dmn_cells_that_do_not_compile() -> None:
    text = dmn(material_cost="&lt; _limit", material_out="__import__('os')")
    problems = dmn_lint(text)
    assert [(p.element_id, p.line) for p in problems] == [
        ("material", line_of(text, 'id="material_cost"')), ("material", line_of(text, 'id="material_out"'))]
    assert problems[0].reason.startswith("input cell '< _limit' of rule 'material' does not compile: ")
    assert problems[1].reason.startswith("output cell \"__import__('os')\" of rule 'material' does not compile: ")


# ---- 6. gateways ---------------------------------------------------------------------------------------------------


def test_split_without_default_and_a_flow_without_condition() -> None:
    xml = (FIXTURES / "gateway_without_default.bpmn").read_text()
    problem = only(lint(bundle_of(xml, name="gateway_without_default.bpmn"), LANES))
    assert (problem.file, problem.element_id, problem.line) == (
        "gateway_without_default.bpmn", "valid_gw", line_of(xml, 'id="valid_gw"'))
    assert problem.reason == ("exclusive gateway 'Valid?' has no default flow and its flow 'invalid' has no "
                              "condition: add a condition or make one flow the default")


# ---- 7. reachability -----------------------------------------------------------------------------------------------


def test_element_that_no_start_event_reaches() -> None:
    body = """    <bpmn:scriptTask id="orphan" name="Orphan"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
"""
    xml = diagram(body)
    problem = only(lint_of(xml))
    assert (problem.element_id, problem.line) == ("orphan", line_of(xml, 'id="orphan"'))
    assert problem.reason == "script task 'Orphan' cannot be reached from a start event"


def test_boundary_events_subprocesses_and_event_subprocesses_are_reached() -> None:
    xml = (FIXTURES / "reachable.bpmn").read_text()
    assert lint(bundle_of(xml, name="reachable.bpmn"), LANES) == []


# ---- 8. overlapping rules in a UNIQUE table ------------------------------------------------------------------------


def test_unique_rules_that_can_both_match() -> None:
    text = dmn(material_cost="-")
    problem = only(dmn_lint(text))
    assert (problem.element_id, problem.line) == ("material", line_of(text, '<rule id="material">'))
    assert problem.reason.startswith("rules big and material of decision 'ofgem_threshold' can both match")


def test_collect_tables_may_overlap() -> None:
    assert dmn_lint(dmn(policy="COLLECT", material_cost="-")) == []


# ---- the shipped diagrams ------------------------------------------------------------------------------------------


def test_the_shipped_processes_lint_clean() -> None:
    roles = [(r["id"], r["name"]) for r in load_roles_file(ROOT / "processes/roles.yaml")]
    sources = collect_sources([ROOT / "processes"], ROOT / "forms")
    problems = lint(load_bundle(sources), roles_by_lane(roles))
    assert problems == [], lint_report(problems)


# ---- instructions for the user are Jinja templates that compile ------------------------------------------------------


def instructions_task(instructions: str) -> str:
    return REVIEW.format(form="t/review.json", due="add_working_days(now(), 5)").replace(
        "</spiffworkflow:properties>",
        "</spiffworkflow:properties>\n        <spiffworkflow:instructionsForEndUser>"
        f"{instructions}</spiffworkflow:instructionsForEndUser>")


def test_instructions_whose_template_does_not_parse_are_refused_at_their_line() -> None:
    xml = diagram(review=instructions_task("Review **{{ title }}**:\n{% for r in responses %}\n- {{ r.who }}\n"
                                           "{% endif %}"))
    problem = only(lint_of(xml))
    assert (problem.file, problem.element_id, problem.line) == ("p.bpmn", "review", line_of(xml, "{% endif %}"))
    assert problem.reason.startswith("instructions of 'Validate' are not a valid template: "
                                     "Encountered unknown tag 'endif'.")


def test_instructions_with_an_unclosed_tag_or_unknown_filter_are_refused() -> None:
    unclosed = only(lint_of(diagram(review=instructions_task("Hello {{ title "))))
    assert unclosed.reason.startswith("instructions of 'Validate' are not a valid template: ")
    assert "end of print statement" in unclosed.reason
    unknown = only(lint_of(diagram(review=instructions_task("{{ title|shout }}"))))
    assert unknown.reason == "instructions of 'Validate' are not a valid template: No filter named 'shout'."


def test_instructions_reading_internals_are_refused() -> None:
    xml = diagram(review=instructions_task("Fine.\n{{ title.__class__.__mro__ }}"))
    problem = only(lint_of(xml))
    assert problem.line == line_of(xml, "__mro__")
    assert problem.reason == "instructions of 'Validate' are not a valid template: instructions cannot read '__class__'"


def test_instructions_on_a_message_event_name_the_event() -> None:
    event = """    <bpmn:boundaryEvent id="late" name="Late response" attachedToRef="review">
      <bpmn:extensionElements>
        <spiffworkflow:instructionsForEndUser>{% if closed %}Closed</spiffworkflow:instructionsForEndUser>
      </bpmn:extensionElements>
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="late_end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="late" targetRef="late_end" />
"""
    problem = only(lint_of(diagram(event)))
    assert problem.element_id == "late"
    assert problem.reason.startswith("instructions of 'Late response' are not a valid template: Unexpected end")


def test_sound_instructions_with_loops_and_conditions_pass() -> None:
    assert lint_of(diagram(review=instructions_task(
        "Review **{{ reference }}**:\n{% for r in responses %}\n- {{ r.who }}{% if r.late %} (late){% endif %}\n"
        "{% else %}\nNo responses.\n{% endfor %}\n{{ r.missing.deep }} {{ '%d'|format(cost) }}"))) == []


def test_the_shipped_instructions_all_compile() -> None:
    from engine.bpmn.lint import BPMN_RULES, rule_instruction_templates
    roles = [(r["id"], r["name"]) for r in load_roles_file(ROOT / "processes/roles.yaml")]
    problems = lint(load_bundle(collect_sources([ROOT / "processes"], ROOT / "forms")), roles_by_lane(roles))
    assert [p for p in problems if "not a valid template" in p.reason] == []
    assert rule_instruction_templates in BPMN_RULES


@pytest.mark.parametrize("value", [-1, 51, "5", 2.5, True])
def test_a_move_back_window_out_of_range_is_refused_in_settings(value) -> None:
    problems = lint_of(diagram(), settings={"move_back_window": value})
    assert [(p.file, p.reason.split(" (")[0]) for p in problems] == [
        ("settings.yaml", "The setting move_back_window must be a whole number from 0 to 50")], lint_report(problems)
    assert lint_of(diagram(), settings={"move_back_window": 0}) == []
