"""The path an instance took through its diagram — completed, active and overdue elements and the sequence flows
taken — read from its element passages (every element it finished, engine/bpmn/passages.py), its audit events, its task
and timer rows and the finished tasks still held in its state.

History recorded before element passages existed lacks scripts, gateways and plain events: those are inferred (one
counts as passed when the flow reaches it from a passed element and leaves it towards a passed element), and a
sub-process counts as passed (and its start event with it) when anything inside it did.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.bpmn.execution import Execution
from engine.errors import NotFound
from engine.services.metrics import PASSING_ACTIONS
from engine.store.models import AuditEvent, ElementPassage, HumanTask, Instance, ProcessVersion, Timer
from engine.services.repository import Repository
from engine.bpmn.safe_xml import parse_xml

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
NODE_TAGS = {"startEvent", "endEvent", "userTask", "scriptTask", "serviceTask", "businessRuleTask", "receiveTask",
             "sendTask", "manualTask", "task", "exclusiveGateway", "parallelGateway", "inclusiveGateway",
             "eventBasedGateway", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "subProcess",
             "callActivity"}


@dataclass
class DiagramGraph:
    """The flow nodes and sequence flows of a BPMN file, as ids."""

    kinds: dict[str, str] = field(default_factory=dict)          # node id -> BPMN tag
    parent: dict[str, str | None] = field(default_factory=dict)  # node id -> enclosing sub-process id
    flows: dict[str, tuple[str, str]] = field(default_factory=dict)  # flow id -> (source, target)
    attached: dict[str, str] = field(default_factory=dict)       # boundary event -> host activity


def read_graph(bpmn: bytes, filename: str = "process.bpmn") -> DiagramGraph:
    graph = DiagramGraph()
    root = parse_xml(bpmn, filename).getroot()

    def walk(element, container: str | None):
        for child in element:
            if not isinstance(child.tag, str) or not child.tag.startswith(BPMN):
                continue
            tag = child.tag[len(BPMN):]
            ident = child.get("id")
            if tag == "sequenceFlow":
                graph.flows[ident] = (child.get("sourceRef"), child.get("targetRef"))
            elif tag in NODE_TAGS:
                graph.kinds[ident], graph.parent[ident] = tag, container
                if tag == "boundaryEvent":
                    graph.attached[ident] = child.get("attachedToRef")
                if tag == "subProcess":
                    walk(child, ident)
            elif tag == "process":
                walk(child, None)

    walk(root, None)
    return graph


@dataclass(frozen=True)
class Trail:
    completed: list[str]
    active: list[str]
    overdue: list[str]
    taken_flows: list[str]
    failed: list[str]

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def bpmn_of(session: Session, repository: Repository, version_id: int) -> bytes:
    """The BPMN file of a process version, as deployed."""
    row = session.get(ProcessVersion, version_id)
    files = repository.files_of(session, version_id)
    return files[row.bpmn_path]


def instance_trail(session: Session, repository: Repository, instance_id: int, now: datetime) -> Trail:
    instance = session.get(Instance, instance_id)
    graph = read_graph(bpmn_of(session, repository, instance.process_version_id))
    passed: set[str] = set()
    for element_id, in session.execute(select(AuditEvent.element_id).distinct().where(
            AuditEvent.instance_id == instance_id, AuditEvent.action.in_(PASSING_ACTIONS),
            AuditEvent.element_id.is_not(None))):
        passed.add(element_id)
    passed.update(session.scalars(select(ElementPassage.element_id).distinct().where(
        ElementPassage.instance_id == instance_id, ElementPassage.outcome == "completed")))
    tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()
    passed.update(t.element_id for t in tasks if t.status == "completed")
    passed.update(_finished_in_state(session, repository, instance))
    passed.update(e for e, kind in graph.kinds.items() if kind == "startEvent" and graph.parent.get(e) is None)
    timers = session.scalars(select(Timer).where(Timer.instance_id == instance_id)).all()
    open_task_statuses = ("ready", "suspended")
    active = {t.element_id for t in tasks if t.status in open_task_statuses}
    active.update(t.element_id for t in timers if t.status in ("waiting", "suspended", "failed"))
    overdue = {t.element_id for t in tasks if t.status in open_task_statuses and t.due_at and t.due_at < now}
    failed = {t.element_id for t in timers if t.status == "failed"}
    passed = _infer(graph, passed | active) - (active - passed)
    passed -= {graph.parent[a] for a in active if graph.parent.get(a)}  # a sub-process still at work
    reached = passed | active
    taken = [fid for fid, (src, dst) in graph.flows.items() if src in reached and dst in reached]
    known = set(graph.kinds)
    return Trail(sorted(passed & known), sorted(active & known), sorted(overdue & known), sorted(taken),
                 sorted(failed & known))


def _finished_in_state(session: Session, repository: Repository, instance: Instance) -> set[str]:
    """The bpmn ids of finished tasks still held in the instance's (pruned) state."""
    try:
        compiled = repository.compiled(session, instance.process_version_id)
        execution = Execution.restore(instance.workflow_state, compiled, None, instance.updated_at)
    except Exception:  # a state this version cannot read is shown from the audit trail alone
        return set()
    return execution.completed_elements()


def _infer(graph: DiagramGraph, seen: set[str]) -> set[str]:
    reached = set(seen)
    incoming: dict[str, set[str]] = {}
    outgoing: dict[str, set[str]] = {}
    for src, dst in graph.flows.values():
        outgoing.setdefault(src, set()).add(dst)
        incoming.setdefault(dst, set()).add(src)
    for boundary, host in graph.attached.items():
        incoming.setdefault(boundary, set()).add(host)
    changed = True
    while changed:
        changed = False
        for node, parent in graph.parent.items():
            if parent and node in reached and parent not in reached:
                reached.add(parent)
                changed = True
        for node, kind in graph.kinds.items():
            if node in reached:
                continue
            if kind == "startEvent" and graph.parent.get(node) in reached:
                reached.add(node)
                changed = True
            elif incoming.get(node, set()) & reached and outgoing.get(node, set()) & reached:
                reached.add(node)
                changed = True
    return reached


class Trails:
    """Instances' paths and the diagrams they are drawn on, over one database, repository and clock."""

    def __init__(self, db, repository: Repository, clock):
        self.db = db
        self.repository = repository
        self.clock = clock

    def trail(self, instance_id: int) -> Trail:
        """The path an instance took, as of now (`instance_trail`)."""
        with self.db.read() as session:
            if session.get(Instance, instance_id) is None:
                raise NotFound(f"There is no instance {instance_id}")
            return instance_trail(session, self.repository, instance_id, self.clock.now())

    def bpmn(self, version_id: int) -> bytes:
        """The BPMN file of a process version, as deployed."""
        with self.db.read() as session:
            if session.get(ProcessVersion, version_id) is None:
                raise NotFound(f"There is no process version {version_id}")
            return bpmn_of(session, self.repository, version_id)
