"""What changed between two versions of a process: elements added, removed and changed, with their properties.

Diagrams are compared by element id on what govflow reads (type, name, lane, form, instructions, due date,
assignee, group, scripts, conditions, timers, messages, decision references); decision tables by rule id and cell;
forms by field. Layout (where a shape is drawn) is not a change.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from lxml import etree

from .definitions import BPMN_NS, SPIFF_NS
from .safe_xml import UnsafeXmlError, parse_xml

B = f"{{{BPMN_NS}}}"
S = f"{{{SPIFF_NS}}}"

_FLOW_NODE_TYPES = {
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
    "callActivity", "subProcess", "transaction", "adHocSubProcess", "startEvent", "endEvent",
    "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "exclusiveGateway", "inclusiveGateway",
    "parallelGateway", "eventBasedGateway", "complexGateway",
}
_COMPARED_TYPES = _FLOW_NODE_TYPES | {"sequenceFlow", "lane", "dataObject"}
_DEFAULTS = {"cancelActivity": "true", "triggeredByEvent": "false"}


@dataclass(frozen=True)
class PropertyChange:
    name: str
    before: Any
    after: Any

    def as_dict(self) -> dict:
        return {"name": self.name, "before": self.before, "after": self.after}


@dataclass
class ElementDiff:
    """One element that was added, removed or changed."""

    element_id: str
    type: str
    name: str
    changes: list[PropertyChange] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"element_id": self.element_id, "type": self.type, "name": self.name,
                "changes": [c.as_dict() for c in self.changes]}


@dataclass
class DocumentDiff:
    """The element-level difference of one file (a diagram, a decision table or a form)."""

    path: str
    kind: str
    added: list[ElementDiff] = field(default_factory=list)
    removed: list[ElementDiff] = field(default_factory=list)
    changed: list[ElementDiff] = field(default_factory=list)
    error: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.error)

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "error": self.error,
                "added": [e.as_dict() for e in self.added], "removed": [e.as_dict() for e in self.removed],
                "changed": [e.as_dict() for e in self.changed]}


@dataclass
class VersionDiff:
    """Files added, removed and changed between two sets of files, and each changed file's element diff."""

    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    documents: list[DocumentDiff] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.files_added or self.files_removed or self.files_changed)

    def document(self, kind: str) -> DocumentDiff | None:
        return next((d for d in self.documents if d.kind == kind), None)

    def as_dict(self) -> dict:
        return {"files_added": self.files_added, "files_removed": self.files_removed,
                "files_changed": self.files_changed, "documents": [d.as_dict() for d in self.documents]}


# ---- diagrams -------------------------------------------------------------------------------------------------------


def bpmn_elements(content: bytes, path: str = "diagram.bpmn") -> dict[str, dict[str, Any]]:
    """Every compared element of a BPMN file: id -> {type, name, and what govflow reads off it}."""
    root = parse_xml(content, path).getroot()
    lanes: dict[str, str] = {}
    for ref in root.iter(B + "flowNodeRef"):
        if ref.text:
            lanes[ref.text.strip()] = ref.getparent().get("name") or ref.getparent().get("id")
    messages = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(B + "message")}
    found: dict[str, dict[str, Any]] = {}
    for process in root.iter(B + "process"):
        for node in process.iter():
            if not isinstance(node.tag, str) or not node.tag.startswith(B):
                continue
            kind = etree.QName(node).localname
            if kind not in _COMPARED_TYPES or not node.get("id"):
                continue
            found[node.get("id")] = _element_properties(node, kind, lanes, messages)
    return found


def _element_properties(node: etree._Element, kind: str, lanes: Mapping[str, str],
                        messages: Mapping[str, str]) -> dict[str, Any]:
    props: dict[str, Any] = {"type": kind, "name": (node.get("name") or "").strip()}
    if kind in _FLOW_NODE_TYPES:
        props["lane"] = lanes.get(node.get("id"))
        scope = next((a for a in node.iterancestors() if etree.QName(a).localname in
                      ("subProcess", "transaction", "adHocSubProcess")), None)
        props["inside"] = scope.get("id") if scope is not None else None
    if kind == "sequenceFlow":
        props["from"] = node.get("sourceRef")
        props["to"] = node.get("targetRef")
        condition = node.find(B + "conditionExpression")
        props["condition"] = _text(condition)
    if kind == "lane":
        props["elements"] = sorted((r.text or "").strip() for r in node.findall(B + "flowNodeRef"))
    for attribute in ("default", "attachedToRef", "cancelActivity", "calledElement", "triggeredByEvent",
                      "scriptFormat"):
        if node.get(attribute) is not None and _DEFAULTS.get(attribute) != node.get(attribute):
            props[attribute] = node.get(attribute)  # a default written out (or left out by the modeler) is no change
    if node.get("messageRef"):
        props["message"] = messages.get(node.get("messageRef"), node.get("messageRef"))
    script = node.find(B + "script")
    if script is not None:
        props["script"] = _text(script)
    for definition in node:
        if not isinstance(definition.tag, str):
            continue
        local = etree.QName(definition).localname
        if local == "timerEventDefinition":
            for part in ("timeDate", "timeDuration", "timeCycle"):
                value = definition.find(B + part)
                if value is not None:
                    props[f"timer {part}"] = _text(value)
        elif local == "messageEventDefinition":
            props["message"] = messages.get(definition.get("messageRef"), definition.get("messageRef"))
            variable = definition.find(f"{B}extensionElements/{S}messageVariable")
            if variable is not None:
                props["messageVariable"] = _text(variable)
        elif local.endswith("EventDefinition"):
            props["event"] = local[: -len("EventDefinition")]
        elif local in ("standardLoopCharacteristics", "multiInstanceLoopCharacteristics"):
            props["loop"] = local
            for part in definition:
                if isinstance(part.tag, str):
                    props[f"loop {etree.QName(part).localname}"] = _text(part)
    for ext in node.findall(B + "extensionElements"):
        for child in ext:
            if not isinstance(child.tag, str) or not child.tag.startswith(S):
                continue
            local = etree.QName(child).localname
            if local == "properties":
                for prop in child.findall(S + "property"):
                    props[prop.get("name")] = prop.get("value")
            elif local in ("unitTests",):
                continue
            else:
                props[local] = _text(child)
    return {k: v for k, v in props.items() if v not in (None, "")}


def _text(node: etree._Element | None) -> str | None:
    if node is None:
        return None
    return (node.text or "").strip() or None


def diff_elements(before: Mapping[str, dict], after: Mapping[str, dict], path: str, kind: str) -> DocumentDiff:
    """Elements only in `after` (added), only in `before` (removed), and in both with different properties."""
    result = DocumentDiff(path, kind)
    for element_id in sorted(after.keys() - before.keys(), key=lambda i: _order(after, i)):
        props = after[element_id]
        result.added.append(ElementDiff(element_id, props.get("type", ""), str(props.get("name") or ""),
                                        [PropertyChange(k, None, v) for k, v in props.items() if k != "type"]))
    for element_id in sorted(before.keys() - after.keys(), key=lambda i: _order(before, i)):
        props = before[element_id]
        result.removed.append(ElementDiff(element_id, props.get("type", ""), str(props.get("name") or "")))
    for element_id in [i for i in after if i in before]:
        old, new = before[element_id], after[element_id]
        changes = [PropertyChange(k, old.get(k), new.get(k)) for k in _keys(old, new) if old.get(k) != new.get(k)]
        if changes:
            result.changed.append(ElementDiff(element_id, new.get("type", ""),
                                              str(new.get("name") or old.get("name") or ""), changes))
    return result


def _order(elements: Mapping[str, dict], element_id: str) -> int:
    return list(elements).index(element_id)


def _keys(old: Mapping, new: Mapping) -> list[str]:
    keys = list(old)
    keys += [k for k in new if k not in old]
    return keys


def diff_bpmn(before: bytes, after: bytes, path: str = "diagram.bpmn") -> DocumentDiff:
    return diff_elements(bpmn_elements(before, path), bpmn_elements(after, path), path, "bpmn")


# ---- decision tables and forms --------------------------------------------------------------------------------------


def dmn_elements(content: bytes, path: str = "decision.dmn") -> dict[str, dict[str, Any]]:
    """A DMN file's decisions, inputs, outputs and rules (each rule by its cells)."""
    root = parse_xml(content, path).getroot()
    found: dict[str, dict[str, Any]] = {}
    for decision in root.iter("{*}decision"):
        found[decision.get("id")] = {"type": "decision", "name": decision.get("name") or ""}
        for table in decision.iter("{*}decisionTable"):
            found[decision.get("id")]["hitPolicy"] = table.get("hitPolicy") or "UNIQUE"
            for column in table.findall("{*}input"):
                found[column.get("id")] = {"type": "input", "name": column.get("label") or "",
                                           "expression": (column.findtext("{*}inputExpression/{*}text") or "").strip()}
            for column in table.findall("{*}output"):
                found[column.get("id")] = {"type": "output", "name": column.get("label") or column.get("name") or "",
                                           "variable": column.get("name")}
            for rule in table.findall("{*}rule"):
                props: dict[str, Any] = {"type": "rule", "name": (rule.findtext("{*}description") or "").strip()}
                for i, entry in enumerate(rule.findall("{*}inputEntry")):
                    props[f"input {i + 1}"] = (entry.findtext("{*}text") or "").strip() or "-"
                for i, entry in enumerate(rule.findall("{*}outputEntry")):
                    props[f"output {i + 1}"] = (entry.findtext("{*}text") or "").strip()
                found[rule.get("id")] = props
    return found


def form_elements(content: bytes) -> dict[str, dict[str, Any]]:
    """A form's fields (top-level properties) with their schema, plus the form's own title and required list."""
    schema = json.loads(content)
    found: dict[str, dict[str, Any]] = {"(form)": {"type": "form", "name": str(schema.get("title") or ""),
                                                   "required": sorted(schema.get("required") or [])}}
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict):
            found[name] = {"type": "field", "name": str(prop.get("title") or name),
                           **{k: json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v
                              for k, v in prop.items() if k != "title"}}
    return found


def diff_files(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> VersionDiff:
    """Compare two sets of files (path -> bytes) as a version's `files_of` gives them."""
    result = VersionDiff(
        files_added=sorted(after.keys() - before.keys()),
        files_removed=sorted(before.keys() - after.keys()),
        files_changed=sorted(p for p in before.keys() & after.keys() if before[p] != after[p]),
    )
    bpmn_before = next((p for p in sorted(before) if p.endswith(".bpmn")), None)
    bpmn_after = next((p for p in sorted(after) if p.endswith(".bpmn")), None)
    pairs: list[tuple[str, str | None, str | None]] = []
    if bpmn_before and bpmn_after and before[bpmn_before] != after[bpmn_after]:
        pairs.append(("bpmn", bpmn_before, bpmn_after))
    for path in sorted(before.keys() | after.keys()):
        if path.endswith(".bpmn"):
            continue
        if path in before and path in after and before[path] == after[path]:
            continue
        kind = "dmn" if path.endswith(".dmn") else "form" if path.endswith(".json") else None
        if kind:
            pairs.append((kind, path if path in before else None, path if path in after else None))
    for kind, old_path, new_path in pairs:
        path = new_path or old_path or ""
        try:
            reader = {"bpmn": lambda c, p: bpmn_elements(c, p), "dmn": lambda c, p: dmn_elements(c, p),
                      "form": lambda c, p: form_elements(c)}[kind]
            old = reader(before[old_path], old_path) if old_path else {}
            new = reader(after[new_path], new_path) if new_path else {}
            document = diff_elements(old, new, path, kind)
        except (UnsafeXmlError, ValueError) as err:
            document = DocumentDiff(path, kind, error=str(err))
        if not document.empty:
            result.documents.append(document)
    return result
