"""The diff between two versions: elements added, removed and changed, with the properties that changed."""
from __future__ import annotations

import json

from engine.bpmn.diff import bpmn_elements, diff_bpmn, diff_files, diff_tables

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


# ---- decision tables side by side -----------------------------------------------------------------------------------

def _dmn(rules: list[tuple[str | None, str, str, str]], inputs=(("i_cost", "Cost", "cost"),),
         output_label="Refer?", hit_policy="UNIQUE") -> bytes:
    """A one-decision DMN: rules are (id or None, first input cell, output cell, description); further inputs '-'."""
    head = "".join(f'<input id="{i}" label="{label}"><inputExpression id="{i}_e"><text>{expr}</text>'
                   f'</inputExpression></input>' for i, label, expr in inputs)
    body = ""
    for rule_id, cell, out, description in rules:
        ident = f' id="{rule_id}"' if rule_id else ""
        cells = f"<inputEntry><text>{cell}</text></inputEntry>" + "<inputEntry><text>-</text></inputEntry>" * (
            len(inputs) - 1)
        body += (f"<rule{ident}><description>{description}</description>{cells}"
                 f"<outputEntry><text>{out}</text></outputEntry></rule>")
    return (f'<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="d" name="d" namespace="x">'
            f'<decision id="refer" name="Refer to Ofgem"><decisionTable id="t" hitPolicy="{hit_policy}">{head}'
            f'<output id="o_refer" label="{output_label}" name="refer" />{body}</decisionTable></decision>'
            f'</definitions>').encode()


BASE = [("r1", "&lt; 5", "False", "small"), ("r2", "&gt;= 5", "True", "large"), ("r3", "None", "False", "unknown")]


def _rows(side):
    return [(r.rule_id, r.status, [c.text for c in r.cells], [c.changed for c in r.cells]) for r in side.rows]


def test_a_changed_cell_is_listed_and_marked_on_both_sides():
    after = [BASE[0], ("r2", "&gt;= 6", "True", "large"), BASE[2]]
    (table,) = diff_tables(_dmn(BASE), _dmn(after))
    assert table.status == "changed" and table.rules_changed == 1 and not table.rules_added
    assert [c.as_dict() for c in table.cell_changes] == [
        {"rule": "r2", "column": "Cost", "before": ">= 5", "after": ">= 6"}]
    assert _rows(table.before)[1] == ("r2", "changed", [">= 5", "True"], [True, False])
    assert _rows(table.after)[1] == ("r2", "changed", [">= 6", "True"], [True, False])
    assert [r.status for r in table.after.rows] == ["same", "changed", "same"]


def test_added_and_removed_rules_line_up_with_placeholders():
    after = [BASE[0], ("r9", "&gt; 100", "True", "huge"), BASE[2]]  # r2 removed, r9 added where it stood
    (table,) = diff_tables(_dmn(BASE), _dmn(after))
    assert (table.rules_added, table.rules_removed, table.rules_changed) == (1, 1, 0)
    assert [(r.rule_id, r.status) for r in table.before.rows] == [
        ("r1", "same"), ("r2", "removed"), (None, "absent"), ("r3", "same")]
    assert [(r.rule_id, r.status) for r in table.after.rows] == [
        ("r1", "same"), (None, "absent"), ("r9", "added"), ("r3", "same")]
    assert [r.number for r in table.after.rows] == [1, None, 2, 3]
    assert not table.cell_changes  # different ids are different rules, not a changed one


def test_rules_without_ids_pair_by_position():
    before = [(None, c, o, d) for _, c, o, d in BASE]
    after = [(None, "&lt; 5", "False", "small"), (None, "&gt;= 5", "True", "large (changed)"),
             (None, "None", "True", "unknown")]
    (table,) = diff_tables(_dmn(before), _dmn(after))
    assert [r.status for r in table.after.rows] == ["same", "changed", "changed"]
    assert [(c.rule, c.column, c.before, c.after) for c in table.cell_changes] == [
        ("rule 2", "description", "large", "large (changed)"), ("rule 3", "Refer?", "False", "True")]
    more = after + [(None, "-", "False", "fallback")]
    (table,) = diff_tables(_dmn(before), _dmn(more))
    assert [r.status for r in table.after.rows][-1] == "added" and table.rules_added == 1


def test_changed_added_and_removed_columns_are_marked():
    inputs = (("i_cost", "Cost", "cost"), ("i_tom", "TOM impact", "tom"))
    after = _dmn(BASE, inputs=inputs, output_label="Refer to Ofgem?", hit_policy="FIRST")
    (table,) = diff_tables(_dmn(BASE), after)
    assert table.hit_policy == ("UNIQUE", "FIRST") and table.status == "changed"
    assert [(c.key, c.status) for c in table.after.columns] == [
        ("input 1", "same"), ("input 2", "added"), ("output 1", "changed")]
    assert [(c.name, c.before, c.after) for c in table.after.columns[2].changes] == [
        ("label", "Refer?", "Refer to Ofgem?")]
    assert [c.changed for c in table.after.rows[0].cells] == [False, True, False]  # the new column's cells
    (back,) = diff_tables(after, _dmn(BASE))
    assert [(c.key, c.status) for c in back.before.columns] == [
        ("input 1", "same"), ("input 2", "removed"), ("output 1", "changed")]


def test_diff_files_carries_the_tables_of_a_changed_decision_file():
    after = _dmn([BASE[0], ("r2", "&gt;= 6", "True", "large"), BASE[2]])
    diff = diff_files({"p.bpmn": LOOP_BPMN, "t.dmn": _dmn(BASE)}, {"p.bpmn": LOOP_BPMN, "t.dmn": after})
    document = diff.document("dmn")
    assert [t.decision_id for t in document.tables] == ["refer"]
    assert json.loads(json.dumps(diff.as_dict()))["documents"][0]["tables"][0]["cell_changes"][0]["after"] == ">= 6"
    added = diff_files({"p.bpmn": LOOP_BPMN}, {"p.bpmn": LOOP_BPMN, "t.dmn": after}).document("dmn")
    assert added.tables[0].status == "added" and added.tables[0].rules_added == 3


def test_every_rule_of_both_sides_shows_once_in_the_after_order():
    import itertools
    from engine.bpmn.diff import _aligned, _pairs
    ids = ["a", "b", "c", None]
    for n_before in range(4):
        for before in itertools.permutations(ids, n_before):
            for after in itertools.permutations(ids, 3):
                rows = _aligned(_pairs(list(before), list(after)), len(before), len(after))
                assert sorted(i for i, _ in rows if i is not None) == list(range(len(before))), (before, after, rows)
                assert [j for _, j in rows if j is not None] == list(range(len(after))), (before, after, rows)
