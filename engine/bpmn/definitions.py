"""Process definitions: source files → hardened parse → XSD → Spiff specs, with what govflow reads off each element."""
from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml
from engine.bpmn.safe_yaml import load_yaml, read_yaml, reason_and_line
from engine.bpmn.shared_specs import make_shareable
from engine.bpmn.timers import attach_injected_clock
from engine.bpmn.waits import catching_members

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
SETTINGS_FILE = "settings.yaml"
FORM_PROPERTY = "formJsonSchemaFilename"
#: how every refusal of a construct govflow cannot run begins (the lint words the rest)
UNSUPPORTED = "not supported by govflow: "
DATA_STORE_REASON = (UNSUPPORTED + "data stores (govflow has no store to connect them to): keep the data in task "
                     "data, or read another instance's with process_record(...)")
UI_FORM_PROPERTY = "formUiSchemaFilename"

_VALIDATOR = None


class _StreamingValidator(BpmnValidator):
    """Spiff's check against the BPMN schema, run while the diagram is read again as a stream rather than over its
    tree: over the tree, lxml names each error's element by a path that counts its same-named siblings, so a file
    with an error on each of 25,000 sibling elements took 115 s; as a stream it takes a fraction of a second. The
    first error is reported, at the line of the first element it names."""

    def validate(self, bpmn, filename=None):
        self.preprocess(bpmn)
        parser = etree.XMLParser(schema=self.validator, resolve_entities=False, no_network=True, load_dtd=False)
        try:
            etree.parse(io.BytesIO(etree.tostring(bpmn)), parser)
        except etree.XMLSyntaxError as err:
            errors = parser.error_log  # this parse's own (the exception's can hold earlier parses' errors too)
            first = errors[0] if len(errors) else None
            message = first.message if first is not None else str(err)
            raise ValidationException(message, file_name=filename, line_number=_line_named(bpmn, message))


_SCHEMA_ERROR = re.compile(r"^Element '([^']+)'(?:, attribute '([^']+)')?")


def _line_named(root: etree._Element, message: str) -> int | None:
    """The line of the first element (with the attribute) a schema error names."""
    named = _SCHEMA_ERROR.match(message)
    if named is None:
        return None
    tag, attribute = named.groups()
    for node in root.iter(tag):
        if attribute is None or node.get(attribute) is not None:
            return node.sourceline
    return None


_DMN_VALIDATORS: dict[str, _StreamingValidator] = {}


def _dmn_validator(parser: SpiffBpmnParser, root: etree._Element) -> Any:
    """The streamed check against the schema of the DMN version the file declares (none for an unknown one)."""
    namespace = root.nsmap.get(None) or root.nsmap.get("dmn")
    schema = parser.dmn_schemas.get(namespace)
    if schema is None:
        return _NoCheck()
    if schema not in _DMN_VALIDATORS:
        _DMN_VALIDATORS[schema] = _StreamingValidator(schema)
    return _DMN_VALIDATORS[schema]


class _NoCheck:
    def validate(self, node: Any, filename: str | None = None) -> None:
        return None


def _validator() -> BpmnValidator:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = _StreamingValidator()
    return _VALIDATOR


@dataclass(frozen=True)
class SourceFile:
    """One file of a deployment. `path` is relative: to processes/ for BPMN/DMN/settings, to forms/ for forms."""

    path: str
    kind: str  # bpmn | dmn | form | settings
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class Problem:
    """Why a deployment is refused: which file, which element, which line, and the reason in plain words."""

    file: str
    reason: str
    element_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f" line {self.line}"
        if self.element_id:
            where += f" [{self.element_id}]"
        return f"{where}: {self.reason}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element_id": self.element_id, "reason": self.reason}


class DeploymentError(Exception):
    """A deployment was refused; `problems` lists every reason found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass(frozen=True)
class ElementInfo:
    """What govflow reads off one user task or message catch event."""

    element_id: str
    name: str
    kind: str  # user_task | message | signal | start
    lane: str | None
    role_id: str | None
    form: str | None
    instructions: str
    due_expression: str | None
    assignee_expression: str | None
    message: str | None = None
    group_expression: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass
class CompiledProcess:
    """A process version ready to run: its specs (parsed once), forms, settings and element metadata."""

    process_id: str
    name: str
    spec: Any
    subprocess_specs: dict
    forms: dict[str, dict]
    settings: dict[str, Any]
    elements: dict[str, ElementInfo]
    start_form: str | None
    files: dict[str, str]  # path -> sha256 of every file this process uses

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(sorted(self.files.items())).encode()).hexdigest()

    def form_schema(self, path: str | None) -> dict | None:
        return self.forms.get(path) if path else None

    def element_names(self) -> dict[str, str]:
        """Every diagram element's name by id (its id when it has none), sub-processes included."""
        names: dict[str, str] = {}
        for spec in (self.spec, *self.subprocess_specs.values()):
            for task_spec in spec.task_specs.values():
                bpmn_id = getattr(task_spec, "bpmn_id", None)
                if bpmn_id:
                    names.setdefault(bpmn_id, getattr(task_spec, "bpmn_name", None) or bpmn_id)
        return names


@dataclass
class Bundle:
    """Parsed source files: the Spiff parser loaded with every BPMN and DMN, plus forms and settings."""

    sources: dict[str, SourceFile]
    parser: SpiffBpmnParser
    trees: dict[str, etree._ElementTree]
    forms: dict[str, dict]
    settings: dict[str, Any]
    decision_files: dict[str, str]  # decision id -> dmn path

    def process_ids(self) -> list[str]:
        """The executable top-level processes (once parsed, Spiff also lists the embedded subprocesses)."""
        return [pid for pid in self.parser.get_process_ids()
                if self.parser.process_parsers[pid].node.tag == f"{{{BPMN_NS}}}process"]


def collect_sources(paths: Iterable[Path | str], forms_dir: Path | None) -> list[SourceFile]:
    """Read BPMN, DMN and settings from the given files or folders, and every form under forms_dir."""
    found: dict[str, SourceFile] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*") if p.is_file())
            base = path
        elif path.is_file():
            candidates, base = [path], path.parent
        else:
            raise DeploymentError([Problem(str(path), "no such file or folder")])
        for file in candidates:
            kind = _kind_of(file)
            if kind in ("bpmn", "dmn", "settings"):
                rel = file.relative_to(base).as_posix()
                found[rel] = SourceFile(rel, kind, file.read_bytes())
            elif kind == "form" and forms_dir is None:
                rel = file.relative_to(base).as_posix()
                found[rel] = SourceFile(rel, "form", file.read_bytes())
    if forms_dir is not None and Path(forms_dir).is_dir():
        for file in sorted(Path(forms_dir).rglob("*.json")):
            rel = file.relative_to(forms_dir).as_posix()
            found[rel] = SourceFile(rel, "form", file.read_bytes())
    return list(found.values())


def _kind_of(file: Path) -> str | None:
    name = file.name
    if name.endswith(".bpmn"):
        return "bpmn"
    if name.endswith(".dmn"):
        return "dmn"
    if name == SETTINGS_FILE:
        return "settings"
    if name.endswith(".json"):
        return "form"
    return None


def load_bundle(sources: Iterable[SourceFile], max_bytes: int = 5_000_000) -> Bundle:
    """Parse every file with the hardened parser, validate BPMN and DMN against their XSD, and load the Spiff parser.
    Each refusal names the file and, when the XML shows it, the line and element id. The processes' specs and the
    decision tables are parsed by the lint (`spiff_parse_problems`), after the checks that explain in plain words
    what govflow cannot run."""
    sources = {s.path: s for s in sources}
    problems: list[Problem] = []
    parser = SpiffBpmnParser(validator=_validator())
    trees: dict[str, etree._ElementTree] = {}
    forms: dict[str, dict] = {}
    settings: dict[str, Any] = {}
    decision_files: dict[str, str] = {}

    for src in sources.values():
        if src.kind in ("bpmn", "dmn"):
            try:
                trees[src.path] = parse_xml(src.content, src.path, max_bytes=max_bytes)
            except UnsafeXmlError as err:
                problems.append(Problem(src.path, err.reason, line=err.line))
        elif src.kind == "form":
            try:
                forms[src.path] = json.loads(src.content)
            except ValueError as err:
                problems.append(Problem(src.path, f"not valid JSON: {err}"))
        elif src.kind == "settings":
            try:
                settings = load_yaml(src.content, src.path) or {}
            except yaml.YAMLError as err:
                reason, line = reason_and_line(err)
                problems.append(Problem(src.path, f"not valid YAML: {reason}", line=line))
    if problems:
        raise DeploymentError(problems)

    for path, tree in trees.items():
        if sources[path].kind != "dmn":
            continue
        root = tree.getroot()
        decisions = list(root.iter("{*}decision"))
        if not decisions:
            problems.append(Problem(path, f"no decision in {path}: a DMN file holds one decision table",
                                    element_id=root.get("id"), line=root.sourceline))
            continue
        try:
            _dmn_validator(parser, root).validate(root, path)  # streamed first: Spiff checks over the tree
            parser.add_dmn_xml(root, filename=path)
        except Exception as err:  # ValidationException, and the assorted errors Spiff raises on malformed DMN
            problems.append(parser_problem(path, err, trees, "decision table"))
        for decision in decisions:
            decision_files[decision.get("id")] = path
    for path, tree in trees.items():
        if sources[path].kind != "bpmn":
            continue
        stores = list(tree.getroot().iter(f"{{{BPMN_NS}}}dataStore"))
        if stores:  # Spiff refuses them here, naming no line: say why, for each store and reference
            for node in [*stores, *tree.getroot().iter(f"{{{BPMN_NS}}}dataStoreReference")]:
                problems.append(Problem(path, DATA_STORE_REASON, element_id=node.get("id"), line=node.sourceline))
            continue
        try:
            parser.add_bpmn_xml(tree, filename=path)
        except etree.DocumentInvalid as err:
            problems.append(_problem_from_xsd(path, err, trees))
        except Exception as err:  # ValidationException (the XSD's too), and whatever else Spiff raises
            problems.append(parser_problem(path, err, trees))
    if problems:
        raise DeploymentError(problems)
    return Bundle(sources, parser, trees, forms, settings, decision_files)


def spiff_parse_problems(bundle: Bundle, skip_files: Iterable[str] = ()) -> list[Problem]:
    """Have SpiffWorkflow parse every executable process (with what it calls) and every decision table, as
    compiling them will: each error it raises becomes a Problem with the file, line and element id. Files in
    `skip_files` (already refused for reasons the lint words better) are neither parsed nor reported on."""
    skip = set(skip_files)
    problems: list[Problem] = []
    seen: set[tuple] = set()

    def add(problem: Problem) -> None:
        key = (problem.file, problem.line, problem.element_id, problem.reason)
        if problem.file not in skip and key not in seen:
            seen.add(key)
            problems.append(problem)

    for process_id in bundle.process_ids():
        path = bundle.parser.process_parsers[process_id].filename
        if path in skip:
            continue
        try:
            bundle.parser.get_spec(process_id)
            bundle.parser.get_subprocess_specs(process_id)
        except Exception as err:  # ValidationException, NotImplementedError, KeyError… as Spiff raises them
            add(parser_problem(path, err, bundle.trees))
    for path, tree in bundle.trees.items():
        source = bundle.sources.get(path)
        if source is None or source.kind != "dmn" or path in skip:
            continue
        dmn_parser = next((p for p in bundle.parser.dmn_parsers.values() if p.filename == path), None)
        if dmn_parser is None:
            continue
        try:
            dmn_parser.parse()
        except Exception as err:
            add(parser_problem(path, err, bundle.trees, "decision table"))
    return problems


def parser_problem(path: str, err: Exception, trees: Mapping[str, etree._ElementTree] | None = None,
                   what: str | None = None) -> Problem:
    """A Problem from an error SpiffWorkflow's parser raised: its file (the error's own when it names one), its
    element id, and its line, found from the element id in the parsed tree when the error has none (most do not).
    An XSD error has a line and no id: the element at that line (or the one holding it) gives the id."""
    file = getattr(err, "file_name", None) or path
    if trees is not None and file not in trees:
        file = path
    tree = trees.get(file) if trees is not None else None
    element_id = getattr(err, "id", None) or None
    raw_line = getattr(err, "line_number", None) or getattr(err, "sourceline", None)
    line = int(raw_line) if str(raw_line or "").isdigit() else None
    if tree is not None:
        if element_id and line is None:
            node = _element_by_id(tree, element_id)
            line = node.sourceline if node is not None else None
        elif line is not None and not element_id:
            element_id = _element_id_at_line(tree, line)
        elif line is None and getattr(err, "tag", None):  # an element without an id: find it by tag (and name)
            node = _element_by_tag(tree, err.tag, getattr(err, "name", None) or None)
            if node is not None:
                line, element_id = node.sourceline, _owner_id(node)
    message = _plain_message(err)
    if isinstance(err.__context__, etree.LxmlError) and isinstance(err, ValidationException):
        schema = "DMN" if what == "decision table" else "BPMN"
        message = f"does not match the {schema} schema: {message}"
    elif what and not isinstance(err, ValidationException):
        message = f"invalid {what}: {message}"
    return Problem(file, message, element_id=element_id, line=line)


_WRAPPED = re.compile(r"""^\w+(?:Error|Exception)\((['"])(.*?)\1[,)]""")


def _plain_message(err: Exception | str) -> str:
    """The error's first line, with namespaces written as their usual prefixes."""
    text = str(err).split("\n")[0].strip() or type(err).__name__
    wrapped = _WRAPPED.match(text)  # Spiff wraps other errors as "NotImplementedError('Unsupported…: %r', b'<…>')"
    if wrapped:
        text = re.sub(r":?\s*%[rs]", "", wrapped.group(2)).strip() or text
    for namespace, prefix in ((BPMN_NS, "bpmn:"), (SPIFF_NS, "spiffworkflow:")):
        text = text.replace("{" + namespace + "}", prefix)
    text = re.sub(r"\{https?://www\.omg\.org/spec/DMN/[^}]*\}", "", text)
    return text[:-1] if text.endswith(".") else text  # Spiff ends every message with a full stop of its own


def _element_by_id(tree: etree._ElementTree, element_id: str) -> etree._Element | None:
    for node in tree.getroot().iter():
        if isinstance(node.tag, str) and node.get("id") == element_id:
            return node
    return None


def _element_by_tag(tree: etree._ElementTree, tag: str, name: str | None) -> etree._Element | None:
    if tag.startswith("bpmn:"):
        tag = f"{{{BPMN_NS}}}{tag[5:]}"
    for node in tree.getroot().iter(tag):
        if name is None or node.get("name") == name:
            return node
    return None


def _owner_id(node: etree._Element) -> str | None:
    for each in (node, *node.iterancestors()):
        if each.get("id"):
            return each.get("id")
    return None


def _element_id_at_line(tree: etree._ElementTree, line: int) -> str | None:
    """The id of the element on that line, or of the nearest element holding it that has one."""
    for node in tree.getroot().iter():
        if isinstance(node.tag, str) and node.sourceline == line:
            return _owner_id(node)
    return None


def _problem_from_validation(path: str, err: ValidationException,
                             trees: Mapping[str, etree._ElementTree] | None = None) -> Problem:
    return parser_problem(path, err, trees)


def _problem_from_xsd(path: str, err: etree.DocumentInvalid,
                      trees: Mapping[str, etree._ElementTree] | None = None) -> Problem:
    entry = err.error_log[0] if len(err.error_log) else None
    line = entry.line if entry else None
    tree = trees.get(path) if trees is not None else None
    return Problem(path, f"does not match the BPMN schema: {_plain_message(entry.message if entry else err)}",
                   element_id=_element_id_at_line(tree, line) if tree is not None and line else None, line=line)


def compile_process(bundle: Bundle, process_id: str, roles_by_lane: Mapping[str, str]) -> CompiledProcess:
    """Build the runnable form of one process; raises DeploymentError when the parser refuses it."""
    try:
        spec = bundle.parser.get_spec(process_id)
        subprocess_specs = bundle.parser.get_subprocess_specs(process_id)
    except ValidationException as err:
        raise DeploymentError([_problem_from_validation(getattr(err, "file_name", "") or process_id, err)])
    for each in [spec, *subprocess_specs.values()]:
        attach_injected_clock(each)
        make_shareable(each)

    elements: dict[str, ElementInfo] = {}
    start_form = None
    for each in [spec, *subprocess_specs.values()]:
        for task_spec in each.task_specs.values():
            if isinstance(task_spec, EventBasedGateway):  # its events wait through it: read each one's properties
                found = [element_info(element, roles_by_lane, definition)
                         for definition, element in catching_members(task_spec)]
            else:
                found = [element_info(task_spec, roles_by_lane)]
            for info in filter(None, found):
                elements[info.element_id] = info
                if info.kind == "start" and each is spec and info.form:
                    start_form = info.form

    files = {spec.file: bundle.sources[spec.file].sha256}
    for sub in subprocess_specs.values():
        if sub.file in bundle.sources:
            files[sub.file] = bundle.sources[sub.file].sha256
    for decision_id in _called_decisions(bundle, files):
        dmn_path = bundle.decision_files.get(decision_id)
        if dmn_path:
            files[dmn_path] = bundle.sources[dmn_path].sha256
    forms = {}
    for info in elements.values():
        if info.form and info.form in bundle.forms:
            forms[info.form] = bundle.forms[info.form]
            files["forms/" + info.form] = bundle.sources[info.form].sha256
    for src in bundle.sources.values():
        if src.kind == "settings":
            files[src.path] = src.sha256
    return CompiledProcess(
        process_id=process_id,
        name=_process_name(bundle, spec),
        spec=spec,
        subprocess_specs=subprocess_specs,
        forms=forms,
        settings=bundle.settings,
        elements=elements,
        start_form=start_form,
        files=files,
    )


def element_info(task_spec, roles_by_lane: Mapping[str, str], event_definition=None) -> ElementInfo | None:
    """Read govflow's extension properties off a user task, a start event or a message or signal catch event
    (`event_definition`: what the element catches, when an event-based gateway holds it for the element)."""
    element_id = getattr(task_spec, "bpmn_id", None)
    if not element_id:
        return None
    extensions = getattr(task_spec, "extensions", {}) or {}
    properties = dict(extensions.get("properties", {}) or {})
    event_definition = event_definition or getattr(task_spec, "event_definition", None)
    type_name = type(task_spec).__name__
    if task_spec.manual:
        kind, message = "user_task", None
    elif isinstance(task_spec, CatchingEvent) and isinstance(event_definition, MessageEventDefinition):
        kind, message = "message", event_definition.name
    elif isinstance(task_spec, CatchingEvent) and isinstance(event_definition, SignalEventDefinition):
        kind, message = "signal", event_definition.name
    elif type_name == "StartEvent" and FORM_PROPERTY in properties:
        kind, message = "start", None
    else:
        return None
    lane = task_spec.lane
    return ElementInfo(
        element_id=element_id,
        name=task_spec.bpmn_name or element_id,
        kind=kind,
        lane=lane,
        role_id=roles_by_lane.get(lane.strip().lower()) if lane else None,
        form=properties.get(FORM_PROPERTY),
        instructions=extensions.get("instructionsForEndUser") or "",
        due_expression=properties.get("dueDate"),
        assignee_expression=properties.get("assignee"),
        message=message,
        group_expression=properties.get("group"),
        properties=properties,
    )


def _called_decisions(bundle: Bundle, files: Mapping[str, str]) -> set[str]:
    called = set()
    for path in files:
        tree = bundle.trees.get(path)
        if tree is not None:
            for node in tree.getroot().iter(f"{{{SPIFF_NS}}}calledDecisionId"):
                called.add((node.text or "").strip())
    return called


def _process_name(bundle: Bundle, spec) -> str:
    tree = bundle.trees.get(spec.file)
    if tree is not None:
        for node in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            if node.get("id") == spec.name and node.get("name"):
                return node.get("name")
    return spec.description or spec.name


def roles_by_lane(roles: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Map lane names to role ids: a lane may name a role by its display name or its id (case-insensitive)."""
    mapping = {}
    for role_id, role_name in roles:
        mapping[role_id.lower()] = role_id
        mapping[role_name.strip().lower()] = role_id
    return mapping


def load_roles_file(path: Path) -> list[dict]:
    return (read_yaml(path) or {}).get("roles", [])
