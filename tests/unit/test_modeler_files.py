"""Files from other modelers: any XML encoding lxml reads is accepted (every hardening kept), and Camunda/FEEL syntax
in conditions, scripts, timers and DMN cells is named, with the Python to write instead."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.commands import govflow
from engine.bpmn.definitions import DeploymentError, Problem, SourceFile, load_bundle
from engine.bpmn.feel import recognise
from engine.bpmn.lint import lint
from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml

from .test_lint import DMN, LANES, TIMER, bundle_of, diagram, line_of, only

# ---- encodings -----------------------------------------------------------------------------------------------------


def declared(xml: str, encoding: str) -> str:
    return xml.replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)


def lint_bytes(data: bytes, name: str = "p.bpmn") -> list[Problem]:
    sources = [SourceFile(name, "bpmn", data), SourceFile("t/review.json", "form", b'{"type": "object"}'),
               SourceFile("settings.yaml", "settings", b"lapse_days: 20\n")]
    return lint(load_bundle(sources), LANES)


def test_iso_8859_1_file_of_plain_ascii_is_accepted() -> None:
    # refused before: safe_xml refused any declared encoding but UTF-8/ASCII, and parsed as UTF-8 whatever was declared
    xml = declared(diagram(), "ISO-8859-1")
    assert xml.startswith('<?xml version="1.0" encoding="ISO-8859-1"?>')
    assert lint_bytes(xml.encode("latin-1")) == []


@pytest.mark.parametrize("encoding, codec, text", [
    ("ISO-8859-1", "latin-1", "Costs in £"),
    ("windows-1252", "cp1252", "Costs in €"),
    ("Shift_JIS", "shift_jis", "変更要求"),
    ("UTF-16", "utf-16", "Costs in £ and €"),
    ("IBM037", "cp037", "Costs in ¢"),
])
def test_other_encodings_are_read_as_declared(encoding: str, codec: str, text: str) -> None:
    xml = declared(diagram(), encoding).replace('<bpmn:userTask id="review" name="Validate">',
                                                f'<bpmn:userTask id="review" name="{text}">')
    tree = parse_xml(xml.encode(codec), "p.bpmn")
    assert tree.xpath("//*[@id='review']/@name") == [text]
    assert lint_bytes(xml.encode(codec)) == []


def test_lines_are_those_of_the_file_in_any_encoding() -> None:
    xml = declared(diagram(lane=None), "UTF-16")
    problem = only(lint_bytes(xml.encode("utf-16")))
    assert (problem.element_id, problem.line) == ("review", line_of(xml, 'id="review"'))


def test_an_encoding_nobody_can_read_is_refused_plainly() -> None:
    with pytest.raises(DeploymentError) as caught:
        load_bundle([SourceFile("p.bpmn", "bpmn", declared(diagram(), "klingon").encode())])
    assert caught.value.problems == [Problem(
        "p.bpmn", 'the file declares encoding "klingon", which govflow cannot read: save it as UTF-8', line=1)]


def test_bytes_that_are_not_in_the_declared_encoding_are_refused_at_their_line() -> None:
    xml = diagram().replace('name="Validate"', 'name="Costs in £"')
    with pytest.raises(DeploymentError) as caught:
        load_bundle([SourceFile("p.bpmn", "bpmn", xml.encode("latin-1"))])  # declares UTF-8
    assert caught.value.problems == [Problem(
        "p.bpmn", "the file is not valid UTF-8: byte 0xa3 cannot be read as UTF-8", line=line_of(xml, "Costs in"))]


def test_hardening_is_kept_in_every_encoding() -> None:
    doctype = ('<?xml version="1.0" encoding="ISO-8859-1"?>\n'
               '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/hostname">]>\n<d>&e;</d>')
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(doctype.encode("latin-1"), "p.bpmn")
    assert (caught.value.line, caught.value.reason) == (2, "DOCTYPE declarations are not allowed")
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml('<?xml version="1.0" encoding="windows-1252"?>\n<d>\n&x;</d>'.encode("cp1252"), "p.bpmn")
    assert (caught.value.line, caught.value.reason) == (3, "malformed XML: Entity 'x' not defined")
    big = declared(diagram(), "ISO-8859-1").encode("latin-1")
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(big, "p.bpmn", max_bytes=len(big) - 1)
    assert caught.value.reason.startswith("file is too large")
    utf16 = '<?xml version="1.0" encoding="UTF-16"?>\n<!DOCTYPE d>\n<d/>'.encode("utf-16")
    with pytest.raises(UnsafeXmlError) as caught:
        parse_xml(utf16, "p.bpmn")
    assert (caught.value.line, caught.value.reason) == (2, "DOCTYPE declarations are not allowed")


# ---- Camunda and FEEL in a diagram -------------------------------------------------------------------------------

GATEWAY = """    <bpmn:exclusiveGateway id="review" name="Big?" default="f3">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:exclusiveGateway>
"""
FLOWS = """    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" name="big" sourceRef="review" targetRef="end">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"{language}>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end" />
"""


def condition_problems(condition: str, language: str = "") -> tuple[str, list[Problem]]:
    xml = diagram(review=GATEWAY, start_end=FLOWS.format(condition=condition, language=language))
    return xml, lint(bundle_of(xml), LANES)


@pytest.mark.parametrize("condition, reason", [
    ("${amount &gt; 5}", "`${amount > 5}` is a Camunda expression; govflow conditions are Python: `amount > 5`"),
    ("#{approved}", "`#{approved}` is a Camunda expression; govflow conditions are Python: `approved`"),
    ("${approved &amp;&amp; !rejected}",
     "`${approved && !rejected}` is a Camunda expression; govflow conditions are Python: `approved and not rejected`"),
    ("${not(approved)}", "`${not(approved)}` is a Camunda expression; govflow conditions are Python: `not approved`"),
    ("amount = 5", "`amount = 5` is a FEEL equality (=); govflow conditions are Python: `amount == 5`"),
    ("approved = true", "`approved = true` is a FEEL equality (=); govflow conditions are Python: `approved == True`"),
    ("amount in [1..5]", "`amount in [1..5]` is a FEEL range; govflow conditions are Python: `1 <= amount <= 5`"),
    ("amount between 1 and 5",
     "`amount between 1 and 5` is a FEEL between test; govflow conditions are Python: `1 <= amount <= 5`"),
    ('decided_on &lt; date("2025-04-01")', '`decided_on < date("2025-04-01")` is a FEEL date(…); govflow conditions '
     'are Python: `decided_on < date.fromisoformat("2025-04-01")`'),
    ('string length(title) &gt; 3',
     "`string length(title) > 3` is a FEEL function (string length(…)); govflow conditions are Python: "
     "`len(title) > 3`"),
    ("some r in responses satisfies r.late",
     "`some r in responses satisfies r.late` is a FEEL quantified expression (some … satisfies); govflow conditions "
     "are Python: `any(r.late for r in responses)`"),
    ('execution.getVariable("amount") &gt; 5', '`execution.getVariable("amount") > 5` is a Camunda call '
     "(execution.getVariable); govflow conditions are Python: `amount > 5`"),
    # not mechanical: the construct is named, with what to use
    ('@"2025-04-01" &lt; today()', '`@"2025-04-01" < today()` is a FEEL temporal literal (@"…"); govflow conditions '
     'are Python: use date.fromisoformat("…") or datetime.fromisoformat("…")'),
    ('substring(code, 1, 2) = "CR"', '`substring(code, 1, 2) = "CR"` is a FEEL function (substring(…)); govflow '
     "conditions are Python: write it with Python's own functions and operators"),
])
def test_camunda_and_feel_conditions_are_named_with_the_python_to_write(condition: str, reason: str) -> None:
    xml, problems = condition_problems(condition)
    assert only(problems) == Problem("p.bpmn", reason, "f2", line_of(xml, "conditionExpression"))


@pytest.mark.parametrize("condition", [
    "amount &gt; 5", "approved and not rejected", "not(approved)", 'comment == "x = 5"', "status != 'open'",
    "add_working_days(now(), days=5) &gt; deadline", "amount &lt;= 5 or amount &gt;= 10",
])
def test_python_conditions_are_not_taken_for_feel(condition: str) -> None:
    assert condition_problems(condition)[1] == []


@pytest.mark.parametrize("condition, language, name", [
    ("amount &gt; 5 &amp;&amp; x", "javascript", "JavaScript"),
    ("amount.compareTo(5) &gt; 0 ?: x", "groovy", "Groovy"),
])
def test_a_condition_in_another_language_says_so(condition: str, language: str, name: str) -> None:
    xml, problems = condition_problems(condition, language=f' language="{language}"')
    assert only(problems) == Problem("p.bpmn", f"conditionExpression of 'big' is {name} (language=\"{language}\"); "
                                     "govflow conditions are Python: rewrite it in Python", "f2",
                                     line_of(xml, "conditionExpression"))


def test_a_python_condition_in_a_language_attribute_still_runs() -> None:
    assert condition_problems("amount &gt; 5", language=' language="javascript"')[1] == []


SCRIPT_TASK = """    <bpmn:scriptTask id="review" name="Approve"{format}>
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
"""


def test_a_camunda_script_call_is_named_at_its_line() -> None:
    script = 'total = 1\nexecution.setVariable("approved", true);'
    xml = diagram(review=SCRIPT_TASK.format(format="", script=script))
    assert only(lint(bundle_of(xml), LANES)) == Problem(
        "p.bpmn", '`execution.setVariable("approved", true);` is a Camunda call (execution.setVariable); govflow '
        "scripts are Python: `approved = True`", "review", line_of(xml, "execution.setVariable"))


def test_a_groovy_script_says_it_is_groovy() -> None:
    xml = diagram(review=SCRIPT_TASK.format(format=' scriptFormat="groovy"', script="def total = amount * 2"))
    assert only(lint(bundle_of(xml), LANES)) == Problem(
        "p.bpmn", "script of 'Approve' is Groovy (scriptFormat=\"groovy\"); govflow scripts are Python: rewrite it in "
        "Python", "review", line_of(xml, "<bpmn:script>"))


def test_a_python_script_labelled_javascript_still_runs() -> None:
    xml = diagram(review=SCRIPT_TASK.format(format=' scriptFormat="javascript"', script="total = 2"))
    assert lint(bundle_of(xml), LANES) == []


@pytest.mark.parametrize("kind, expression, reason", [
    ("timeDate", "${dueDate}", "`${dueDate}` is a Camunda expression; govflow timer expressions are Python: `dueDate`"),
    ("timeDate", 'date and time("2025-06-01T17:00:00Z")', '`date and time("2025-06-01T17:00:00Z")` is a FEEL date and '
     'time(…); govflow timer expressions are Python: `datetime.fromisoformat("2025-06-01T17:00:00Z")`'),
    ("timeDuration", 'duration("P3D")',
     '`duration("P3D")` is a FEEL duration(…); govflow timer expressions are Python: `"P3D"`'),
])
def test_camunda_and_feel_timers(kind: str, expression: str, reason: str) -> None:
    xml = diagram(TIMER.format(kind=kind, expression=expression))
    assert only(lint(bundle_of(xml), LANES)) == Problem("p.bpmn", reason, "chase", line_of(xml, f"<bpmn:{kind}"))


# ---- Camunda and FEEL in a decision table ------------------------------------------------------------------------


def dmn(material_cost: str = "&lt; 5000000", material_out: str = "True", input_expression: str = "cost") -> str:
    return DMN.format(policy="UNIQUE", input_expression=input_expression, material_cost=material_cost,
                      material_out=material_out)


def dmn_lint(text: str) -> list[Problem]:
    return [p for p in lint(bundle_of(diagram(), dmn=text), LANES) if p.file == "d.dmn"]


@pytest.mark.parametrize("cell, reason", [
    ("[1..5]", "`[1..5]` is a FEEL range; govflow DMN cells are Python: `1 <= ? <= 5`"),
    ("]1..5]", "`]1..5]` is a FEEL range; govflow DMN cells are Python: `1 < ? <= 5`"),
    ('"a","b"', "`\"a\",\"b\"` is a FEEL list of values; govflow DMN cells are Python: `? in ['a', 'b']`"),
    ('not("a")', "`not(\"a\")` is a FEEL negation (not(…)); govflow DMN cells are Python: `? != 'a'`"),
    ('not("a", "b")', "`not(\"a\", \"b\")` is a FEEL negation (not(…)); govflow DMN cells are Python: "
     "`? not in ['a', 'b']`"),
    ("&lt; 5, &gt; 10", "`< 5, > 10` is a FEEL list of tests; govflow DMN cells are Python: `? < 5 or ? > 10`"),
    ('&gt;= date("2025-04-01")', '`>= date("2025-04-01")` is a FEEL date(…); govflow DMN cells are Python: '
     '`>= date.fromisoformat("2025-04-01")`'),
])
def test_feel_input_cells_are_named_with_the_python_to_write(cell: str, reason: str) -> None:
    text = dmn(material_cost=cell)
    assert only(dmn_lint(text)) == Problem("d.dmn", reason, "material", line_of(text, 'id="material_cost"'))


@pytest.mark.parametrize("cell", ["&lt;= 5", "&lt; 5000000", "? &lt; 5", "'a'", "? in ['a', 'b']", "\"a\""])
def test_python_input_cells_are_not_taken_for_feel(cell: str) -> None:
    assert dmn_lint(dmn(material_cost=cell)) == []


def test_feel_output_cell_and_input_expression() -> None:
    text = dmn(material_out="true")
    assert only(dmn_lint(text)) == Problem("d.dmn", "`true` is a FEEL literal (true); govflow DMN cells are Python: "
                                           "`True`", "material", line_of(text, 'id="material_out"'))
    text = dmn(input_expression="${cost}")
    assert only(dmn_lint(text)) == Problem("d.dmn", "`${cost}` is a Camunda expression; govflow DMN input "
                                           "expressions are Python: `cost`", "in_cost", line_of(text, "in_cost_expr"))


def test_mechanical_conversions_compile_and_the_rest_is_only_named() -> None:
    assert recognise("${amount > 5}", "condition").python == "amount > 5"
    assert recognise("x = 5", "condition").python == "x == 5"
    assert recognise("[1..5]", "input_cell").python == "1 <= ? <= 5"
    assert recognise('"a","b"', "input_cell").python == "? in ['a', 'b']"
    assert recognise("${not(x)}", "condition").python == "not x"
    assert recognise('if cost > 5 then "big" else "small"', "output_cell").python == '"big" if cost > 5 else "small"'
    assert recognise("for r in items return r.cost", "expression").python == "[r.cost for r in items]"
    ranged = recognise("[1..5]", "condition")  # no subject to test: named, with how to write it
    assert (ranged.construct, ranged.python) == ("a FEEL range", None)
    assert recognise("amount > 5", "condition") is None


# ---- `govflow validate some.dmn` -----------------------------------------------------------------------------------


@pytest.fixture
def cli(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    return lambda *args: CliRunner().invoke(govflow, [str(a) for a in args], catch_exceptions=False)


def test_validate_checks_a_dmn_file_on_its_own(cli) -> None:
    shipped = Path(__file__).resolve().parents[2] / "processes" / "ofgem_threshold.dmn"
    result = cli("validate", shipped, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"valid": True, "processes": [], "decisions": ["ofgem_threshold"]}
    assert cli("validate", shipped).stdout.strip() == "Valid: decision ofgem_threshold"


def test_validate_refuses_a_dmn_file_with_feel_cells(cli, tmp_path) -> None:
    text = dmn(material_cost="[1..5]")
    path = tmp_path / "d.dmn"
    path.write_text(text)
    result = cli("validate", path)
    assert result.exit_code == 1
    line = line_of(text, 'id="material_cost"')
    assert (f"d.dmn line {line} [material]: `[1..5]` is a FEEL range; govflow DMN cells are Python: `1 <= ? <= 5`"
            in result.stderr)
