"""The library's engine side on the real change-control process: drafts, validate, publish, versions, migrate."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Conflict, Forbidden
from engine.services.library import FileRefused, Library
from engine.store.models import AuditEvent, HumanTask, Instance

from .helpers import change_control_with_duplicate_check, raise_data

BPMN = "change_control.bpmn"


@pytest.fixture
def library(gov):
    return Library(gov)


def ready_elements(gov, instance_id):
    with gov.db.read() as session:
        return sorted(session.scalars(select(HumanTask.element_id).where(HumanTask.instance_id == instance_id,
                                                                        HumanTask.status == "ready")))


def test_only_analysts_edit_and_publish(library):
    with pytest.raises(Forbidden):
        library.open_draft("change_control", "carol")
    draft = library.open_draft("change_control", "ann")
    assert draft.base_version == 1 and BPMN in draft.files
    assert "forms/change_control/validate.schema.json" in draft.files and "ofgem_threshold.dmn" in draft.files
    with pytest.raises(Forbidden):
        library.publish("change_control", "carol", "note")


def test_draft_validate_publish_and_migrate(gov, library):
    old = gov.start("change_control", "alice", raise_data())
    assert ready_elements(gov, old.instance_id) == ["validate"]

    library.open_draft("change_control", "ann")
    library.save_file("change_control", BPMN, change_control_with_duplicate_check(lane=False, form=False), "ann")
    problems = library.validate_draft("change_control")
    about_task = [p for p in problems if p.element_id == "check_duplicates"]
    assert about_task and all(p.file == BPMN and p.line for p in about_task)
    reasons = " ".join(p.reason for p in about_task)
    assert "lane" in reasons and "form" in reasons
    with pytest.raises(Exception):
        library.publish("change_control", "ann", "Add a duplicate check")

    draft = library.save_file("change_control", BPMN, change_control_with_duplicate_check(), "ann")
    assert library.validate_draft("change_control") == []
    with pytest.raises(Conflict):  # a stale revision is refused
        library.save_file("change_control", BPMN, change_control_with_duplicate_check(), "ann",
                          revision=draft.revision - 1)
    diff = library.diff_draft("change_control")
    assert [e.element_id for e in diff.document("bpmn").added] == ["check_duplicates",
                                                                   "flow_check_duplicates_to_validate"]

    published = library.publish("change_control", "ann", "Add a duplicate check")
    assert published.version == 2 and library.draft("change_control") is None
    info = library.process("change_control")
    assert [(v["version"], v["published_by"], v["note"], v["running"]) for v in info["versions"]] == [
        (2, "ann", "Add a duplicate check", 0), (1, "system", "init", 1)]

    new = gov.start("change_control", "alice", raise_data())
    assert ready_elements(gov, new.instance_id) == ["check_duplicates"]
    # the older instance continues on version 1
    task_id = next(t.id for t in gov.tasks("carol") if t.instance_id == old.instance_id)
    gov.complete(task_id, "carol", _validate_answers(gov, task_id))
    assert "check_duplicates" not in ready_elements(gov, old.instance_id)

    # dry run: the new instance cannot go back to version 1; a v1 instance at 'validate' can move to v2
    versions = {v["version"]: v["id"] for v in info["versions"]}
    reports = library.migrate([new.instance_id], versions[1], "ann", dry_run=True)
    assert not reports[0].ok
    assert "Check for duplicates" in reports[0].reasons[0]
    with pytest.raises(Forbidden):
        library.migrate([new.instance_id], versions[1], "carol")
    with gov.db.read() as session:
        audited = session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == new.instance_id)).all()
    assert "instance.migration_checked" in audited


def _validate_answers(gov, task_id):
    """Answers to the validate form that mark the request valid."""
    import json
    from engine.config import PROJECT_ROOT
    schema = json.loads((PROJECT_ROOT / "forms/change_control/validate.schema.json").read_text())
    answers = {}
    for name, prop in schema["properties"].items():
        if name not in schema.get("required", []):
            continue
        if prop.get("type") == "boolean":
            answers[name] = True
        elif "enum" in prop:
            answers[name] = prop["enum"][0]
        else:
            answers[name] = "Looks complete"
    return answers


def test_an_instance_on_v1_at_validate_moves_to_v2(gov, library):
    old = gov.start("change_control", "alice", raise_data())
    library.open_draft("change_control", "ann")
    library.save_file("change_control", BPMN, change_control_with_duplicate_check(), "ann")
    v2 = library.publish("change_control", "ann", "Add a duplicate check")
    dry = library.migrate([old.instance_id], v2.version_id, "ann", dry_run=True)[0]
    assert dry.ok and "validate" in dry.active_elements and dry.from_version == 1 and dry.to_version == 2
    with gov.db.read() as session:
        assert session.get(Instance, old.instance_id).process_version_id != v2.version_id
    done = library.migrate([old.instance_id], v2.version_id, "ann", dry_run=False)[0]
    assert done.ok
    with gov.db.read() as session:
        assert session.get(Instance, old.instance_id).process_version_id == v2.version_id
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.instance_id == old.instance_id)).all()
    assert actions.count("instance.migrated") == 1
    # it keeps working on the new version: its open task completes there
    task_id = next(t.id for t in gov.tasks("carol") if t.instance_id == old.instance_id)
    gov.complete(task_id, "carol", _validate_answers(gov, task_id))
    assert ready_elements(gov, old.instance_id) != ["validate"]


def test_bad_files_are_refused_with_line_and_reason(library):
    library.open_draft("change_control", "ann")
    with pytest.raises(FileRefused) as refused:
        library.save_file("change_control", BPMN, b"<?xml version='1.0'?>\n<definitions>\n<oops></definitions>", "ann")
    problem = refused.value.problems[0]
    assert problem.file == BPMN and problem.line == 3 and problem.reason
    with pytest.raises(FileRefused) as refused:
        library.save_file("change_control", BPMN, b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x/>',
                          "ann")
    assert "DOCTYPE" in refused.value.problems[0].reason
    with pytest.raises(FileRefused):
        library.save_file("change_control", "../evil.bpmn", b"<x/>", "ann")
    with pytest.raises(FileRefused):
        library.save_file("change_control", "forms/change_control/x.schema.json", b'{"type": "array"}', "ann")


def test_simulate_runs_the_draft_in_memory(gov, library):
    library.open_draft("change_control", "ann")
    library.save_file("change_control", BPMN, change_control_with_duplicate_check(), "ann")
    result = library.simulate("change_control", raise_data(), {})
    assert result.error is None, result.error
    ids = [s.element_id for s in result.path]
    assert ids[:2] == ["start_raise", "log_request"]
    assert "check_duplicates" in [w.element_id for w in result.waiting]
    result = library.simulate("change_control", raise_data(), {"check_duplicates": {}})
    assert "check_duplicates" in [s.element_id for s in result.path]
    assert "validate" in [w.element_id for w in result.waiting]
    with gov.db.read() as session:
        assert session.scalar(select(Instance.id).where(Instance.started_by == "simulation")) is None
