"""Differential conformance driver: run one small model in bare SpiffWorkflow in memory (the oracle) and through
govflow with a fresh engine and database session for every command, step by step, and compare.

Both runs get the same task ids (Spiff's uuid4 is replaced by a counter while a case runs), so "the first ready
task of element X" is the same task in both; the oracle's clock is its own (a frozen moment the timers read).
What is compared after every step: the ready user tasks, the events waited for and the status; at the end also the
path (every element completed, in order) and the final data.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import SpiffWorkflow.task
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition as AnySignal
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as AnyMessage
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition, SignalEventDefinition
from SpiffWorkflow.util.task import TaskState

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
FORMS = HERE / "forms"
ACTOR = "alice"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


# --- what a case is ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Complete:
    """Complete the `nth` (in creation order) ready user task of `element` with `data`."""
    element: str
    data: dict = field(default_factory=dict)
    nth: int = 0


@dataclass(frozen=True)
class Send:
    """Deliver message `name` with `data` as its payload."""
    name: str
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Signal:
    """Broadcast signal `name` from outside."""
    name: str


@dataclass(frozen=True)
class Advance:
    """Move the clock on and fire whatever timers are due."""
    hours: float = 0
    days: float = 0


@dataclass(frozen=True)
class Case:
    """One model (a .bpmn in models/, with any .dmn and called processes in `also`) and the steps that drive it."""
    name: str
    model: str
    process_id: str
    steps: tuple = ()
    start: dict = field(default_factory=dict)
    also: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)
    ends_waiting: bool = False  # the steps stop while the instance still waits (the end state is still compared)

    @property
    def files(self) -> list[Path]:
        return [MODELS / self.model, *(MODELS / name for name in self.also)]

    def __str__(self) -> str:
        return self.name


@dataclass
class Observation:
    """What a run looks like from outside after a step."""
    status: str  # running | completed
    ready: list[tuple[str, str]]  # (task id, element id) of ready user tasks, by id
    waiting: list[str]  # "kind:name" of the events waited for, sorted

    def key(self):
        return self.status, self.ready, self.waiting


# --- deterministic task ids -------------------------------------------------------------------------------------


class CountingIds:
    """Replace Spiff's uuid4 with a counter for the duration of a `with` block; `fork()` restarts the count."""

    def __init__(self):
        self.counter = itertools.count(1)

    def __call__(self):
        return UUID(int=next(self.counter))


class task_ids:
    def __init__(self, ids: CountingIds):
        self.ids = ids

    def __enter__(self):
        self.saved = SpiffWorkflow.task.uuid4
        SpiffWorkflow.task.uuid4 = self.ids
        return self.ids

    def __exit__(self, *exc):
        SpiffWorkflow.task.uuid4 = self.saved


# --- the oracle: bare SpiffWorkflow, in memory ------------------------------------------------------------------


class _Now:
    moment = T0


class _OracleDate(TimeDateEventDefinition):
    def has_fired(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = _iso(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            my_task._set_internal_data(event_value=value)
        if TimerEventDefinition.get_datetime(value) <= _Now.moment:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class _OracleDuration(DurationTimerEventDefinition):
    def has_fired(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            parsed = TimerEventDefinition.parse_iso_duration(
                my_task.workflow.script_engine.evaluate(my_task, self.expression))
            value = (_Now.moment + TimerEventDefinition.get_timedelta_from_start(parsed, _Now.moment)).isoformat()
            my_task._set_internal_data(event_value=value)
        if TimerEventDefinition.get_datetime(value) <= _Now.moment:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


def _iso(value) -> str:
    return value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else str(value)


def _oracle_timer(definition):
    if isinstance(definition, MultipleEventDefinition):
        definition.event_definitions = [_oracle_timer(d) for d in definition.event_definitions]
        return definition
    for plain, frozen in ((TimeDateEventDefinition, _OracleDate), (DurationTimerEventDefinition, _OracleDuration)):
        if type(definition) is plain:
            return frozen(definition.name, definition.expression, description=definition.description)
    return definition


class Oracle:
    """The case run by SpiffWorkflow alone: parsed from the files, run in memory, never serialized."""

    def __init__(self, case: Case):
        parser = SpiffBpmnParser(validator=BpmnValidator())
        for path in case.files:
            if path.suffix == ".dmn":
                parser.add_dmn_file(str(path))
            else:
                parser.add_bpmn_file(str(path))
        spec = parser.get_spec(case.process_id)
        subprocess_specs = parser.get_subprocess_specs(case.process_id)
        for each in [spec, *subprocess_specs.values()]:
            for task_spec in each.task_specs.values():
                if getattr(task_spec, "event_definition", None) is not None:
                    task_spec.event_definition = _oracle_timer(task_spec.event_definition)
        self.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=PythonScriptEngine())
        self.finished: list[str] = []

    def start(self, data: dict) -> None:
        self.workflow.task_tree.data.update(data)
        self._steps(self.workflow.do_engine_steps)

    def complete(self, task_id: UUID, data: dict) -> None:
        task = self.workflow.get_task_from_id(task_id)
        self._steps(lambda: (task.set_data(**data), task.run(), self.workflow.do_engine_steps()))

    def send(self, name: str, payload: dict) -> None:
        self._steps(lambda: (self.workflow.send_event(BpmnEvent(MessageEventDefinition(name), payload=payload)),
                             self.workflow.do_engine_steps()))

    def signal(self, name: str) -> None:
        self._steps(lambda: (self.workflow.send_event(BpmnEvent(SignalEventDefinition(name))),
                             self.workflow.do_engine_steps()))

    def advance(self, moment: datetime) -> None:
        _Now.moment = moment
        self._steps(lambda: (self.workflow.refresh_timers(), self.workflow.do_engine_steps()))

    def _steps(self, run) -> None:
        before = {t.id for t in _all_tasks(self.workflow) if t.state == TaskState.COMPLETED}
        run()
        done = [t for t in _all_tasks(self.workflow) if t.state == TaskState.COMPLETED and t.id not in before
                and t.task_spec.bpmn_id]
        self.finished.extend(t.task_spec.bpmn_id for t in sorted(done, key=lambda t: t.last_state_change))

    def observe(self) -> Observation:
        wf = self.workflow
        ready = sorted((str(t.id), t.task_spec.bpmn_id) for t in wf.get_tasks(state=TaskState.READY, manual=True))
        return Observation("completed" if wf.completed else "running", ready, oracle_waiting(wf))

    def data(self) -> dict:
        return plain(self.workflow.data)


def _all_tasks(workflow):
    yield from workflow.tasks.values()
    for sp in workflow.subprocesses.values():
        yield from sp.tasks.values()


def plain(data: Any) -> Any:
    """Data as JSON would store it (dates as ISO text), without the keys a run adds of its own."""
    return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else str(v)))


def oracle_waiting(workflow) -> list[str]:
    """The events from outside (messages, signals, timers) the in-memory workflow accepts: those its waiting catches
    wait for, and while it runs, those that start a top-level event subprocess (Spiff's `update_collaboration`)."""
    found = []
    if not workflow.completed:
        for name in workflow.spec.start.trigger_specs:
            for start_event in workflow.subprocess_specs[name].bpmn_start_events:
                each = start_event.event_definition
                if isinstance(each, (AnyMessage, AnySignal)):
                    found.append(f"{'message' if isinstance(each, AnyMessage) else 'signal'}:{each.name}")
    for task in workflow.event_manager.tasks.values():
        definition = task.task_spec.event_definition
        if task.state != TaskState.WAITING:
            continue
        members = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        for each in members:
            if isinstance(each, TimerEventDefinition):
                value = task._get_internal_data("event_value")
                if value is not None:
                    found.append("timer:" + TimerEventDefinition.get_datetime(value).isoformat())
            elif isinstance(each, (AnyMessage, AnySignal)):
                found.append(f"{'message' if isinstance(each, AnyMessage) else 'signal'}:{each.name}")
    return sorted(set(found))


# --- govflow, a fresh engine for every command ------------------------------------------------------------------


class ThroughGovflow:
    """The case run by govflow: deployed once, then each command on a new `Govflow` (new database connections, new
    caches), as separate CLI invocations or web workers would run it."""

    def __init__(self, case: Case, database_url: str, instance_dir: Path):
        from engine.config import PROJECT_ROOT, Config
        self.config = Config(database_url=database_url, instance_dir=instance_dir,
                             processes_dir=PROJECT_ROOT / "processes", forms_dir=PROJECT_ROOT / "forms")
        self.case = case
        self.now = T0
        self.instance_id: int | None = None

    def engine(self):
        from engine.clock import Clock
        from engine.platform import Govflow
        return Govflow(self.config, Clock(self.now))

    def command(self, act):
        gov = self.engine()
        try:
            return act(gov)
        finally:
            gov.db.dispose()

    def deploy(self, models_dir: Path) -> None:
        def act(gov):
            from engine.services.identity import NewUser
            gov.init()
            gov.add_user(NewUser(ACTOR, "Alice Archer", "alice@example.org", "correct horse battery staple",
                                 ("participant",), "Northern Power Supply", "SUPPLIER_LARGE"))
            gov.deploy([models_dir], forms_dir=FORMS, note=self.case.name)
        self.command(act)

    def start(self, data: dict) -> None:
        self.instance_id = self.command(lambda gov: gov.start(self.case.process_id, ACTOR, data)).instance_id

    def complete(self, task_id: str, data: dict) -> None:
        self.command(lambda gov: gov.complete(task_id, ACTOR, data))

    def send(self, name: str, data: dict) -> None:
        self.command(lambda gov: gov.send_message(self.instance_id, name, ACTOR, data))

    def signal(self, name: str) -> None:
        self.command(lambda gov: gov.send_signal(self.instance_id, name, ACTOR))

    def advance(self, moment: datetime) -> None:
        self.now = moment
        self.command(lambda gov: gov.fire_due_timers(moment))

    def record(self) -> dict:
        return self.command(lambda gov: gov.show(self.instance_id))

    def observe(self) -> Observation:
        record = self.record()
        ready = sorted((t["id"], t["element_id"]) for t in record["tasks"] if t["status"] == "ready")
        waiting = [f"timer:{datetime.fromisoformat(t['due_at']).astimezone(timezone.utc).isoformat()}"
                   for t in record["timers"] if t["status"] == "waiting"]
        waiting += [f"{m.get('kind', 'message')}:{m['message']}" for m in record["messages"]]
        return Observation(record["status"], ready, sorted(set(waiting)))

    def data(self) -> dict:
        """The workflow's own data as stored (the record shown to people flattens data objects into it)."""
        from engine.store.models import Instance

        def read(gov):
            with gov.db.read() as session:
                return json.loads(session.get(Instance, self.instance_id).workflow_state)["data"]
        return plain(self.command(read))

    def path(self) -> list[str]:
        return [p["element_id"] for p in self.command(lambda gov: gov.path(self.instance_id))
                if p["outcome"] == "completed"]

    def incidents(self) -> list[dict]:
        return [i for i in self.command(lambda gov: gov.incidents()) if i.get("instance_id") == self.instance_id]


# --- running a case both ways -----------------------------------------------------------------------------------


class Diverged(AssertionError):
    pass


def run_case(case: Case, database_url: str, workdir: Path) -> tuple[Oracle, ThroughGovflow]:
    """Drive the case through both, comparing after each step; returns both runs for the final comparisons."""
    models_dir = workdir / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    for path in case.files:
        (models_dir / path.name).write_bytes(path.read_bytes())
    if case.settings:
        import yaml
        (models_dir / "settings.yaml").write_text(yaml.safe_dump(case.settings))
    real = ThroughGovflow(case, database_url, workdir / "instance")
    real.deploy(models_dir)
    _Now.moment = T0
    oracle_ids, real_ids = CountingIds(), CountingIds()
    with task_ids(oracle_ids):
        oracle = Oracle(case)
    with task_ids(real_ids):
        real.start(case.start)
    extra = {"started_by": ACTOR, "started_at": T0.isoformat(), "instance_id": real.instance_id}
    with task_ids(oracle_ids):
        oracle.start({**case.start, **extra})
    _compare(case, "start", oracle, real)
    for number, step in enumerate(case.steps, 1):
        label = f"step {number} ({step})"
        if isinstance(step, Complete):
            ready = [task_id for task_id, element in oracle.observe().ready if element == step.element]
            if len(ready) <= step.nth:
                raise Diverged(f"{case}: {label}: the oracle has no ready '{step.element}' #{step.nth}: "
                               f"{oracle.observe()}")
            task_id = ready[step.nth]
            with task_ids(real_ids):
                real.complete(task_id, step.data)
            with task_ids(oracle_ids):
                oracle.complete(UUID(task_id), step.data)
        elif isinstance(step, Send):
            sent_at = real.now.isoformat()
            with task_ids(real_ids):
                real.send(step.name, step.data)
            with task_ids(oracle_ids):
                oracle.send(step.name, {**step.data, "sent_by": ACTOR, "sent_at": sent_at})
        elif isinstance(step, Signal):
            with task_ids(real_ids):
                real.signal(step.name)
            with task_ids(oracle_ids):
                oracle.signal(step.name)
        elif isinstance(step, Advance):
            moment = real.now + timedelta(hours=step.hours, days=step.days)
            with task_ids(real_ids):
                real.advance(moment)
            with task_ids(oracle_ids):
                oracle.advance(moment)
        else:
            raise TypeError(step)
        _compare(case, label, oracle, real)
    return oracle, real


def _compare(case: Case, label: str, oracle: Oracle, real: ThroughGovflow) -> None:
    expected, got = oracle.observe(), real.observe()
    if expected.key() != got.key():
        raise Diverged(f"{case}: after {label}:\n  in memory: {expected}\n  govflow:   {got}")


def run_oracle_only(case: Case) -> Oracle:
    """The case in memory alone, to check a model and its steps before comparing (no database)."""
    _Now.moment = T0
    with task_ids(CountingIds()):
        oracle = Oracle(case)
        oracle.start({**case.start, "started_by": ACTOR, "started_at": T0.isoformat(), "instance_id": 1})
        now = T0
        for step in case.steps:
            if isinstance(step, Complete):
                ready = [t for t, e in oracle.observe().ready if e == step.element]
                oracle.complete(UUID(ready[step.nth]), step.data)
            elif isinstance(step, Send):
                oracle.send(step.name, {**step.data, "sent_by": ACTOR, "sent_at": now.isoformat()})
            elif isinstance(step, Signal):
                oracle.signal(step.name)
            elif isinstance(step, Advance):
                now = now + timedelta(hours=step.hours, days=step.days)
                oracle.advance(now)
    return oracle
