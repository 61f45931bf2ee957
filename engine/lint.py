"""Deployment lint: every reason to refuse a bundle, each naming the file, element id, line and what to change."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from itertools import combinations
from typing import Any, Callable, Iterable, Iterator, Mapping

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .attachments import settings_problems
from .clock import Clock
from .definitions import BPMN_NS, FORM_PROPERTY, SPIFF_NS, UI_FORM_PROPERTY, Bundle, Problem
from .forms import schema_problem
from .instruction_templates import template_problem
from .sandbox import SandboxedEnvironment, SandboxError, check_expression, check_script
from .script_functions import script_functions
from .state import BadSetting, move_back_window

B = f"{{{BPMN_NS}}}"
S = f"{{{SPIFF_NS}}}"

#: the moment `now()` gives while a timer expression is tried out (a Monday morning, aware UTC)
LINT_NOW = datetime(2025, 3, 3, 9, 30, tzinfo=timezone.utc)

SCOPES = {B + "process", B + "subProcess", B + "transaction", B + "adHocSubProcess"}
SUBPROCESSES = SCOPES - {B + "process"}
ACTIVITIES = {B + t for t in ("task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask",
                              "receiveTask", "businessRuleTask", "callActivity")} | SUBPROCESSES
EVENTS = {B + t for t in ("startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
                          "boundaryEvent")}
GATEWAYS = {B + t for t in ("exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway",
                            "complexGateway")}
FLOW_NODES = ACTIVITIES | EVENTS | GATEWAYS
HUMAN_TASKS = {B + "userTask", B + "manualTask"}

_BARE_ISO = re.compile(r"^(R\d*/)?([-+]?P[0-9.,YMWDTHS]+|\d{4}-\d{2}-\d{2}\S*)(/\S+)?$")


# ---- entry points ------------------------------------------------------------------------------------------------


def lint(bundle: Bundle, lanes_to_roles: Mapping[str, str]) -> list[Problem]:
    """Every problem in the bundle's BPMN and DMN files, in file and line order (empty = deployable)."""
    problems: list[Problem] = []
    for path in sorted(bundle.trees):
        source = bundle.sources.get(path)
        doc = _Doc(path, bundle.trees[path].getroot(), bundle, lanes_to_roles)
        rules = BPMN_RULES if source is not None and source.kind == "bpmn" else DMN_RULES
        found: list[Problem] = []
        for rule in rules:
            found.extend(rule(doc))
        problems.extend(sorted(found, key=lambda p: (p.line or 0, p.element_id or "", p.reason)))
    settings_file = next((s.path for s in bundle.sources.values() if s.kind == "settings"), "settings.yaml")
    problems.extend(Problem(settings_file, reason) for reason in settings_problems(bundle.settings))
    try:
        move_back_window(bundle.settings)
    except BadSetting as err:
        problems.append(Problem(settings_file, str(err)))
    return problems


def lint_report(problems: Iterable[Problem]) -> str:
    """The problems as plain text, one a line, ready for a terminal or a refusal page."""
    problems = list(problems)
    if not problems:
        return "No problems found."
    heading = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} found:"
    return "\n".join([heading, *(f"  {p}" for p in problems)])


# ---- one file under lint -------------------------------------------------------------------------------------------


@dataclass
class _Doc:
    path: str
    root: etree._Element
    bundle: Bundle
    lanes_to_roles: Mapping[str, str]

    def __post_init__(self) -> None:
        self._lanes: dict[str, str | None] = {}
        for ref in self.root.iter(B + "flowNodeRef"):  # like Spiff: the innermost lane wins
            if ref.text:
                self._lanes[ref.text.strip()] = ref.getparent().get("name")

    def problem(self, reason: str, node: etree._Element, element_id: str | None = None) -> Problem:
        return Problem(self.path, reason, element_id=element_id or _owner_id(node), line=node.sourceline)

    def lane_of(self, node: etree._Element) -> str | None:
        """The lane Spiff gives a node: an embedded subprocess in a lane passes its lane to everything inside."""
        enclosing = [a for a in node.iterancestors() if a.tag in SUBPROCESSES]
        for scope in reversed(enclosing):
            lane = self._lanes.get(scope.get("id"))
            if lane is not None:
                return lane
        return self._lanes.get(node.get("id"))

    def flow_nodes(self) -> Iterator[etree._Element]:
        return (n for n in self.root.iter() if n.tag in FLOW_NODES)


def _owner_id(node: etree._Element) -> str | None:
    for each in (node, *node.iterancestors()):
        if each.get("id"):
            return each.get("id")
    return None


def _local(node: etree._Element) -> str:
    return etree.QName(node).localname


def _label(node: etree._Element) -> str:
    return (node.get("name") or node.get("id") or "").strip()


def _properties(node: etree._Element) -> dict[str, etree._Element]:
    """The spiffworkflow:property elements directly on this node, by name."""
    found = {}
    for ext in node.findall(B + "extensionElements"):
        for props in ext.findall(S + "properties"):
            for prop in props.findall(S + "property"):
                found[prop.get("name")] = prop
    return found


def _is_message_catch(node: etree._Element) -> bool:
    return (node.tag in {B + "startEvent", B + "intermediateCatchEvent", B + "boundaryEvent"}
            and node.find(B + "messageEventDefinition") is not None) or node.tag == B + "receiveTask"


def _needs_lane(node: etree._Element) -> bool:
    if node.tag in HUMAN_TASKS:
        return True
    has_form = FORM_PROPERTY in _properties(node)
    return has_form and (node.tag == B + "startEvent" or _is_message_catch(node))


def _kind_word(node: etree._Element) -> str:
    """'user task', 'exclusive gateway', 'message event'…: the element's kind in plain words."""
    if node.tag in {B + "intermediateCatchEvent", B + "boundaryEvent"} and _is_message_catch(node):
        return "message event"
    return re.sub(r"(?<!^)([A-Z])", r" \1", _local(node)).lower()


def _sandbox_reason(check: Callable[[str], Any], source: str) -> str | None:
    refusal = _sandbox_refusal(check, source)
    return refusal.reason if refusal else None


def _sandbox_refusal(check: Callable[[str], Any], source: str) -> SandboxError | None:
    try:
        check(source)
    except SandboxError as err:
        return err
    return None


# ---- BPMN rules ---------------------------------------------------------------------------------------------------


def rule_human_task_in_no_lane(doc: _Doc) -> list[Problem]:
    """A user task (or a message or start event with a form) must sit in the lane of the role that does it."""
    return [doc.problem(f"{_kind_word(n)} '{_label(n)}' is in no lane: put it in the lane of the role that does it", n)
            for n in doc.flow_nodes() if _needs_lane(n) and not (doc.lane_of(n) or "").strip()]


def rule_lane_is_a_known_role(doc: _Doc) -> list[Problem]:
    """Every lane (the innermost, where tasks sit) must be named after a known role."""
    known = _known_role_names(doc.lanes_to_roles)
    problems = []
    for lane in doc.root.iter(B + "lane"):
        if lane.find(f"{B}childLaneSet/{B}lane") is not None:
            continue
        name = (lane.get("name") or "").strip()
        if not name:
            problems.append(doc.problem(f"lane '{lane.get('id')}' has no name: name it after a role ({known})", lane))
        elif name.lower() not in doc.lanes_to_roles:
            problems.append(doc.problem(f"lane '{name}' is not a known role: name it after one of {known}", lane))
    return problems


def _known_role_names(lanes_to_roles: Mapping[str, str]) -> str:
    names: dict[str, str] = {}
    for key, role_id in lanes_to_roles.items():
        if key != role_id.lower() or role_id not in names:
            names[role_id] = key
    return ", ".join(f"'{n}'" for n in sorted(names.values())) or "(no roles are defined)"


def rule_forms(doc: _Doc) -> list[Problem]:
    """A user task names its form; every form named must be in the bundle and be a valid JSON Schema."""
    problems = []
    for node in doc.flow_nodes():
        props = _properties(node)
        what = f"{_kind_word(node)} '{_label(node)}'"
        form = props.get(FORM_PROPERTY)
        if form is None or not (form.get("value") or "").strip():
            if node.tag == B + "userTask":
                problems.append(doc.problem(
                    f"{what} has no form: add a property '{FORM_PROPERTY}' naming a JSON Schema file under forms/",
                    form if form is not None else node, node.get("id")))
        else:
            name = form.get("value").strip()
            if name not in doc.bundle.forms:
                problems.append(doc.problem(f"{what} uses form '{name}', which is not in forms/", form, node.get("id")))
            else:
                reason = schema_problem(doc.bundle.forms[name], doc.bundle.settings)
                if reason:
                    problems.append(doc.problem(f"{what}: form '{name}' is {reason}"
                                                if reason.startswith("not ") else f"{what}: form '{name}': {reason}",
                                                form, node.get("id")))
        ui = props.get(UI_FORM_PROPERTY)
        if ui is not None and (ui.get("value") or "").strip() not in doc.bundle.forms:
            problems.append(doc.problem(f"{what} uses UI schema '{(ui.get('value') or '').strip()}', "
                                        "which is not in forms/", ui, node.get("id")))
    return problems


def rule_timers(doc: _Doc) -> list[Problem]:
    """A timer is a timeDate or timeDuration whose Python expression compiles, runs and gives a time or duration."""
    problems = []
    for definition in doc.root.iter(B + "timerEventDefinition"):
        event = definition.getparent()
        event_id = event.get("id")
        cycle = definition.find(B + "timeCycle")
        if cycle is not None:
            problems.append(doc.problem("cycle timers are not supported, use a timeDate with working-day helpers",
                                        cycle, event_id))
            continue
        expressions = [e for e in (definition.find(B + "timeDate"), definition.find(B + "timeDuration"))
                       if e is not None]
        if not expressions:
            problems.append(doc.problem(f"timer '{_label(event)}' has no timeDate or timeDuration", definition,
                                        event_id))
        for node in expressions:
            reason = timer_problem(_local(node), node.text or "", doc.bundle.settings)
            if reason:
                problems.append(doc.problem(reason, node, event_id))
    return problems


def timer_problem(kind: str, expression: str, settings: Mapping[str, Any]) -> str | None:
    """Why a timeDate/timeDuration expression would fail when the timer starts, or None when it looks sound."""
    text = expression.strip()
    if not text:
        return f"timer {kind} is empty: give an expression such as add_working_days(now(), 5)"
    if _BARE_ISO.match(text):
        return (f"timer expression {text} is not Python: write '{text}' in quotes or use "
                "add_working_days(...)")
    reason = _sandbox_reason(check_expression, text)
    if reason:
        return f"timer expression {text} does not compile: {reason}"
    missing: list[str] = []
    data: dict[str, Any] = {}
    try:
        value = evaluate_expression(text, data, _lint_functions(settings, missing))
    except Exception as err:  # the expression's own failure, reported as its reason
        if missing:
            return f"timer expression {text}: setting '{missing[0]}' is not defined in settings.yaml"
        if data and "None" in _message(err):
            return None  # it needs task data, which only a running instance has
        return f"timer expression {text} fails: {_message(err)}"
    if missing:
        return f"timer expression {text}: setting '{missing[0]}' is not defined in settings.yaml"
    if value is None and data:
        return None
    return _timer_value_problem(kind, text, value)


def _message(err: Exception) -> str:
    if isinstance(err, SandboxError):
        return err.reason
    if isinstance(err, KeyError) and err.args:
        return str(err.args[0])
    return str(err) or type(err).__name__


def _timer_value_problem(kind: str, text: str, value: Any) -> str | None:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return f"timer expression {text} gives a datetime without a time zone: give it a UTC time zone"
        if kind == "timeDuration":
            return f"timer expression {text} gives a moment: a timeDuration needs an ISO duration such as 'P3D'"
        return None
    if isinstance(value, date):
        return f"timer expression {text} gives a date without a time: use end_of_working_day(...)"
    if isinstance(value, str):
        if _is_iso_duration(value):
            return None
        if kind == "timeDate":
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if moment.tzinfo is None:
                    return f"timer expression {text} gives {value!r} without a time zone: add 'Z' or '+00:00'"
                return None
    wanted = "an ISO duration such as 'P3D'" if kind == "timeDuration" else (
        "an aware datetime, an ISO date-time with a time zone, or an ISO duration")
    return f"timer expression {text} gives {value!r}: a {kind} needs {wanted}"


def _is_iso_duration(value: str) -> bool:
    if not value.startswith("P"):
        return False
    try:
        return bool(TimerEventDefinition.parse_iso_duration(value))
    except Exception:
        return False


def _lint_functions(settings: Mapping[str, Any], missing: list[str]) -> dict[str, Callable]:
    """govflow's script functions on a fixed clock, real calendar and the bundle's settings; no database."""
    functions = script_functions(None, Clock(LINT_NOW), dict(settings), "lint")  # type: ignore[arg-type]

    def setting(name: str, default: Any = None) -> Any:
        if name in settings:
            return settings[name]
        if default is not None:
            return default
        missing.append(name)
        raise KeyError(f"setting '{name}' is not defined in settings.yaml")

    functions.update(setting=setting, next_reference=lambda prefix: f"{prefix}001",
                     approved_total=lambda field: 0.0)
    return functions


def rule_expressions(doc: _Doc) -> list[Problem]:
    """Scripts, conditions and dueDate/assignee expressions must compile in the sandbox."""
    problems = []

    def check(node: etree._Element, check_fn: Callable[[str], Any], what: str, element_id: str | None = None):
        source = node.text if node.tag != S + "property" else node.get("value")
        if not (source or "").strip():
            return
        refusal = _sandbox_refusal(check_fn, source)
        if refusal:
            problem = doc.problem(f"{what} does not compile: {refusal.reason}", node, element_id)
            if check_fn is check_script and refusal.line and node.sourceline:
                # a script's text starts on the line of its tag: point at the refused line itself
                problem = replace(problem, line=node.sourceline + refusal.line - 1)
            problems.append(problem)

    for node in doc.root.iter(B + "script"):
        check(node, check_script, f"script of '{_label(node.getparent())}'")
    for tag, word in ((S + "preScript", "pre-script"), (S + "postScript", "post-script")):
        for node in doc.root.iter(tag):
            owner = node.getparent().getparent()
            check(node, check_script, f"{word} of '{_label(owner)}'", owner.get("id"))
    for node in doc.root.iter(B + "conditionExpression", B + "condition", B + "completionCondition",
                              B + "loopCondition", B + "loopCardinality"):
        owner = node.getparent()
        if owner.tag in (B + "conditionalEventDefinition", B + "multiInstanceLoopCharacteristics",
                         B + "standardLoopCharacteristics"):
            owner = owner.getparent()
        check(node, check_expression, f"{_local(node)} of '{_label(owner)}'", owner.get("id"))
    for node in doc.root.iter(S + "messagePayload"):
        owner = next((a for a in node.iterancestors() if a.get("id")), node)
        check(node, check_expression, f"message payload of '{_label(owner)}'", owner.get("id"))
    for node in doc.flow_nodes():
        for name, prop in _properties(node).items():
            if name in ("dueDate", "assignee"):
                check(prop, check_expression, f"{name} of '{_label(node)}'", node.get("id"))
    return problems


def rule_gateway_ways_out(doc: _Doc) -> list[Problem]:
    """An exclusive/inclusive gateway that splits needs a default flow or a condition on every way out."""
    outgoing: dict[str, list[etree._Element]] = {}
    for flow in doc.root.iter(B + "sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
    problems = []
    for gateway in doc.root.iter(B + "exclusiveGateway", B + "inclusiveGateway"):
        flows = outgoing.get(gateway.get("id"), [])
        if len(flows) < 2 or gateway.get("default"):
            continue
        for flow in flows:
            condition = flow.find(B + "conditionExpression")
            if condition is None or not (condition.text or "").strip():
                problems.append(doc.problem(
                    f"{_kind_word(gateway)} '{_label(gateway)}' has no default flow and its flow "
                    f"'{_label(flow)}' has no condition: add a condition or make one flow the default",
                    gateway))
    return problems


def rule_reachable(doc: _Doc) -> list[Problem]:
    """Every element can be reached from a start event (through flows, boundary events and subprocesses)."""
    reached: set[str] = set()
    for process in doc.root.iter(B + "process"):
        _walk_scope(process, reached)
    return [doc.problem(f"{_kind_word(n)} '{_label(n)}' cannot be reached from a start event", n)
            for n in doc.flow_nodes() if n.get("id") not in reached and not _under_unreached(n, reached)]


def _under_unreached(node: etree._Element, reached: set[str]) -> bool:
    """Report only the outermost unreachable element: a subprocess nobody enters hides what it holds."""
    return any(a.tag in SUBPROCESSES and a.get("id") not in reached for a in node.iterancestors())


def _walk_scope(scope: etree._Element, reached: set[str]) -> None:
    children = [c for c in scope if c.tag in FLOW_NODES]
    by_id = {c.get("id"): c for c in children}
    targets: dict[str, list[str]] = {}
    for flow in scope.findall(B + "sequenceFlow"):
        targets.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    boundaries: dict[str, list[str]] = {}
    link_catches: dict[str, list[str]] = {}
    for child in children:
        if child.tag == B + "boundaryEvent":
            boundaries.setdefault(child.get("attachedToRef"), []).append(child.get("id"))
        link = child.find(B + "linkEventDefinition")
        if child.tag == B + "intermediateCatchEvent" and link is not None:
            link_catches.setdefault(link.get("name") or "", []).append(child.get("id"))

    todo = [c.get("id") for c in children if c.tag == B + "startEvent"]
    todo += [c.get("id") for c in children if c.tag in SUBPROCESSES and c.get("triggeredByEvent") == "true"]
    while todo:
        node_id = todo.pop()
        if node_id in reached or node_id not in by_id:
            continue
        reached.add(node_id)
        node = by_id[node_id]
        todo += targets.get(node_id, []) + boundaries.get(node_id, [])
        link = node.find(B + "linkEventDefinition")
        if node.tag == B + "intermediateThrowEvent" and link is not None:
            todo += link_catches.get(link.get("name") or "", [])
        if node.tag in SUBPROCESSES:
            _walk_scope(node, reached)


def rule_instruction_templates(doc: _Doc) -> list[Problem]:
    """Instructions for the user are a Jinja template (engine/instruction_templates.py): refuse one that does not
    compile, with Jinja's message and the line it points at."""
    problems = []
    for node in doc.root.iter(S + "instructionsForEndUser"):
        found = template_problem(node.text)
        if found is None:
            continue
        owner = next((a for a in node.iterancestors() if a.get("id")), node)
        problem = doc.problem(f"instructions of '{_label(owner)}' are not a valid template: {found.message}",
                              node, owner.get("id"))
        if found.line and node.sourceline:
            # the instructions start on the line of their tag: point at the refused line itself
            problem = replace(problem, line=node.sourceline + found.line - 1)
        problems.append(problem)
    return problems


BPMN_RULES = [rule_human_task_in_no_lane, rule_lane_is_a_known_role, rule_forms, rule_timers, rule_expressions,
              rule_gateway_ways_out, rule_reachable, rule_instruction_templates]


# ---- DMN rules ----------------------------------------------------------------------------------------------------


def rule_dmn_expressions(doc: _Doc) -> list[Problem]:
    """Every DMN input expression and input/output cell must compile in the sandbox (cells are Python)."""
    problems = []
    for table in doc.root.iter("{*}decisionTable"):
        for node in table.iter("{*}inputExpression"):
            text = node.findtext("{*}text") or ""
            reason = text.strip() and _sandbox_reason(check_expression, text.strip())
            if reason:
                label = node.getparent().get("label") or node.getparent().get("id")
                problems.append(doc.problem(f"input expression of '{label}' does not compile: {reason}",
                                            node.find("{*}text"), node.getparent().get("id")))
        for rule in table.iter("{*}rule"):
            for entry in rule:
                kind = etree.QName(entry).localname
                if kind not in ("inputEntry", "outputEntry"):
                    continue
                text_node = entry.find("{*}text")
                text = (text_node.text if text_node is not None else None) or ""
                reason = (_input_cell_problem(text) if kind == "inputEntry"
                          else text.strip() and _sandbox_reason(check_expression, text.strip()))
                if reason:
                    word = "input" if kind == "inputEntry" else "output"
                    problems.append(doc.problem(f"{word} cell {text.strip()!r} of rule '{rule.get('id')}' "
                                                f"does not compile: {reason}", entry, rule.get("id")))
    return problems


def _input_cell_problem(text: str) -> str | None:
    """An input cell as Spiff reads it: '-' (any), an expression using '?', a value, or an operator and a value."""
    if text in ("", "-"):
        return None
    cell = text.strip()
    if "?" in cell:
        swapped = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", cell)
        return _sandbox_reason(check_expression, swapped)
    as_value = _sandbox_reason(check_expression, cell)
    if as_value is None:
        return None
    if _sandbox_reason(check_expression, f"dmninputexpr {cell}") is None:
        return None
    return as_value


def rule_unique_rules_do_not_overlap(doc: _Doc) -> list[Problem]:
    """In a UNIQUE table no two rules may match the same inputs (detectable when cells are equal or '-')."""
    problems = []
    for decision in doc.root.iter("{*}decision"):
        for table in decision.iter("{*}decisionTable"):
            if (table.get("hitPolicy") or "UNIQUE").upper() != "UNIQUE":
                continue
            rules = [(rule, [_cell(e) for e in rule.findall("{*}inputEntry")]) for rule in table.findall("{*}rule")]
            for (first, a), (second, b) in combinations(rules, 2):
                if len(a) == len(b) and all(x == y or x == "-" or y == "-" for x, y in zip(a, b)):
                    problems.append(doc.problem(
                        f"rules {first.get('id')} and {second.get('id')} of decision '{decision.get('id')}' "
                        "can both match: make their input cells exclusive (UNIQUE uses only the first)",
                        second, second.get("id")))
    return problems


def _cell(entry: etree._Element) -> str:
    text = (entry.findtext("{*}text") or "").strip()
    return text or "-"


DMN_RULES = [rule_dmn_expressions, rule_unique_rules_do_not_overlap]


# ---- trying an expression out ---------------------------------------------------------------------------------------


def evaluate_expression(expression: str, data: dict[str, Any], functions: Mapping[str, Callable]) -> Any:
    """Evaluate one expression in the sandbox; every task-data name it reads is added to `data` as None."""
    environment = SandboxedEnvironment(functions, time_limit=1.0)
    for _ in range(50):
        try:
            return environment.evaluate(expression, data)
        except NameError as err:
            if not err.name or err.name in data:
                raise
            data[err.name] = None
    return environment.evaluate(expression, data)
