"""One canonical text for BPMN and DMN files, so a diagram diffs well in git and an unchanged save changes nothing.

`normalise(data, filename)` parses with the hardened parser (engine.bpmn.safe_xml) and writes the document back as:

- an XML declaration (UTF-8), then any comments before the root, each on its own line;
- every namespace declared once, on the root, with a fixed prefix per namespace (`bpmn`, `bpmndi`, `dc`, `di`,
  `spiffworkflow`, `xsi`, ...; a DMN model is the default namespace, as dmn-js writes it); prefixed QName values
  (`xsi:type="bpmn:tFormalExpression"`) follow their namespace's prefix;
- two-space indentation of element-only content; text (scripts, conditions, instructions, table cells) and mixed
  content kept exactly;
- attributes in one order: `id`, `name`, the references and bounds in reading order, then the rest alphabetically,
  namespaced ones last;
- the diagram interchange (`bpmndi:BPMNDiagram`, `dmndi:DMNDI`) after the process and decision elements, and the
  shapes and edges of each diagram in the document order of the elements they draw (bpmn-js re-sorts them by its
  own drawing order when it saves);
- empty elements as `<tag />`, as bpmn-js and dmn-js write them.

The order of model elements is kept (it can carry meaning, such as the order of a gateway's outgoing flows).
Normalising is idempotent, and it keeps every element, attribute and text (`same_document` checks that).
Its time grows linearly with the file: the parser caps attributes per element and namespace declarations
(engine.bpmn.safe_xml), and namespaces in scope are worked out once per declaring element, never per element.
"""
from __future__ import annotations

import re
from typing import Iterator

from lxml import etree

from engine.bpmn.safe_xml import DEFAULT_MAX_BYTES, parse_xml

__all__ = ["normalise", "same_document", "canonical_items", "XML_KINDS"]

XML_KINDS = (".bpmn", ".dmn")
INDENT = "  "
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_XML_NS = "{http://www.w3.org/XML/1998/namespace}"
_XSI_TYPE = f"{{{XSI_NS}}}type"

# namespace -> the prefix it always gets (None: the default namespace)
CANONICAL_PREFIXES: dict[str, str | None] = {
    "http://www.omg.org/spec/BPMN/20100524/MODEL": "bpmn",
    "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
    "http://www.omg.org/spec/DD/20100524/DC": "dc",
    "http://www.omg.org/spec/DD/20100524/DI": "di",
    "http://spiffworkflow.org/bpmn/schema/1.0/core": "spiffworkflow",
    XSI_NS: "xsi",
    "http://www.w3.org/2001/XMLSchema": "xsd",
    "http://bpmn.io/schema/bpmn/biocolor/1.0": "bioc",
    "http://www.omg.org/spec/BPMN/non-normative/color/1.0": "color",
    "http://camunda.org/schema/1.0/bpmn": "camunda",
    "http://camunda.org/schema/1.0/dmn": "camunda",
    "http://camunda.org/schema/modeler/1.0": "modeler",
    "https://www.omg.org/spec/DMN/20191111/MODEL/": None,
    "http://www.omg.org/spec/DMN/20180521/MODEL/": None,
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": None,
    "https://www.omg.org/spec/DMN/20191111/DMNDI/": "dmndi",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/": "dmndi",
    "http://www.omg.org/spec/DMN/20180521/DC/": "dc",
    "http://www.omg.org/spec/DMN/20180521/DI/": "di",
}
# Diagram interchange elements that go after the process/decision elements of <definitions>.
_DI_TAGS = {"{http://www.omg.org/spec/BPMN/20100524/DI}BPMNDiagram",
            "{https://www.omg.org/spec/DMN/20191111/DMNDI/}DMNDI",
            "{http://www.omg.org/spec/DMN/20180521/DMNDI/}DMNDI"}
_BPMN_RELATIONSHIP = "{http://www.omg.org/spec/BPMN/20100524/MODEL}relationship"  # the XSD puts these after DI
# Diagram planes whose shapes and edges follow the document order of what they draw, and the DI element kinds.
_PLANES = ("{http://www.omg.org/spec/BPMN/20100524/DI}BPMNPlane",
           "{https://www.omg.org/spec/DMN/20191111/DMNDI/}DMNDiagram",
           "{http://www.omg.org/spec/DMN/20180521/DMNDI/}DMNDiagram")
_DI_NAMESPACES = tuple("{%s}" % uri for uri in (
    "http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
    "http://www.omg.org/spec/DD/20100524/DI", "https://www.omg.org/spec/DMN/20191111/DMNDI/",
    "http://www.omg.org/spec/DMN/20180521/DMNDI/", "http://www.omg.org/spec/DMN/20180521/DC/",
    "http://www.omg.org/spec/DMN/20180521/DI/"))
# Attributes first, in this order; the rest alphabetically, then namespaced attributes by prefix and name.
_FIRST_ATTRIBUTES = ("id", "name", "label", "bpmnElement", "dmnElementRef", "sourceRef", "targetRef",
                     "x", "y", "width", "height")
# Attributes whose value may be a prefixed QName (its prefix then follows the namespace's canonical prefix).
_QNAME_ATTRIBUTES = {_XSI_TYPE, "structureRef", "itemSubjectRef", "typeRef", "evaluatesToTypeRef",
                     "messageRef", "processRef", "calledElement", "errorRef", "signalRef", "escalationRef",
                     "bpmnElement", "operationRef", "implementationRef", "dmnElementRef"}
_QNAME_VALUE = re.compile(r"^([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)$")


def normalise(data: bytes, filename: str = "file.xml", max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The canonical text of a BPMN or DMN file (UTF-8 bytes); raises UnsafeXmlError for what the parser refuses."""
    tree = parse_xml(data, filename, max_bytes=max_bytes)
    root = tree.getroot()
    scopes = _scopes(root)
    _canonical_order(root)
    prefixes = _prefixes(root, scopes)
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    for node in reversed(list(root.itersiblings(preceding=True))):
        out.append(_misc(node) + "\n")
    _write_element(out, root, prefixes, scopes, scopes.get(root, {}), 0, root=True)
    out.append("\n")
    for node in root.itersiblings():
        out.append(_misc(node) + "\n")
    return "".join(out).encode("utf-8")


# ---- namespaces ---------------------------------------------------------------------------------------------------


Scopes = dict[etree._Element, dict[str | None, str]]


def _scopes(root: etree._Element) -> Scopes:
    """The namespaces in scope (prefix -> namespace) at each element that declares any; every other element has
    its parent's. (An element's own `nsmap` is rebuilt from its ancestors on every read.)"""
    scopes: Scopes = {}
    declares = False
    for event, node in etree.iterwalk(root, events=("start-ns", "start")):
        if event == "start-ns":
            declares = True
        elif declares:
            scopes[node] = node.nsmap
            declares = False
    return scopes


def _prefixes(root: etree._Element, scopes: Scopes) -> dict[str, str | None]:
    """namespace -> prefix for every namespace the document declares or uses; one prefix per namespace."""
    declared: dict[tuple[str | None, str], None] = {}  # (prefix as written, namespace), in document order
    for scope in scopes.values():
        declared.update(dict.fromkeys(scope.items()))
    used: set[str] = set()
    has_unqualified = False
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        qname = etree.QName(node)
        if qname.namespace:
            used.add(qname.namespace)
        else:
            has_unqualified = True
        for key in node.attrib:
            if key.startswith("{") and not key.startswith(_XML_NS):
                used.add(key[1:].split("}")[0])
    declared_uris = list(dict.fromkeys(uri for _, uri in declared))
    own_prefix = {uri: prefix for prefix, uri in reversed(declared) if prefix is not None}  # the first one written
    own_default = {uri for prefix, uri in declared if prefix is None}
    uris = declared_uris + sorted(used - set(declared_uris))
    chosen: dict[str, str | None] = {}
    taken: set[str | None] = set()
    if has_unqualified:
        taken.add(None)  # elements in no namespace: nothing may be the default namespace
    for uri in uris:  # canonical prefixes first, so a document's own choices never take them
        if uri in CANONICAL_PREFIXES and uri not in chosen:
            wanted = CANONICAL_PREFIXES[uri]
            if wanted is None and None in taken:
                wanted = "dmn"
            if wanted not in taken:
                chosen[uri] = wanted
                taken.add(wanted)
    for uri in uris:
        if uri in chosen:
            continue
        own = own_prefix.get(uri)
        if own is None and None not in taken and not has_unqualified:
            if uri in own_default:
                chosen[uri] = None
                taken.add(None)
                continue
        candidate, n = own or "ns", 0
        while candidate in taken or candidate == "xml":
            n += 1
            candidate = f"{own or 'ns'}{n}"
        chosen[uri] = candidate
        taken.add(candidate)
    return chosen


def _qualified(name: str, prefixes: dict[str, str | None]) -> str:
    if not name.startswith("{"):
        return name
    uri, local = name[1:].split("}", 1)
    if name.startswith(_XML_NS):
        return f"xml:{local}"
    prefix = prefixes[uri]
    return f"{prefix}:{local}" if prefix else local


def _qname_value(scope: dict[str | None, str], key: str, value: str, prefixes: dict[str, str | None]) -> str:
    """A prefixed QName value rewritten to its namespace's canonical prefix (other values unchanged)."""
    if key not in _QNAME_ATTRIBUTES:
        return value
    found = _QNAME_VALUE.match(value)
    if found is not None and found.group(1) in scope:
        uri, local = scope[found.group(1)], found.group(2)
    elif key == _XSI_TYPE and ":" not in value and scope.get(None):  # an unprefixed type: the default namespace
        uri, local = scope[None], value
    else:
        return value
    prefix = prefixes.get(uri)
    return f"{prefix}:{local}" if prefix else local


# ---- writing ------------------------------------------------------------------------------------------------------


def _attribute_key(item: tuple[str, str]) -> tuple:
    name = item[0]
    if name.startswith("{"):
        return (2, 0, name)
    if name in _FIRST_ATTRIBUTES:
        return (0, _FIRST_ATTRIBUTES.index(name), name)
    return (1, 0, name)


def _canonical_order(root: etree._Element) -> None:
    """Reorder the parsed tree: the diagram interchange after the model elements of <definitions>, and the shapes
    and edges of each diagram plane in the document order of the elements they draw (bpmn-js re-sorts them by its
    drawing order on export, so this order is what keeps an unchanged save unchanged)."""
    children = list(root)
    di = [c for c in children if isinstance(c.tag, str) and c.tag in _DI_TAGS]
    if di:
        for node in di + [c for c in children if isinstance(c.tag, str) and c.tag == _BPMN_RELATIONSHIP]:
            root.remove(node)
            root.append(node)
    order: dict[str, int] = {}
    for n, node in enumerate(root.iter()):
        element_id = node.get("id") if isinstance(node.tag, str) else None
        if element_id and not node.tag.startswith(_DI_NAMESPACES) and element_id not in order:
            order[element_id] = n
    for plane in root.iter(*_PLANES):
        units, pending = [], []  # each element with the comments just before it
        for child in plane:
            pending.append(child)
            if isinstance(child.tag, str):
                units.append(pending)
                pending = []
        units.sort(key=lambda unit: order.get(unit[-1].get("bpmnElement") or unit[-1].get("dmnElementRef") or "",
                                              len(order) + 1))
        for node in [n for unit in units for n in unit] + pending:
            plane.remove(node)
            plane.append(node)


def _mixed(node: etree._Element) -> bool:
    """Whether an element with children also holds text of its own (kept exactly, not re-indented)."""
    if (node.text or "").strip():
        return True
    return any((child.tail or "").strip() for child in node)


def _write_element(out: list[str], node: etree._Element, prefixes: dict[str, str | None], scopes: Scopes,
                   scope: dict[str | None, str], depth: int, root: bool = False, inline: bool = False) -> None:
    pad = "" if inline else INDENT * depth
    scope = scopes.get(node, scope)
    if not isinstance(node.tag, str):
        out.append(pad + _misc(node))
        return
    tag = _qualified(node.tag, prefixes)
    parts = [tag]
    if root:
        for uri, prefix in sorted(prefixes.items(), key=lambda item: (item[1] is not None, item[1] or "")):
            parts.append(f'xmlns:{prefix}="{_escape_attribute(uri)}"' if prefix else
                         f'xmlns="{_escape_attribute(uri)}"')
    for key, value in sorted(node.attrib.items(), key=_attribute_key):
        value = _qname_value(scope, key, value, prefixes)
        parts.append(f'{_qualified(key, prefixes)}="{_escape_attribute(value)}"')
    start = "<" + " ".join(parts)
    children = list(node)
    if not children:
        if node.text:
            out.append(f"{pad}{start}>{_escape_text(node.text)}</{tag}>")
        else:
            out.append(f"{pad}{start} />")
        return
    if inline or _mixed(node):  # mixed content: written as it is, children inline
        out.append(f"{pad}{start}>{_escape_text(node.text or '')}")
        for child in children:
            _write_element(out, child, prefixes, scopes, scope, 0, inline=True)
            out.append(_escape_text(child.tail or ""))
        out.append(f"</{tag}>")
        return
    out.append(f"{pad}{start}>\n")
    for child in children:
        _write_element(out, child, prefixes, scopes, scope, depth + 1)
        out.append("\n")
    out.append(f"{pad}</{tag}>")


def _misc(node) -> str:
    """A comment or processing instruction as written (its text is not touched)."""
    if isinstance(node, etree._Comment):
        return f"<!--{node.text or ''}-->"
    if isinstance(node, etree._ProcessingInstruction):
        return f"<?{node.target} {node.text}?>" if node.text else f"<?{node.target}?>"
    return etree.tostring(node, encoding="unicode", with_tail=False)


_TEXT_SPECIALS = re.compile(r"[&<>\r]")
_ATTRIBUTE_SPECIALS = re.compile(r'[&<>\r"\n\t]')


def _escape_text(text: str) -> str:
    if not _TEXT_SPECIALS.search(text):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _escape_attribute(text: str) -> str:
    if not _ATTRIBUTE_SPECIALS.search(text):
        return text
    return (_escape_text(text).replace('"', "&quot;").replace("\n", "&#10;").replace("\t", "&#9;"))


# ---- checking -----------------------------------------------------------------------------------------------------


def canonical_items(data: bytes, filename: str = "file.xml") -> list[tuple]:
    """A document as comparable items: each element's path, tag, attributes (QName values resolved to their
    namespace), its own text when it has no children, and its mixed text; comments, layout whitespace and prefixes
    do not count. Two files with equal items hold the same document."""
    root = parse_xml(data, filename).getroot()
    scopes = _scopes(root)
    return list(_items(root, "", "", scopes, scopes.get(root, {})))


def _items(node: etree._Element, path: str, index: str, scopes: Scopes,
           scope: dict[str | None, str]) -> Iterator[tuple]:
    here = f"{path}/{index}{node.tag}"
    scope = scopes.get(node, scope)
    attributes = []
    for key, value in sorted(node.attrib.items()):
        found = _QNAME_VALUE.match(value) if key in _QNAME_ATTRIBUTES else None
        if found and found.group(1) in scope:
            value = f"{{{scope[found.group(1)]}}}{found.group(2)}"
        elif key == _XSI_TYPE and ":" not in value and scope.get(None):
            value = f"{{{scope[None]}}}{value}"
        attributes.append((key, value))
    elements = [c for c in node if isinstance(c.tag, str)]
    if elements:
        text = (node.text or "") + "".join(c.tail or "" for c in node) if _mixed(node) else ""
    else:
        text = node.text or ""
    yield (here, tuple(attributes), text)
    positions: dict[str, int] = {}
    for child in elements:
        drawn = (child.get("bpmnElement") or child.get("dmnElementRef")) if node.tag in _PLANES else None
        n = positions[child.tag] = positions.get(child.tag, -1) + 1
        yield from _items(child, here, f"{drawn}:" if drawn else f"{n}:", scopes, scope)  # a plane's shapes by what they draw


def same_document(a: bytes, b: bytes) -> bool:
    """Whether two files hold the same elements, attributes and texts (the order of sibling elements of one kind
    counts, except a diagram plane's shapes and edges; layout, comments, prefixes and the order of different kinds
    of element do not)."""
    return sorted(canonical_items(a)) == sorted(canonical_items(b))
