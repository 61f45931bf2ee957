"""The diff between two versions: elements added, removed and changed, with the properties that changed."""
from __future__ import annotations

import json

from engine.diff import bpmn_elements, diff_bpmn, diff_files

from .helpers import LOOP_BPMN, loop_with_extra_task, loop_without_fix


def test_an_added_task_and_its_flows_are_reported_with_their_properties():
    diff = diff_bpmn(LOOP_BPMN, loop_with_extra_task())
    added = {e.element_id: e for e in diff.added}
    assert set(added) == {"extra", "f2b"}
    assert added["extra"].type == "userTask" and added["extra"].name == "Extra check"
    props = {c.name: c.after for c in added["extra"].changes}
    assert props["formJsonSchemaFilename"] == "loop/review.schema.json"
    assert props["lane"] == "Change Control Manager"
    assert not diff.removed
    changed = {e.element_id: {c.name: (c.before, c.after) for c in e.changes} for e in diff.changed}
    assert changed["f2"] == {"to": ("valid_gw", "extra")}
    assert "elements" in changed["Lane_ccm"]


def test_removed_elements_are_listed():
    diff = diff_bpmn(LOOP_BPMN, loop_without_fix())
    assert {e.element_id for e in diff.removed} == {"fix", "lapse_timer", "f5", "f7"}
    changed = {e.element_id: {c.name: (c.before, c.after) for c in e.changes} for e in diff.changed}
    assert changed["f4"]["to"] == ("fix", "lapsed")


def test_changed_properties_name_before_and_after():
    after = LOOP_BPMN.replace(b'value="add_working_days(now(), 5)"', b'value="add_working_days(now(), 3)"')
    after = after.replace(b"valid == True", b"valid is True")
    after = after.replace(b"setting('lapse_days')", b"setting('raiser_lapse_days')")
    after = after.replace(b'name="Review"', b'name="Review the request"')
    diff = diff_bpmn(LOOP_BPMN, after)
    changed = {e.element_id: {c.name: (c.before, c.after) for c in e.changes} for e in diff.changed}
    assert changed["review"] == {"name": ("Review", "Review the request"),
                                 "dueDate": ("add_working_days(now(), 5)", "add_working_days(now(), 3)")}
    assert changed["f3"] == {"condition": ("valid == True", "valid is True")}
    assert changed["lapse_timer"]["timer timeDate"][1] == "add_working_days(now(), setting('raiser_lapse_days'))"
    assert not diff.added and not diff.removed


def test_layout_only_changes_are_not_changes():
    moved = LOOP_BPMN.replace(b"<bpmn:process", b"<!-- a comment -->\n<bpmn:process")
    assert diff_bpmn(LOOP_BPMN, moved).empty


def test_what_govflow_reads_off_an_element():
    elements = bpmn_elements(LOOP_BPMN)
    assert elements["fix"]["assignee"] == "started_by"
    assert elements["lapse_timer"]["attachedToRef"] == "fix"
    assert elements["review"]["instructionsForEndUser"] == "Review **{{ title }}**."
    assert elements["f1"] == {"type": "sequenceFlow", "from": "start", "to": "review"}


def test_files_forms_and_decision_rules_are_compared():
    form_a = json.dumps({"type": "object", "title": "A", "properties": {"x": {"type": "string", "title": "X"}}})
    form_b = json.dumps({"type": "object", "title": "A", "required": ["y"],
                         "properties": {"x": {"type": "string", "title": "X", "maxLength": 5},
                                        "y": {"type": "integer", "title": "Y"}}})
    dmn = (b'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">'
           b'<decision id="dec" name="Dec"><decisionTable id="t"><input id="i1" label="A"><inputExpression id="e">'
           b'<text>a</text></inputExpression></input><output id="o1" name="out"/>'
           b'<rule id="r1"><inputEntry id="c1"><text>&gt; 5</text></inputEntry><outputEntry id="c2"><text>True</text>'
           b'</outputEntry></rule></decisionTable></decision></definitions>')
    before = {"p.bpmn": LOOP_BPMN, "forms/p/a.schema.json": form_a.encode(), "t.dmn": dmn, "old.dmn": dmn}
    after = {"p.bpmn": LOOP_BPMN, "forms/p/a.schema.json": form_b.encode(), "t.dmn": dmn.replace(b"&gt; 5", b"&gt; 6"),
             "forms/p/new.schema.json": form_a.encode()}
    diff = diff_files(before, after)
    assert diff.files_added == ["forms/p/new.schema.json"] and diff.files_removed == ["old.dmn"]
    assert diff.files_changed == ["forms/p/a.schema.json", "t.dmn"]
    form = next(d for d in diff.documents if d.path == "forms/p/a.schema.json")
    assert [e.element_id for e in form.added] == ["y"]
    assert {e.element_id: [c.name for c in e.changes] for e in form.changed} == {"(form)": ["required"],
                                                                                   "x": ["maxLength"]}
    table = next(d for d in diff.documents if d.path == "t.dmn")
    assert [(e.element_id, [(c.name, c.before, c.after) for c in e.changes]) for e in table.changed] == [
        ("r1", [("input 1", "> 5", "> 6")])]
    assert diff.document("bpmn") is None  # the diagram did not change


def test_defaults_the_modeler_leaves_out_are_not_changes():
    written = LOOP_BPMN.replace(b'<bpmn:boundaryEvent id="lapse_timer" name="Raiser silent" attachedToRef="fix">',
                                b'<bpmn:boundaryEvent id="lapse_timer" name="Raiser silent" attachedToRef="fix" '
                                b'cancelActivity="true">')
    assert diff_bpmn(LOOP_BPMN, written).empty
    non_interrupting = written.replace(b'cancelActivity="true"', b'cancelActivity="false"')
    changed = diff_bpmn(LOOP_BPMN, non_interrupting).changed
    assert [(e.element_id, [(c.name, c.before, c.after) for c in e.changes]) for e in changed] == [
        ("lapse_timer", [("cancelActivity", None, "false")])]
