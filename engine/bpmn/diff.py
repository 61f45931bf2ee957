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

from engine.bpmn.definitions import BPMN_NS, SPIFF_NS
from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml

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
    tables: list["TableDiff"] = field(default_factory=list)  # decision tables side by side (DMN only)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.error)

    def as_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "error": self.error,
                "added": [e.as_dict() for e in self.added], "removed": [e.as_dict() for e in self.removed],
                "changed": [e.as_dict() for e in self.changed], "tables": [t.as_dict() for t in self.tables]}


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
            for number, rule in enumerate(table.findall("{*}rule"), start=1):
                props: dict[str, Any] = {"type": "rule", "name": (rule.findtext("{*}description") or "").strip()}
                for i, entry in enumerate(rule.findall("{*}inputEntry")):
                    props[f"input {i + 1}"] = (entry.findtext("{*}text") or "").strip() or "-"
                for i, entry in enumerate(rule.findall("{*}outputEntry")):
                    props[f"output {i + 1}"] = (entry.findtext("{*}text") or "").strip()
                found[rule.get("id") or f"{decision.get('id')} rule {number}"] = props
    return found


# ---- decision tables side by side -----------------------------------------------------------------------------------


@dataclass
class Column:
    """An input or output column of one side of a table diff, and how it changed."""

    key: str  # "input 2", "output 1" on this side
    kind: str  # input | output
    label: str
    expression: str  # an input's expression, an output's variable name
    status: str = "same"  # same | added | removed | changed
    changes: list[PropertyChange] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"key": self.key, "kind": self.kind, "label": self.label, "expression": self.expression,
                "status": self.status, "changes": [c.as_dict() for c in self.changes]}


@dataclass
class Cell:
    text: str
    changed: bool = False

    def as_dict(self) -> dict:
        return {"text": self.text, "changed": self.changed}


@dataclass
class Row:
    """One rule as one side shows it, aligned with the other side (a placeholder where the other side has none)."""

    rule_id: str | None
    number: int | None  # the rule's position on this side (1-based), None for a placeholder
    status: str  # same | added | removed | changed | absent (the placeholder)
    cells: list[Cell] = field(default_factory=list)
    description: str = ""
    description_changed: bool = False

    def as_dict(self) -> dict:
        return {"rule_id": self.rule_id, "number": self.number, "status": self.status,
                "cells": [c.as_dict() for c in self.cells], "description": self.description,
                "description_changed": self.description_changed}


@dataclass(frozen=True)
class CellChange:
    rule: str  # the rule's id, or "rule N"
    column: str  # the column's label (or key)
    before: str | None
    after: str | None

    def as_dict(self) -> dict:
        return {"rule": self.rule, "column": self.column, "before": self.before, "after": self.after}


@dataclass
class TableSide:
    columns: list[Column] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"columns": [c.as_dict() for c in self.columns], "rows": [r.as_dict() for r in self.rows]}


@dataclass
class TableDiff:
    """One decision's table before and after, rows aligned (rules paired by id, else by position), and every cell
    that changed in a rule both sides hold."""

    decision_id: str
    name: str
    status: str  # same | added | removed | changed
    before: TableSide
    after: TableSide
    hit_policy: tuple[str | None, str | None] = (None, None)
    cell_changes: list[CellChange] = field(default_factory=list)
    rules_added: int = 0
    rules_removed: int = 0
    rules_changed: int = 0

    def as_dict(self) -> dict:
        return {"decision_id": self.decision_id, "name": self.name, "status": self.status,
                "hit_policy": list(self.hit_policy), "before": self.before.as_dict(), "after": self.after.as_dict(),
                "cell_changes": [c.as_dict() for c in self.cell_changes], "rules_added": self.rules_added,
                "rules_removed": self.rules_removed, "rules_changed": self.rules_changed}


def _pairs(before: list[str | None], after: list[str | None]) -> dict[int, int]:
    """before index -> after index: items with the same id pair; an item without an id pairs with the unpaired item
    at the same position on the other side."""
    after_index = {item: j for j, item in enumerate(after) if item}
    pairs = {i: after_index[item] for i, item in enumerate(before) if item and item in after_index}
    taken = set(pairs.values())
    for i, item in enumerate(before):
        if i in pairs or i >= len(after) or i in taken:
            continue
        if not item or not after[i]:
            pairs[i] = i
            taken.add(i)
    return pairs


def _aligned(pairs: dict[int, int], n_before: int, n_after: int) -> list[tuple[int | None, int | None]]:
    """Both sides in one sequence: the after side's order, each removed item where it stood before."""
    by_after = {j: i for i, j in pairs.items()}
    out: list[tuple[int | None, int | None]] = []
    next_before = 0

    def removed_up_to(limit: int) -> None:
        nonlocal next_before
        while next_before < min(limit, n_before):
            if next_before not in pairs:
                out.append((next_before, None))
            next_before += 1

    for j in range(n_after):
        i = by_after.get(j)
        if i is not None:
            removed_up_to(i)
            next_before = max(next_before, i + 1)
        else:  # an added item: what was removed at or before its position shows first
            later = [by_after[k] for k in range(j + 1, n_after) if k in by_after]
            removed_up_to(min([j + 1] + later))
        out.append((i, j))
    removed_up_to(n_before)
    return out


def _table(decision: etree._Element | None) -> dict[str, Any]:
    """One decision's table as plain data: columns (id, label, expression) and rules (id, cells, description)."""
    if decision is None:
        return {"hit_policy": None, "inputs": [], "outputs": [], "rules": []}
    table = next(decision.iter("{*}decisionTable"), None)
    if table is None:
        return {"hit_policy": None, "inputs": [], "outputs": [], "rules": []}
    inputs = [{"id": c.get("id"), "label": c.get("label") or "",
               "expression": (c.findtext("{*}inputExpression/{*}text") or "").strip()}
              for c in table.findall("{*}input")]
    outputs = [{"id": c.get("id"), "label": c.get("label") or c.get("name") or "", "expression": c.get("name") or ""}
               for c in table.findall("{*}output")]
    rules = [{"id": r.get("id"), "description": (r.findtext("{*}description") or "").strip(),
              "inputs": [(e.findtext("{*}text") or "").strip() or "-" for e in r.findall("{*}inputEntry")],
              "outputs": [(e.findtext("{*}text") or "").strip() for e in r.findall("{*}outputEntry")]}
             for r in table.findall("{*}rule")]
    return {"hit_policy": table.get("hitPolicy") or "UNIQUE", "inputs": inputs, "outputs": outputs, "rules": rules}


def _columns(old: dict, new: dict, kind: str):
    """(before columns, after columns, before index -> after index) for one kind of column."""
    plural = kind + "s"
    pairs = _pairs([c["id"] for c in old[plural]], [c["id"] for c in new[plural]])
    before = [Column(f"{kind} {i + 1}", kind, c["label"], c["expression"]) for i, c in enumerate(old[plural])]
    after = [Column(f"{kind} {j + 1}", kind, c["label"], c["expression"]) for j, c in enumerate(new[plural])]
    for i, column in enumerate(before):
        if i not in pairs:
            column.status = "removed"
            continue
        other = after[pairs[i]]
        changes = [PropertyChange(name, getattr(column, attr), getattr(other, attr))
                   for name, attr in (("label", "label"), ("expression" if kind == "input" else "variable",
                                                             "expression"))
                   if getattr(column, attr) != getattr(other, attr)]
        if changes:
            column.status = other.status = "changed"
            column.changes = other.changes = changes
    for j, column in enumerate(after):
        if j not in pairs.values():
            column.status = "added"
    return before, after, pairs


def diff_table(before: etree._Element | None, after: etree._Element | None) -> TableDiff:
    """Two versions of one decision's table, side by side."""
    old, new = _table(before), _table(after)
    source = after if after is not None else before
    in_before, in_after, in_pairs = _columns(old, new, "input")
    out_before, out_after, out_pairs = _columns(old, new, "output")
    result = TableDiff(source.get("id") or "", source.get("name") or source.get("id") or "",
                       "added" if before is None else "removed" if after is None else "same",
                       TableSide(in_before + out_before), TableSide(in_after + out_after),
                       (old["hit_policy"], new["hit_policy"]))
    rule_pairs = _pairs([r["id"] for r in old["rules"]], [r["id"] for r in new["rules"]])
    for i, j in _aligned(rule_pairs, len(old["rules"]), len(new["rules"])):
        a = old["rules"][i] if i is not None else None
        b = new["rules"][j] if j is not None else None
        status = "added" if a is None else "removed" if b is None else "same"
        left = [Cell(v) for v in (a["inputs"] + a["outputs"])] if a else []
        right = [Cell(v) for v in (b["inputs"] + b["outputs"])] if b else []
        described = bool(a and b and a["description"] != b["description"])
        if a and b:
            label = b["id"] or f"rule {j + 1}"
            for kind, pairs, columns, offset_a, offset_b in (
                    ("inputs", in_pairs, in_after, 0, 0),
                    ("outputs", out_pairs, out_after, len(a["inputs"]), len(b["inputs"]))):
                for ci, cj in pairs.items():
                    va = a[kind][ci] if ci < len(a[kind]) else None
                    vb = b[kind][cj] if cj < len(b[kind]) else None
                    if va != vb:
                        status = "changed"
                        if offset_a + ci < len(left):
                            left[offset_a + ci].changed = True
                        if offset_b + cj < len(right):
                            right[offset_b + cj].changed = True
                        result.cell_changes.append(CellChange(label, columns[cj].label or columns[cj].key, va, vb))
            if described:
                status = "changed"
                result.cell_changes.append(CellChange(label, "description", a["description"], b["description"]))
        for cells, columns in ((left, result.before.columns), (right, result.after.columns)):
            for cell, column in zip(cells, columns):
                cell.changed = cell.changed or (bool(a and b) and column.status in ("added", "removed"))
        result.before.rows.append(Row(a["id"], i + 1, status, left, a["description"], described) if a else
                                  Row(None, None, "absent"))
        result.after.rows.append(Row(b["id"], j + 1, status, right, b["description"], described) if b else
                                 Row(None, None, "absent"))
        if status in ("added", "removed", "changed"):
            setattr(result, f"rules_{status}", getattr(result, f"rules_{status}") + 1)
    if result.status == "same" and (result.cell_changes or result.rules_added or result.rules_removed
                                    or old["hit_policy"] != new["hit_policy"]
                                    or any(c.status != "same" for c in result.before.columns + result.after.columns)):
        result.status = "changed"
    return result


def diff_tables(before: bytes | None, after: bytes | None, path: str = "decision.dmn") -> list[TableDiff]:
    """Every decision table of two versions of a DMN file, side by side (decisions paired by id, else position)."""
    old = [d for d in parse_xml(before, path).getroot().iter("{*}decision")] if before else []
    new = [d for d in parse_xml(after, path).getroot().iter("{*}decision")] if after else []
    pairs = _pairs([d.get("id") for d in old], [d.get("id") for d in new])
    return [diff_table(old[i] if i is not None else None, new[j] if j is not None else None)
            for i, j in _aligned(pairs, len(old), len(new))]


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
            if kind == "dmn":
                document.tables = [t for t in diff_tables(before[old_path] if old_path else None,
                                                          after[new_path] if new_path else None, path)
                                   if t.status != "same"]
        except (UnsafeXmlError, ValueError) as err:
            document = DocumentDiff(path, kind, error=str(err))
        if not document.empty:
            result.documents.append(document)
    return result
