"""Attachment fields are checked when a form is linted or deployed: the descriptor item shape, file types the engine
knows, limits that only narrow settings.yaml's; and settings.yaml's own attachment limits are checked by
`govflow validate` and deploy."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.commands import govflow
from engine.services.attachments import KINDS, confidential_ids, descriptor_items, field_schema, settings_problems
from engine.bpmn.forms import schema_problem
from engine.bpmn.lint import lint_report
from tests.unit.test_lint import diagram, lint_of

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SETTINGS = {"attachment_max_bytes": 10_000_000, "attachment_max_files": 10,
            "attachment_types": ["pdf", "docx", "xlsx", "pptx", "csv", "txt", "png", "jpg"]}


def form_with(field: dict, **others) -> dict:
    return {"type": "object", "properties": {"papers": field, **others}}


def papers(**changes) -> dict:
    """The README's attachment field, with `changes` applied (None deletes a key)."""
    field = {"type": "array", "title": "Papers", "x-govflow-widget": "attachments", "maxItems": 3,
             "items": descriptor_items()}
    for key, value in changes.items():
        if value is None:
            field.pop(key, None)
        else:
            field[key] = value
    return field


def test_the_documented_field_and_every_shipped_form_pass() -> None:
    shipped = yaml.safe_load((ROOT / "processes" / "settings.yaml").read_text())
    assert settings_problems(shipped) == []
    for path in sorted((ROOT / "forms").rglob("*.json")):
        assert schema_problem(json.loads(path.read_text()), shipped) is None, path
    assert schema_problem(form_with(papers(**{"x-govflow-attachments": {"max_bytes": 2_000_000, "types": ["pdf"]}})),
                          SETTINGS) is None
    assert schema_problem(form_with(field_schema("Papers", max_files=2, max_bytes=5_000_000, types=["jpg", "pdf"])),
                          SETTINGS) is None


@pytest.mark.parametrize("change, expected", [
    ({"type": "string"}, '"type": "array"'),
    ({"items": {"type": "string"}}, "must be the file descriptor"),
    ({"items": {**descriptor_items(), "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}},
     '"size" of type "integer"'),
    ({"items": {**descriptor_items(), "properties": {**descriptor_items()["properties"], "id": {"type": "string"}}}},
     '"id" of type "integer"'),
    ({"items": {**descriptor_items(), "required": ["id", "name"]}}, 'must list size, type in "required"'),
])
def test_an_attachment_field_must_hold_file_descriptors(change, expected) -> None:
    reason = schema_problem(form_with(papers(**change)), SETTINGS)
    assert reason is not None and reason.startswith("attachment field 'papers': ") and expected in reason, reason


@pytest.mark.parametrize("own, expected", [
    ({"types": ["pdf", "exe"]}, "types 'exe' is not a file type govflow knows: use pdf, docx"),
    ({"types": []}, "types must be a non-empty list"),
    ({"types": "pdf"}, "types must be a non-empty list"),
    ({"max_bytes": 0}, "max_bytes must be a whole number of bytes above 0, not 0"),
    ({"max_bytes": -5}, "above 0, not -5"),
    ({"max_bytes": "2 MB"}, "above 0, not '2 MB'"),
    ({"max_bytes": 2.5}, "above 0, not 2.5"),
    ({"max_bytes": True}, "above 0, not True"),
    ({"max_bytes": 10_000_001}, "max_bytes 10000001 is above attachment_max_bytes (10000000) in settings.yaml"),
    ({"maxbytes": 5}, "it may only have max_bytes, types, confidential_when"),
    ({"confidential_when": "secret"}, "confidential_when must name a yes/no (boolean) field beside it"),
])
def test_an_attachment_fields_own_limits_are_checked(own, expected) -> None:
    reason = schema_problem(form_with(papers(**{"x-govflow-attachments": own})), SETTINGS)
    assert reason is not None and expected in reason, reason


def test_a_field_may_narrow_the_settings_but_not_widen_them() -> None:
    narrow = {**SETTINGS, "attachment_types": ["pdf"], "attachment_max_files": 2}
    wider = form_with(papers(maxItems=2, **{"x-govflow-attachments": {"types": ["pdf", "png"]}}))
    assert "types 'png' is not in attachment_types in settings.yaml" in schema_problem(wider, narrow)
    assert "maxItems 3 is above attachment_max_files (2)" in schema_problem(form_with(papers()), narrow)
    assert schema_problem(form_with(papers(maxItems=2, **{"x-govflow-attachments": {"types": ["pdf"]}})),
                          narrow) is None
    # a bigger per-file ceiling in settings.yaml lets a field ask for more than the default 10 MB
    big = form_with(papers(**{"x-govflow-attachments": {"max_bytes": 30_000_000}}))
    assert schema_problem(big, {**SETTINGS, "attachment_max_bytes": 50_000_000}) is None
    assert "above attachment_max_bytes (10000000)" in schema_problem(big, {})  # no setting: the default
    # without settings (a form saved on its own) only the shape and the engine's types are checked
    assert schema_problem(big) is None
    assert "'exe'" in schema_problem(form_with(papers(**{"x-govflow-attachments": {"types": ["exe"]}})))


def test_nested_fields_and_misplaced_limits_are_found() -> None:
    in_rows = {"type": "object", "properties": {"rows": {"type": "array", "items": {
        "type": "object", "properties": {"evidence": papers(type="object")}}}}}
    assert schema_problem(in_rows, SETTINGS).startswith("attachment field 'rows[].evidence': ")
    grouped = {"type": "object", "properties": {"group": {"type": "object", "properties": {"evidence": papers(
        **{"x-govflow-attachments": {"types": ["gif"]}})}}}}
    assert "attachment field 'group.evidence': types 'gif'" in schema_problem(grouped, SETTINGS)
    stray = form_with(papers(), note={"type": "string", "x-govflow-attachments": {"types": ["pdf"]}})
    assert schema_problem(stray, SETTINGS) == \
        "field 'note' has \"x-govflow-attachments\" but is not an attachment field (\"x-govflow-widget\": " \
        "\"attachments\")"
    switch = form_with(papers(**{"x-govflow-attachments": {"confidential_when": "secret"}}),
                       secret={"type": "boolean"})
    assert schema_problem(switch, SETTINGS) is None


def test_lint_checks_a_tasks_form_against_the_bundles_settings() -> None:
    form = form_with(papers(**{"x-govflow-attachments": {"max_bytes": 20_000_000}}))
    problems = lint_of(diagram(), forms={"t/review.json": form}, settings=SETTINGS)
    assert len(problems) == 1, lint_report(problems)
    assert problems[0].element_id == "review"
    assert problems[0].reason == ("user task 'Validate': form 't/review.json': attachment field 'papers': max_bytes "
                                  "20000000 is above attachment_max_bytes (10000000) in settings.yaml: a field may "
                                  "only narrow it")
    assert lint_of(diagram(), forms={"t/review.json": form},
                   settings={**SETTINGS, "attachment_max_bytes": 25_000_000}) == []


def test_settings_with_unknown_types_or_bad_limits_are_refused_by_lint() -> None:
    assert settings_problems({**SETTINGS, "attachment_types": ["pdf", "exe", "zip"]}) == [
        f"attachment_types names 'exe', 'zip', which govflow cannot check: use only {', '.join(KINDS)}"]
    assert settings_problems({"attachment_types": "pdf"}) == [
        "attachment_types must be a non-empty list of file types, such as [pdf, docx]"]
    assert settings_problems({"attachment_max_bytes": "10MB", "attachment_max_files": 0}) == [
        "attachment_max_bytes must be a whole number above 0, not '10MB'",
        "attachment_max_files must be a whole number above 0, not 0"]
    assert settings_problems({"attachment_types": ["PDF", "jpeg"]}) == []
    problems = lint_of(diagram(), settings={**SETTINGS, "attachment_types": ["pdf", "exe"]})
    assert [(p.file, p.reason) for p in problems] == [
        ("settings.yaml", f"attachment_types names 'exe', which govflow cannot check: use only {', '.join(KINDS)}")]


def test_govflow_validate_refuses_settings_naming_an_unknown_type(empty_database_url, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    processes = tmp_path / "processes"
    shutil.copytree(FIXTURES / "processes", processes)
    settings = processes / "settings.yaml"
    runner = CliRunner()

    def validate():
        return runner.invoke(govflow, ["validate", str(processes), "--forms", str(FIXTURES / "forms"), "--json"],
                             catch_exceptions=False)

    settings.write_text(settings.read_text() + "attachment_types: [pdf, exe]\nattachment_max_files: 0\n")
    result = validate()
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stderr)["problems"]
    assert [(p["file"], p["reason"]) for p in problems] == [
        ("settings.yaml", "attachment_max_files must be a whole number above 0, not 0"),
        ("settings.yaml", f"attachment_types names 'exe', which govflow cannot check: use only {', '.join(KINDS)}")]
    settings.write_text(settings.read_text().replace("[pdf, exe]", "[pdf, jpeg]").replace("files: 0", "files: 3"))
    fixed = validate()
    assert fixed.exit_code == 0, fixed.output + fixed.stderr
    assert json.loads(fixed.stdout) == {"valid": True, "processes": ["loop"]}


def test_confidential_ids_follow_the_switch_beside_the_field() -> None:
    schema = form_with(papers(**{"x-govflow-attachments": {"confidential_when": "secret"}}),
                       secret={"type": "boolean"}, open={"type": "array", "x-govflow-widget": "attachments"})
    files = [{"id": 7, "name": "a.pdf", "size": 1, "type": "application/pdf"}, {"id": 9}]
    assert confidential_ids(schema, {"papers": files, "secret": True, "open": [{"id": 11}]}) == {7, 9}
    assert confidential_ids(schema, {"papers": files, "secret": False}) == set()
    assert confidential_ids(schema, {"papers": files}) == set()
    rows = {"type": "object", "properties": {"rows": {"type": "array", "items": copy.deepcopy(schema)}}}
    assert confidential_ids(rows, {"rows": [{"papers": [{"id": 1}], "secret": True},
                                            {"papers": [{"id": 2}], "secret": False}]}) == {1}
