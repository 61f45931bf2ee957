"""The canonical BPMN/DMN text: idempotent, the same document, stable under layout, prefix and attribute-order
changes, the diagram interchange last, and stable through bpmn-js's / dmn-js's own export (bpmn-moddle, dmn-moddle
from node_modules, run by Node as the browser runs them)."""
from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

import pytest

from engine.bpmn.safe_xml import UnsafeXmlError
from engine.bpmn.xml_format import canonical_items, normalise, same_document
from tests.library.helpers import change_control_with_duplicate_check

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "processes").glob("*.bpmn")) + sorted((ROOT / "processes").glob("*.dmn")) + [
    ROOT / "tests" / "fixtures" / "processes" / "loop.bpmn"]

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
COMPACT = f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN_NS}" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:omgdc="http://www.omg.org/spec/DD/20100524/DC" xmlns:x="http://www.w3.org/2001/XMLSchema-instance" targetNamespace="t" id="d"><bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane bpmnElement="p" id="plane"><bpmndi:BPMNShape bpmnElement="s" id="s_di"><omgdc:Bounds height="36" width="36" y="2" x="1"/></bpmndi:BPMNShape></bpmndi:BPMNPlane></bpmndi:BPMNDiagram><process isExecutable="true" id="p"><startEvent id="s"><outgoing>f</outgoing></startEvent><sequenceFlow targetRef="e" sourceRef="s" id="f"><conditionExpression x:type="tFormalExpression">a &lt; 2 and b &gt; 1</conditionExpression></sequenceFlow><scriptTask scriptFormat="python" name="Work it out" id="w"><script>
  x = 1
if x:
    y = "a &amp; b"
</script></scriptTask><endEvent id="e"/></process></definitions>""".encode()

PRETTY = f"""<?xml version='1.0' encoding='utf-8'?>
<semantic:definitions xmlns:semantic="{BPMN_NS}" xmlns:di2="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="d" targetNamespace="t">
    <semantic:process id="p" isExecutable="true">
        <semantic:startEvent id="s">
            <semantic:outgoing>f</semantic:outgoing>
        </semantic:startEvent>
        <semantic:sequenceFlow id="f" sourceRef="s" targetRef="e">
            <semantic:conditionExpression xsi:type="semantic:tFormalExpression">a &lt; 2 and b > 1</semantic:conditionExpression>
        </semantic:sequenceFlow>
        <semantic:scriptTask id="w" name="Work it out" scriptFormat="python"><semantic:script><![CDATA[
  x = 1
if x:
    y = "a & b"
]]></semantic:script></semantic:scriptTask>
        <semantic:endEvent id="e" />
    </semantic:process>
    <di2:BPMNDiagram id="dia">
      <di2:BPMNPlane id="plane" bpmnElement="p">
        <di2:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="1" y="2" width="36" height="36" /></di2:BPMNShape>
      </di2:BPMNPlane>
    </di2:BPMNDiagram>
</semantic:definitions>
""".encode()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_normalising_is_idempotent_and_keeps_the_document(path: Path) -> None:
    raw = path.read_bytes()
    once = normalise(raw, path.name)
    assert normalise(once, path.name) == once
    assert same_document(raw, once)
    assert canonical_items(raw) and len(canonical_items(raw)) == len(canonical_items(once))


def test_layout_prefixes_and_attribute_order_do_not_change_the_text() -> None:
    compact, pretty = normalise(COMPACT), normalise(PRETTY)
    assert compact == pretty
    text = compact.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn=')
    assert 'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"' in text and "omgdc" not in text
    assert '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">a &lt; 2 and b &gt; 1<' in text
    assert '<bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e">' in text
    assert '<dc:Bounds x="1" y="2" width="36" height="36" />' in text
    assert '<bpmn:script>\n  x = 1\nif x:\n    y = "a &amp; b"\n</bpmn:script>' in text  # text kept exactly
    assert text.index("<bpmn:process") < text.index("<bpmndi:BPMNDiagram")  # DI after the process
    assert "\n    <bpmn:startEvent id=\"s\">\n      <bpmn:outgoing>f</bpmn:outgoing>\n    </bpmn:startEvent>" in text
    assert same_document(COMPACT, compact) and same_document(PRETTY, pretty)


def test_a_changed_attribute_is_a_different_document() -> None:
    changed = PRETTY.replace(b'name="Work it out"', b'name="Work it out again"')
    assert not same_document(PRETTY, changed)
    assert not same_document(PRETTY, PRETTY.replace(b"b > 1", b"b > 2"))


def test_one_new_task_is_a_small_diff() -> None:
    before = normalise((ROOT / "processes" / "change_control.bpmn").read_bytes()).decode().splitlines()
    after = normalise(change_control_with_duplicate_check()).decode().splitlines()
    changed = [line for line in difflib.unified_diff(before, after, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert 0 < len(changed) <= 16, changed
    assert all("check_duplicates" in line or "flow_validate_merge_to_validate" in line
               or line.strip(" +-").startswith(("<bpmn:userTask", "</bpmn:userTask", "<bpmn:extensionElements",
                                                "</bpmn:extensionElements", "<spiffworkflow:propert",
                                                "</spiffworkflow:properties"))
               for line in changed), changed


def test_comments_and_processing_instructions_are_kept() -> None:
    xml = b'<?xml version="1.0"?>\n<!-- header\n  kept as written -->\n<a:r xmlns:a="urn:x"><!-- inside --><a:b/></a:r>'
    assert normalise(xml) == (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- header\n  kept as written -->\n'
                              b'<a:r xmlns:a="urn:x">\n  <!-- inside -->\n  <a:b />\n</a:r>\n')


def test_the_hardened_parser_refuses_what_it_always_refuses() -> None:
    with pytest.raises(UnsafeXmlError):
        normalise(b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', "evil.bpmn")
    with pytest.raises(UnsafeXmlError):
        normalise(b"<x><y></x>", "broken.bpmn")


# ---- through bpmn-js's and dmn-js's export (the same moddle serialiser the modeler's saveXML uses) --------------

_EXPORT_BPMN = """
import BpmnModdle from %(bpmn)s;
import fs from 'fs';
globalThis.window = {};
new Function('window', 'module', fs.readFileSync(%(spiff)s, 'utf8'))(globalThis.window, undefined);
const moddle = new BpmnModdle({ spiffworkflow: globalThis.window.govflowSpiffModdle });
const { rootElement } = await moddle.fromXML(fs.readFileSync(0, 'utf8'), 'bpmn:Definitions');
process.stdout.write((await moddle.toXML(rootElement, { format: true })).xml);
"""
_EXPORT_DMN = """
import { DmnModdle } from %(dmn)s;
import fs from 'fs';
const moddle = new DmnModdle();
const { rootElement } = await moddle.fromXML(fs.readFileSync(0, 'utf8'), 'dmn:Definitions');
process.stdout.write((await moddle.toXML(rootElement, { format: true })).xml);
"""
# What the modelers leave out because it is the schema default (so the first save from the browser drops it).
_DEFAULTS_THE_MODELERS_DROP = {("cancelActivity", "true"), ("hitPolicy", "UNIQUE")}


def modeler_export(xml: bytes, dmn: bool, tmp_path: Path) -> bytes:
    script = tmp_path / ("export_dmn.mjs" if dmn else "export_bpmn.mjs")
    modules = ROOT / "node_modules"
    script.write_text((_EXPORT_DMN if dmn else _EXPORT_BPMN) % {
        "bpmn": json.dumps(str(modules / "bpmn-moddle" / "dist" / "index.js")),
        "dmn": json.dumps(str(modules / "dmn-moddle" / "dist" / "index.js")),
        "spiff": json.dumps(str(ROOT / "web" / "static" / "js" / "library" / "spiffworkflow-moddle.js"))})
    done = subprocess.run(["node", str(script)], input=xml, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _without_dropped_defaults(items: list[tuple]) -> list[tuple]:
    return sorted((path, tuple(a for a in attrs if a not in _DEFAULTS_THE_MODELERS_DROP), text)
                  for path, attrs, text in items)


@pytest.mark.parametrize("name", ["change_control.bpmn", "appeal.bpmn", "ofgem_threshold.dmn"])
def test_a_modeler_save_of_an_unchanged_file_is_byte_identical(name: str, tmp_path: Path) -> None:
    dmn = name.endswith(".dmn")
    canonical = normalise((ROOT / "processes" / name).read_bytes())
    first = normalise(modeler_export(canonical, dmn, tmp_path))  # the first save from the browser
    assert _without_dropped_defaults(canonical_items(first)) == _without_dropped_defaults(canonical_items(canonical))
    assert normalise(modeler_export(first, dmn, tmp_path)) == first  # every later save of it is byte-identical
    if not dmn:
        assert first.index(b"<bpmn:process") < first.index(b"<bpmndi:BPMNDiagram")


def test_the_loop_fixture_survives_the_modeler_exactly(tmp_path: Path) -> None:
    canonical = normalise((ROOT / "tests" / "fixtures" / "processes" / "loop.bpmn").read_bytes())
    assert normalise(modeler_export(canonical, False, tmp_path)) == canonical


def test_diagram_shapes_follow_the_document_order_of_what_they_draw() -> None:
    xml = PRETTY.replace(b'<di2:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="1" y="2" width="36" height="36" />'
                         b'</di2:BPMNShape>',
                         b'<di2:BPMNShape id="e_di" bpmnElement="e"><dc:Bounds x="9" y="2" width="36" height="36" />'
                         b'</di2:BPMNShape><!-- the start -->'
                         b'<di2:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="1" y="2" width="36" height="36" />'
                         b'</di2:BPMNShape>')
    text = normalise(xml).decode()
    assert text.index("<!-- the start -->") < text.index('id="s_di"') < text.index('id="e_di"')
    assert same_document(xml, normalise(xml))


def test_the_format_command_rewrites_checks_and_refuses(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from cli.commands import govflow
    folder = tmp_path / "processes"
    folder.mkdir()
    (folder / "p.bpmn").write_bytes(PRETTY)
    (folder / "settings.yaml").write_text("x: 1\n")  # not XML: left alone
    runner = CliRunner()
    checked = runner.invoke(govflow, ["format", "--check", "--json", str(folder)])
    assert checked.exit_code == 1 and (folder / "p.bpmn").read_bytes() == PRETTY
    assert json.loads(checked.output)["changed"] == [str(folder / "p.bpmn")]
    done = runner.invoke(govflow, ["format", str(folder)])
    assert done.exit_code == 0, done.output
    assert (folder / "p.bpmn").read_bytes() == normalise(PRETTY)
    assert runner.invoke(govflow, ["format", "--check", str(folder)]).exit_code == 0
    (folder / "evil.dmn").write_bytes(b'<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>')
    refused = runner.invoke(govflow, ["format", "--json", str(folder)])
    assert refused.exit_code == 1 and "DOCTYPE" in refused.output


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name == "processes" and p.parent.parent == ROOT],
                         ids=lambda p: p.name)
def test_the_shipped_processes_are_kept_normalised(path: Path) -> None:
    """processes/ is the source for a fresh install and diffs in git: run `govflow format processes/` after editing."""
    assert normalise(path.read_bytes()) == path.read_bytes(), f"{path.name} is not normalised"
