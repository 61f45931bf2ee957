"""A process run in memory with sample data, for analysts trying a draft: each user task with sample answers is
completed with them; whenever the run waits, the next of the ordered events is applied (a message sent with its
data, or a timer fired by moving the simulated clock to its due time), until the process ends or waits with no
event left. Nothing is stored; scripts run in the sandbox as in production."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.definitions import CompiledProcess
from engine.bpmn.execution import Execution
from engine.bpmn.forms import clean_submission
from engine.bpmn.waits import MESSAGE, TIMER
from engine.clock import Clock
from engine.errors import FormInvalid, GovflowError


@dataclass
class SimulationStep:
    """One element the simulated run passed (or waits in), or a simulated event (`event` "message" or "timer")."""

    element_id: str
    name: str
    type: str
    event: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict:
        return self.__dict__.copy()


@dataclass(frozen=True)
class SimulationEvent:
    """An ordered step of a simulation: send a message (by its name, with data) or fire a timer (by its element id;
    blank: the next one due)."""

    kind: str  # message | timer
    name: str = ""
    data: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any, number: int) -> "SimulationEvent":
        if not isinstance(raw, dict):
            raise GovflowError(f"step {number}: give an object with kind, name and data")
        kind, name, data = raw.get("kind"), str(raw.get("name") or "").strip(), raw.get("data") or {}
        if kind not in ("message", "timer"):
            raise GovflowError(f"step {number}: the kind is 'message' or 'timer', not {kind!r}")
        if kind == "message" and not name:
            raise GovflowError(f"step {number}: say which message to send")
        if not isinstance(data, dict):
            raise GovflowError(f"step {number}: the data is a JSON object")
        return cls(kind, name, dict(data))

    def describe(self) -> str:
        if self.kind == "message":
            return f"send the message '{self.name}'"
        return f"fire the timer '{self.name}'" if self.name else "fire the next timer"


class SimulationStopped(GovflowError):
    """A simulation step that cannot happen where the run is (shown as the run's error)."""


@dataclass
class Simulation:
    path: list[SimulationStep] = field(default_factory=list)
    waiting: list[SimulationStep] = field(default_factory=list)
    completed: bool = False
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    unused_events: list[str] = field(default_factory=list)  # steps not reached (the run ended or stopped first)
    ended_at: str | None = None  # the simulated clock at the end (timers move it on)

    def as_dict(self) -> dict:
        return {"path": [s.as_dict() for s in self.path], "waiting": [s.as_dict() for s in self.waiting],
                "completed": self.completed, "error": self.error, "data": self.data,
                "unused_events": self.unused_events, "ended_at": self.ended_at}


def simulate(compiled: CompiledProcess, functions: Mapping[str, Callable], clock: Clock, start_data: Mapping,
             answers: Mapping[str, Mapping], events: list[SimulationEvent], max_steps: int = 200,
             time_limit: float = 1.0) -> Simulation:
    """Run `compiled` from `start_data` on the simulated `clock` (which firing a timer moves on)."""
    result = Simulation()
    execution = None
    pending = list(events)
    seen: set = set()
    step_number = 0
    try:
        execution = Execution.new(compiled, functions, clock.now(),
                                  dict(start_data, started_by="simulation", started_at=clock.now().isoformat(),
                                       instance_id=0), time_limit, clock=clock)
        execution.fire_due()
        for _ in range(max_steps):
            _record_path(execution, seen, result.path)
            if execution.completed:
                break
            ready = execution.snapshot().ready
            task_id = next((tid for tid, element in ready.items() if element in answers), None)
            if task_id is not None:
                execution.complete(task_id, dict(answers.get(ready[task_id]) or {}))
                execution.fire_due()
                continue
            if not pending:  # waiting, with no answers and no event left: the path stops here
                break
            event = pending.pop(0)
            step_number += 1
            result.path.append(_apply_event(execution, clock, event, step_number))
        _record_path(execution, seen, result.path)
    except SimulationStopped as err:
        _record_path(execution, seen, result.path)
        result.error = str(err)
    except (SpiffWorkflowException, GovflowError, Exception) as err:  # the draft's own failure, shown
        if execution is not None:
            _record_path(execution, seen, result.path)
        result.error = str(err).split("\n")[0]
    result.unused_events = [e.describe() for e in pending]
    result.ended_at = clock.now().isoformat()
    if execution is None:
        return result
    result.completed = execution.completed
    result.waiting = _waiting(execution)
    try:
        result.data = json.loads(json.dumps(execution.record(), default=str))
    except Exception:
        result.data = {}
    return result


def _apply_event(execution: Execution, clock: Clock, event: SimulationEvent, number: int) -> SimulationStep:
    """Send one simulated message or fire one timer; SimulationStopped says why it cannot happen here."""
    compiled = execution.compiled
    if event.kind == "message":
        waiting = [w for w in execution.waits() if w.kind == MESSAGE]
        catching = [w for w in waiting if w.event == event.name]
        if not catching:
            names = sorted({w.event for w in waiting})
            raise SimulationStopped(f"step {number}: nothing waits for the message '{event.name}' here"
                                    + (f" (it waits for: {', '.join(names)})" if names else ""))
        info = compiled.elements.get(catching[0].element_id)
        try:
            data = clean_submission(compiled.form_schema(info.form) if info and info.form else None, event.data,
                                    clock.today())
        except FormInvalid as err:
            raise SimulationStopped(f"step {number}: the message '{event.name}' does not fit its form: " +
                                    "; ".join(f"{k or '(form)'}: {v}" for k, v in err.errors.items()))
        # each step is its own sender, as if several parties sent the messages
        execution.deliver(MESSAGE, event.name, dict(data, sent_by=f"simulation step {number}",
                                                    sent_at=clock.now().isoformat()))
        return SimulationStep(catching[0].element_id, f"Message '{event.name}' sent", "message", event="message",
                              detail=json.dumps(data, default=str, sort_keys=True))
    timers = sorted((w for w in execution.waits() if w.kind == TIMER), key=lambda t: t.due_at)
    chosen = [t for t in timers if not event.name or t.element_id == event.name][:1]
    if not chosen:
        raise SimulationStopped(f"step {number}: no timer '{event.name}' is waiting here" + (
            f" (waiting: {', '.join(t.element_id for t in timers)})" if timers else " (no timer is waiting)")
            if event.name else f"step {number}: no timer is waiting here")
    timer = chosen[0]
    clock.set(max(clock.now(), timer.due_at))
    execution.fire_due()
    return SimulationStep(timer.element_id, f"Timer '{timer.name or timer.element_id}' fired", "timer",
                          event="timer", detail=f"the clock moved to {clock.now().isoformat()}")


def _record_path(execution: Execution, seen: set, path: list[SimulationStep]) -> None:
    """Append the tasks completed since the last call, in the order they finished."""
    done = [t for t in execution.workflow.get_tasks(state=TaskState.COMPLETED) if t.id not in seen]
    for task in sorted(done, key=lambda t: t.last_state_change):
        seen.add(task.id)
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None):
            path.append(SimulationStep(spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, type(spec).__name__))


def _waiting(execution: Execution) -> list[SimulationStep]:
    """The elements the run waits in at its end, with what each waits for."""
    timers = {w.task_id: w for w in execution.waits() if w.kind == TIMER}
    found = []
    for task in execution.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
        spec = task.task_spec
        if getattr(spec, "bpmn_id", None) and not type(spec).__name__.endswith(("SubWorkflowTask", "SubprocessTask")):
            definition = getattr(spec, "event_definition", None)
            detail = None
            if str(task.id) in timers:
                detail = f"timer due {timers[str(task.id)].due_at.isoformat()}"
            elif isinstance(definition, MessageEventDefinition):
                detail = f"message {definition.name}"
            found.append(SimulationStep(spec.bpmn_id, spec.bpmn_name or spec.bpmn_id, type(spec).__name__,
                                        detail=detail))
    return found
