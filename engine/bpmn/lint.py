"""Deployment lint: every reason to refuse a bundle, each naming the file, element id, line and what to change."""
from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from itertools import combinations
from typing import Any, Callable, Iterable, Iterator, Mapping

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.bpmn.attachment_fields import settings_problems
from engine.clock import Clock
from engine.bpmn.definitions import (BPMN_NS, DATA_STORE_REASON, FORM_PROPERTY, SPIFF_NS, UI_FORM_PROPERTY, UNSUPPORTED,
                          Bundle, Problem, spiff_parse_problems)
from engine.bpmn import feel
from engine.bpmn.forms import schema_problem
from engine.bpmn.instructions import template_problem
from engine.bpmn.sandbox import SandboxedEnvironment, SandboxError, check_expression, check_script, constant_value
from engine.bpmn.functions import argument_problem, clock_functions
from engine.bpmn.state import BadSetting, move_back_window

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
    """Every problem in the bundle's BPMN and DMN files, in file and line order (empty = deployable). SpiffWorkflow
    then parses the files the rules passed, and each error it raises is reported with its file, line and element."""
    found: dict[str, list[Problem]] = {}
    for path in sorted(bundle.trees):
        source = bundle.sources.get(path)
        doc = _Doc(path, bundle.trees[path].getroot(), bundle, lanes_to_roles)
        rules = BPMN_RULES if source is not None and source.kind == "bpmn" else DMN_RULES
        for rule in rules:
            found.setdefault(path, []).extend(rule(doc))
    # Spiff's parser would mostly repeat, less clearly, what the rules found: it parses only the files they passed
    blocked = {path for path, problems in found.items() if problems}
    for problem in spiff_parse_problems(bundle, blocked):
        found.setdefault(problem.file, []).append(problem)
    problems: list[Problem] = []
    for path in sorted(found):
        problems.extend(sorted(found[path], key=lambda p: (p.line or 0, p.element_id or "", p.reason)))
    settings_file = next((s.path for s in bundle.sources.values() if s.kind == "settings"), "settings.yaml")
    problems.extend(Problem(settings_file, reason) for reason in settings_problems(bundle.settings))
    try:
        move_back_window(bundle.settings)
    except BadSetting as err:
        problems.append(Problem(settings_file, str(err)))
    problems.extend(Problem(settings_file, reason) for reason in setting_check_problems(bundle.settings))
    return problems


SETTING_CHECKS = "setting_checks"


def setting_check_problems(settings: Mapping[str, Any]) -> list[str]:
    """The checks settings.yaml makes of its own values: `setting_checks`, a list of `{check, because}` where `check`
    is a Python expression over the settings (by name) that must be true. Each one false, failing or naming no
    setting is a problem, reported with the values it read and its `because`."""
    checks = settings.get(SETTING_CHECKS) or []
    if not isinstance(checks, list):
        return [f"{SETTING_CHECKS} must be a list of entries, each with a 'check' and a 'because'"]
    found = []
    known = {name: value for name, value in settings.items() if isinstance(name, str) and name != SETTING_CHECKS}
    for entry in checks:
        text = str(entry.get("check") or "").strip() if isinstance(entry, Mapping) else ""
        if not text:
            found.append(f"{SETTING_CHECKS}: each entry needs a 'check' (a Python expression) and a 'because', "
                         f"not {entry!r}")
            continue
        because = str(entry.get("because") or "").strip()
        reason = _sandbox_reason(check_expression, text)
        if reason:
            found.append(f"setting check {text} does not compile: {reason}")
            continue
        data = dict(known)
        try:
            holds = evaluate_expression(text, data, _lint_functions(settings, []))
        except Exception as err:  # the check's own failure, reported as its reason
            holds, failure = None, _message(err)
        else:
            failure = ""
        unknown = sorted(name for name in data if name not in known)
        if unknown:
            found.append(f"setting check {text} names {', '.join(unknown)}, which settings.yaml does not define")
        elif failure:
            found.append(f"setting check {text} fails: {failure}")
        elif holds is not True:
            read = ", ".join(f"{name} is {known[name]!r}" for name in sorted(_names(text)) if name in known)
            found.append(f"setting check {text} does not hold ({read}): {because}".rstrip(": "))
    return found


def _names(expression: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(expression, mode="eval")) if isinstance(node, ast.Name)}


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
            problems.append(doc.problem(UNSUPPORTED + "cycle timers (timeCycle): use a timeDate worked out with "
                                        "the working-day helpers, re-armed in a loop", cycle, event_id))
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
    foreign = feel.recognise(text, feel.TIMER)
    if foreign is not None:
        return foreign.reason(feel.TIMER)
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
    """govflow's functions that need no database, on a fixed clock, the real calendar and the bundle's settings."""
    functions = clock_functions(Clock(LINT_NOW), settings)

    def setting(name: str, default: Any = None) -> Any:
        if name in settings:
            return settings[name]
        if default is not None:
            return default
        missing.append(name)
        raise KeyError(f"setting '{name}' is not defined in settings.yaml")

    functions["setting"] = setting
    return functions


def rule_expressions(doc: _Doc) -> list[Problem]:
    """Scripts, conditions and dueDate/assignee expressions must compile in the sandbox; Camunda or FEEL syntax is
    named, with the Python to write instead."""
    problems = []

    def check(node: etree._Element, context: str, what: str, element_id: str | None = None,
              language: str | None = None):
        source = node.text if node.tag != S + "property" else node.get("value")
        if not (source or "").strip():
            return
        check_fn = check_script if context == feel.SCRIPT else check_expression
        foreign = feel.recognise(source, context)
        if foreign is not None:
            problem = doc.problem(foreign.reason(context), node, element_id)
            if context == feel.SCRIPT and node.sourceline:
                index = next(i for i, line in enumerate(source.splitlines()) if line.strip() == foreign.text)
                problem = replace(problem, line=node.sourceline + index)
            problems.append(problem)
            return
        refusal = _sandbox_refusal(check_fn, source)
        if refusal:
            reason = f"{what} does not compile: {refusal.reason}"
            if _foreign_language(language):
                noun = feel.NOUNS[context]
                reason = (f"{what} is {_foreign_language(language)} ({_language_attribute(node)}=\"{language}\"); "
                          f"govflow {noun} are Python: rewrite it in Python")
            problem = doc.problem(reason, node, element_id)
            if check_fn is check_script and refusal.line and node.sourceline:
                # a script's text starts on the line of its tag: point at the refused line itself
                problem = replace(problem, line=node.sourceline + refusal.line - 1)
            problems.append(problem)
            return
        for line, reason in _out_of_bounds_calls(source, check_fn is check_script):
            problem = doc.problem(f"{what} would fail: {reason}", node, element_id)
            if line and node.sourceline:
                problem = replace(problem, line=node.sourceline + line - 1)
            problems.append(problem)

    for node in doc.root.iter(B + "script"):
        task = node.getparent()
        check(node, feel.SCRIPT, f"script of '{_label(task)}'", language=task.get("scriptFormat"))
    for tag, word in ((S + "preScript", "pre-script"), (S + "postScript", "post-script")):
        for node in doc.root.iter(tag):
            owner = node.getparent().getparent()
            check(node, feel.SCRIPT, f"{word} of '{_label(owner)}'", owner.get("id"))
    for node in doc.root.iter(B + "conditionExpression", B + "condition", B + "completionCondition",
                              B + "loopCondition", B + "loopCardinality"):
        owner = node.getparent()
        if owner.tag in (B + "conditionalEventDefinition", B + "multiInstanceLoopCharacteristics",
                         B + "standardLoopCharacteristics"):
            owner = owner.getparent()
        context = feel.EXPRESSION if node.tag == B + "loopCardinality" else feel.CONDITION
        check(node, context, f"{_local(node)} of '{_label(owner)}'", owner.get("id"), language=node.get("language"))
    for node in doc.root.iter(S + "messagePayload"):
        owner = next((a for a in node.iterancestors() if a.get("id")), node)
        check(node, feel.EXPRESSION, f"message payload of '{_label(owner)}'", owner.get("id"))
    for node in doc.flow_nodes():
        for name, prop in _properties(node).items():
            if name in ("dueDate", "assignee", "acceptsWhen"):  # acceptsWhen: engine/bpmn/acceptance.py
                check(prop, feel.EXPRESSION, f"{name} of '{_label(node)}'", node.get("id"))
    return problems


def _out_of_bounds_calls(source: str, script: bool) -> list[tuple[int | None, str]]:
    """(line, reason) for each call of a provided function whose written-out arguments it would refuse
    (``add_working_days(now(), 10**7)``)."""
    try:
        tree = ast.parse(textwrap.dedent(source) if script else source.strip(), mode="exec" if script else "eval")
    except SyntaxError:
        return []
    found = []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
            reason = argument_problem(call.func.id, [constant_value(arg) for arg in call.args])
            if reason:
                found.append((call.lineno if script else None, reason))
    return found


_LANGUAGES = {"javascript": "JavaScript", "js": "JavaScript", "ecmascript": "JavaScript", "groovy": "Groovy",
              "juel": "JUEL (Camunda's expression language)", "feel": "FEEL", "ruby": "Ruby", "jruby": "Ruby"}
_PYTHON_LANGUAGES = {"", "python", "python3", "py", "text/x-python", "text/python"}


def _foreign_language(language: str | None) -> str | None:
    """The language's name when a script or expression declares one that is not Python."""
    name = (language or "").strip().lower()
    if name in _PYTHON_LANGUAGES:
        return None
    short = name.rsplit("/", 1)[-1]
    if short.startswith("x-"):
        short = short[2:]
    return _LANGUAGES.get(short, f"written in {language}" if "feel" not in short else "FEEL")


def _language_attribute(node: etree._Element) -> str:
    return "scriptFormat" if node.tag == B + "script" else "language"


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
            for n in doc.flow_nodes() if n.get("id") not in reached and not _under_unreached(n, reached)
            and n.get("isForCompensation") != "true"  # refused as compensation, not as unreachable
            and _in_executable_process(n)]  # a process that is not executable is refused as a whole


def _in_executable_process(node: etree._Element) -> bool:
    process = next((a for a in node.iterancestors() if a.tag == B + "process"), None)
    return process is None or process.get("isExecutable", "true") == "true"


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
    if scope.tag == B + "adHocSubProcess":  # (refused) it holds its tasks without flows
        todo += [c.get("id") for c in children]
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
    """Instructions for the user are a Jinja template (engine/bpmn/instructions.py): refuse one that does not
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
    for node in doc.flow_nodes():
        for name, prop in _properties(node).items():
            found = template_problem(prop.get("value")) if name in ("refusal", "closedRefusal") else None
            if found is not None:
                problems.append(doc.problem(f"{name} of '{_label(node)}' is not a valid template: {found.message}",
                                            prop, node.get("id")))
    return problems


# ---- what govflow cannot run -----------------------------------------------------------------------------------------
# Each refusal below was checked against SpiffWorkflow 3.2 in memory: it either refuses the element with an error that
# names no line, or accepts it and then runs it wrongly (or not at all).

_EVENT_DEFINITIONS = {B + t for t in ("messageEventDefinition", "signalEventDefinition", "timerEventDefinition",
                                      "conditionalEventDefinition", "errorEventDefinition",
                                      "escalationEventDefinition", "cancelEventDefinition",
                                      "compensateEventDefinition", "linkEventDefinition",
                                      "terminateEventDefinition")} | {B + "eventDefinitionRef"}
_CATCH_EVENTS = {B + "startEvent", B + "intermediateCatchEvent", B + "boundaryEvent"}

_COMPENSATION = (UNSUPPORTED + "compensation (SpiffWorkflow 3.2 does not run compensation events): undo the work "
                 "with ordinary tasks on the path that needs it, e.g. after an error boundary event")
_COMPENSATION_ACTIVITY = (UNSUPPORTED + "compensation activities (isForCompensation; SpiffWorkflow 3.2 never runs "
                          "them): put the undo work as ordinary tasks on the path that needs it")
_COMPLEX_GATEWAY = (UNSUPPORTED + "complex gateways (SpiffWorkflow 3.2 cannot run them): use an inclusive or "
                    "exclusive gateway with a condition on each flow")
_CONDITIONAL = (UNSUPPORTED + "conditional events (SpiffWorkflow 3.2 tests the condition once, when the event is "
                "reached, and never again): use an exclusive gateway, or a message or signal someone sends")
_SERVICE_TASK = (UNSUPPORTED + "service tasks (govflow has no connector to call a service): use a script task with "
                 "govflow's functions, or a user task for the person who does the work")
_SEND_TASK = (UNSUPPORTED + "send tasks (govflow has no connector to deliver a message): use a script task calling "
              "notify(...) to tell people, or start_process(...) to start another process")
_AD_HOC = (UNSUPPORTED + "ad-hoc subprocesses (govflow cannot let people pick which of its tasks to run, and "
           "SpiffWorkflow 3.2 fails on them): use an expanded subprocess with parallel or gateway-chosen tasks")
_MULTIPLE = (UNSUPPORTED + "an event with more than one trigger (a multiple or parallel multiple event; SpiffWorkflow "
             "3.2 drops a message's data there): use one event per trigger, e.g. an event-based gateway or one "
             "boundary event each")
_LINK = (UNSUPPORTED + "link events (SpiffWorkflow 3.2 does not follow them: the path stops at the throw): draw the "
         "sequence flow instead")


_INTERRUPTING_EVENT_SUBPROCESS = (
    UNSUPPORTED + "interrupting event subprocesses (SpiffWorkflow 3.2 ignores isInterrupting: the main flow goes on "
    "beside it): set isInterrupting=\"false\" on its start event, or put the main flow in a subprocess with an "
    "interrupting boundary event")
_EVENT_SUBPROCESS_TRIGGER = (
    UNSUPPORTED + "{what} start events in an event subprocess (SpiffWorkflow 3.2 {why}): {instead}")
_EVENT_SUBPROCESS_TRIGGERS = {
    "errorEventDefinition": ("error", "drops the trigger and starts the subprocess with the process",
                             "catch the error with an error boundary event on the subprocess that throws it"),
    "escalationEventDefinition": ("escalation", "drops the trigger and starts the subprocess with the process",
                                  "catch it with an escalation boundary event on the subprocess that throws it"),
    "timerEventDefinition": ("timer", "keeps the instance open until the timer fires, even after its end event",
                             "put the main flow in a subprocess with a non-interrupting boundary timer"),
}
_SEQUENTIAL_ITEM_WITHOUT_OUTPUT = (
    UNSUPPORTED + "a sequential multi-instance with an input item and no output collection (SpiffWorkflow 3.2 merges "
    "the first item into the process data and fails on the second): add a loopDataOutputRef with an outputDataItem, "
    "or make it parallel")


def _event_subprocesses(doc: _Doc) -> list[Problem]:
    """What SpiffWorkflow 3.2 runs differently from BPMN in an event subprocess (seen in the conformance suite)."""
    problems = []
    for sub in doc.root.iter(B + "subProcess"):
        if (sub.get("triggeredByEvent") or "").lower() != "true":
            continue
        for start in sub.findall(B + "startEvent"):
            triggers = [c for c in start if c.tag in _EVENT_DEFINITIONS]
            for definition in triggers:
                found = _EVENT_SUBPROCESS_TRIGGERS.get(etree.QName(definition).localname)
                if found:
                    what, why, instead = found
                    problems.append(doc.problem(_EVENT_SUBPROCESS_TRIGGER.format(what=what, why=why, instead=instead),
                                                start))
            if triggers and (start.get("isInterrupting") or "true").lower() != "false":
                problems.append(doc.problem(_INTERRUPTING_EVENT_SUBPROCESS, start))
    return problems


def _sequential_items_without_output(doc: _Doc) -> list[Problem]:
    problems = []
    for loop in doc.root.iter(B + "multiInstanceLoopCharacteristics"):
        if (loop.get("isSequential") or "").lower() != "true" or loop.find(B + "inputDataItem") is None:
            continue
        if loop.find(B + "loopDataOutputRef") is None or loop.find(B + "outputDataItem") is None:
            problems.append(doc.problem(_SEQUENTIAL_ITEM_WITHOUT_OUTPUT, loop, loop.getparent().get("id")))
    return problems


def rule_supported(doc: _Doc) -> list[Problem]:
    """Refuse, in plain words, every construct govflow cannot run end to end, saying what to use instead."""
    problems = []
    root = doc.root
    for definition in root.iter(B + "compensateEventDefinition"):
        problems.append(doc.problem(_COMPENSATION, definition, definition.getparent().get("id")))
    for node in root.iter(*ACTIVITIES):
        if (node.get("isForCompensation") or "").strip().lower() == "true":
            problems.append(doc.problem(_COMPENSATION_ACTIVITY, node))
    for node in root.iter(B + "dataStore", B + "dataStoreReference"):  # (load_bundle refuses files with a store)
        problems.append(doc.problem(DATA_STORE_REASON, node))
    for node in root.iter(B + "complexGateway"):
        problems.append(doc.problem(_COMPLEX_GATEWAY, node))
    for definition in root.iter(B + "conditionalEventDefinition"):
        problems.append(doc.problem(_CONDITIONAL, definition, definition.getparent().get("id")))
    for node in root.iter(B + "serviceTask"):
        problems.append(doc.problem(_SERVICE_TASK, node))
    for node in root.iter(B + "sendTask"):
        problems.append(doc.problem(_SEND_TASK, node))
    for node in root.iter(B + "adHocSubProcess"):
        problems.append(doc.problem(_AD_HOC, node))
    for definition in root.iter(B + "linkEventDefinition"):
        problems.append(doc.problem(_LINK, definition, definition.getparent().get("id")))
    for event in root.iter(*_CATCH_EVENTS):
        if sum(1 for child in event if child.tag in _EVENT_DEFINITIONS) > 1:
            problems.append(doc.problem(_MULTIPLE, event))
    problems += _event_gateways_with_timers(doc)
    problems += _event_subprocesses(doc)
    problems += _sequential_items_without_output(doc)
    problems += _messages_nobody_catches(doc)
    problems += _processes_not_executable(doc)
    return problems


def _event_gateways_with_timers(doc: _Doc) -> list[Problem]:
    by_id = {n.get("id"): n for n in doc.flow_nodes()}
    targets: dict[str, list[str]] = {}
    for flow in doc.root.iter(B + "sequenceFlow"):
        targets.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    problems = []
    for gateway in doc.root.iter(B + "eventBasedGateway"):
        timers = [t for t in targets.get(gateway.get("id"), [])
                  if t in by_id and by_id[t].find(B + "timerEventDefinition") is not None]
        if len(timers) > 1:
            names = ", ".join(f"'{t}'" for t in timers)
            problems.append(doc.problem(
                UNSUPPORTED + f"an event-based gateway with more than one timer ({names}; SpiffWorkflow 3.2 keeps one "
                "due time per gateway, so the timers do not fire at their own times): keep one timer after the "
                "gateway and put the other deadline on a boundary timer", gateway))
    return problems


def _messages_nobody_catches(doc: _Doc) -> list[Problem]:
    """A message thrown (intermediate throw or end event) must be caught in the same instance: govflow delivers no
    message from one instance to another, and Spiff keeps an uncaught one in a list nobody reads."""
    names = {m.get("id"): (m.get("name") or m.get("id")) for m in doc.root.iter(B + "message")}
    for tree in doc.bundle.trees.values():
        for message in tree.getroot().iter(B + "message"):
            names.setdefault(message.get("id"), message.get("name") or message.get("id"))
    processes = _processes_in_bundle(doc.bundle)
    problems = []
    for process in doc.root.iter(B + "process"):
        caught = set()
        for member in _call_family(process, processes):
            caught |= _caught_messages(member, names)
        for event in process.iter(B + "intermediateThrowEvent", B + "endEvent"):
            definition = event.find(B + "messageEventDefinition")
            if definition is None:
                continue
            name = names.get(definition.get("messageRef"), definition.get("messageRef") or _label(event))
            if name not in caught:
                problems.append(doc.problem(
                    UNSUPPORTED + f"throwing message '{name}', which nothing in process '{process.get('id')}' "
                    "catches (govflow delivers no message out of an instance): use notify(...) to tell people, "
                    "start_process(...) to start another process, or a signal within this process",
                    definition, event.get("id")))
    return problems


def _processes_in_bundle(bundle: Bundle) -> dict[str, etree._Element]:
    found = {}
    for tree in bundle.trees.values():
        for process in tree.getroot().iter(B + "process"):
            found.setdefault(process.get("id"), process)
    return found


def _call_family(process: etree._Element, processes: Mapping[str, etree._Element]) -> list[etree._Element]:
    """The process with every process it calls or is called by, directly or not (one Spiff workflow at run time)."""
    calls: dict[str, set[str]] = {}
    for pid, each in processes.items():
        for call in each.iter(B + "callActivity"):
            target = call.get("calledElement")
            if target in processes:
                calls.setdefault(pid, set()).add(target)
                calls.setdefault(target, set()).add(pid)
    family, todo = set(), [process.get("id")]
    while todo:
        pid = todo.pop()
        if pid not in family:
            family.add(pid)
            todo += calls.get(pid, ())
    return [processes.get(pid, process) for pid in family]


def _caught_messages(process: etree._Element, names: Mapping[str, str]) -> set[str]:
    caught = set()
    for event in process.iter(*_CATCH_EVENTS):
        definition = event.find(B + "messageEventDefinition")
        if definition is not None:
            caught.add(names.get(definition.get("messageRef"), definition.get("messageRef") or _label(event)))
    for task in process.iter(B + "receiveTask"):
        ref = task.get("messageRef")
        definition = task.find(B + "messageEventDefinition")
        if ref is None and definition is not None:
            ref = definition.get("messageRef")
        caught.add(names.get(ref, ref or _label(task)))
    return caught


def _processes_not_executable(doc: _Doc) -> list[Problem]:
    processes = list(doc.root.iter(B + "process"))
    executable = [p for p in processes if p.get("isExecutable", "true") == "true"]  # as Spiff reads it
    if not executable:
        where = processes[0] if processes else doc.root
        return [doc.problem(f"no executable process in {doc.path}: set isExecutable=\"true\" on the process govflow "
                            "should run", where)]
    return [doc.problem(UNSUPPORTED + f"a process that is not executable (isExecutable=\"{p.get('isExecutable')}\": "
                        f"govflow would never run '{_label(p)}'): set isExecutable=\"true\", or delete it", p)
            for p in processes if p not in executable]


def rule_call_targets(doc: _Doc) -> list[Problem]:
    """A call activity calls a process that one of the files deployed together defines."""
    processes = _processes_in_bundle(doc.bundle)
    return [doc.problem(f"call activity '{_label(call)}' calls process '{call.get('calledElement')}', which is in "
                        "none of the files given: add its .bpmn file", call)
            for call in doc.root.iter(B + "callActivity")
            if (call.get("calledElement") or "") not in processes]


BPMN_RULES = [rule_supported, rule_call_targets, rule_human_task_in_no_lane, rule_lane_is_a_known_role, rule_forms,
              rule_timers, rule_expressions, rule_gateway_ways_out, rule_reachable, rule_instruction_templates]


# ---- DMN rules ----------------------------------------------------------------------------------------------------


def rule_dmn_expressions(doc: _Doc) -> list[Problem]:
    """Every DMN input expression and input/output cell must compile in the sandbox (cells are Python)."""
    problems = []
    for table in doc.root.iter("{*}decisionTable"):
        for node in table.iter("{*}inputExpression"):
            text = node.findtext("{*}text") or ""
            foreign = feel.recognise(text, feel.INPUT_EXPRESSION)
            if foreign is not None:
                problems.append(doc.problem(foreign.reason(feel.INPUT_EXPRESSION), node.find("{*}text"),
                                            node.getparent().get("id")))
                continue
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
                context = feel.INPUT_CELL if kind == "inputEntry" else feel.OUTPUT_CELL
                foreign = feel.recognise(text, context)
                if foreign is not None:
                    problems.append(doc.problem(foreign.reason(context), entry, rule.get("id")))
                    continue
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


_HIT_POLICIES = {
    "PRIORITY": "use UNIQUE with exclusive rules, or FIRST with the rules in priority order",
    "RULE ORDER": "use COLLECT, which gives every matching rule's output in rule order",
    "OUTPUT ORDER": "use COLLECT and sort the outputs in a script",
}


def rule_dmn_supported(doc: _Doc) -> list[Problem]:
    """One decision table per DMN file, with a hit policy SpiffWorkflow 3.2 runs as DMN means it."""
    problems = []
    decisions = list(doc.root.iter("{*}decision"))
    for extra in decisions[1:]:
        problems.append(doc.problem(
            UNSUPPORTED + f"more than one decision in a DMN file (SpiffWorkflow 3.2 reads only the first, "
            f"'{decisions[0].get('id')}'): put decision '{extra.get('id')}' in a .dmn file of its own", extra))
    for decision in decisions:
        table = decision.find("{*}decisionTable")
        if table is None:
            kind = next((etree.QName(c).localname for c in decision
                         if etree.QName(c).localname not in ("description", "extensionElements", "variable",
                                                             "informationRequirement", "knowledgeRequirement",
                                                             "authorityRequirement", "question",
                                                             "allowedAnswers")), "nothing")
            problems.append(doc.problem(
                UNSUPPORTED + f"a decision that is not a decision table (decision '{decision.get('id')}' holds "
                f"{'a ' + kind if kind != 'nothing' else 'no table'}; SpiffWorkflow 3.2 runs decision tables only): "
                "write it as a decision table", decision))
            continue
        policy = (table.get("hitPolicy") or "UNIQUE").strip().upper()
        if policy in _HIT_POLICIES:
            problems.append(doc.problem(
                UNSUPPORTED + f"hit policy {policy} (SpiffWorkflow 3.2 returns the first matching rule instead): "
                f"{_HIT_POLICIES[policy]}", table, decision.get("id")))
        elif policy == "COLLECT" and table.get("aggregation"):
            aggregation = table.get("aggregation").strip().upper()
            problems.append(doc.problem(
                UNSUPPORTED + f"COLLECT with aggregation {aggregation} (SpiffWorkflow 3.2 ignores the aggregation "
                "and gives the list of outputs): use COLLECT and work the "
                f"{aggregation.lower()} out in a script, e.g. {_AGGREGATE.get(aggregation, 'sum')}(outputs)",
                table, decision.get("id")))
    return problems


_AGGREGATE = {"SUM": "sum", "MIN": "min", "MAX": "max", "COUNT": "len"}


DMN_RULES = [rule_dmn_supported, rule_dmn_expressions, rule_unique_rules_do_not_overlap]


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
