"""BPMN timers on govflow's injected clock."""
from __future__ import annotations

from datetime import datetime, timezone

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition


def _now(my_task) -> datetime:
    clock = getattr(my_task.workflow.script_engine, "clock", None)
    return clock.now() if clock is not None else datetime.now(timezone.utc)


def _as_iso(value) -> str:
    """Timer expressions may give an aware datetime, a date or an ISO string; Spiff stores an ISO string."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"timer gave a naive datetime {value.isoformat()}: give it a time zone")
        return value.astimezone(timezone.utc).isoformat()
    if hasattr(value, "isoformat"):
        raise ValueError(f"timer gave a date {value.isoformat()} without a time: use end_of_working_day(d)")
    return str(value)


class ClockedTimeDate(TimeDateEventDefinition):
    """A timeDate timer that compares with govflow's clock instead of the wall clock."""

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        if event_value is None:
            event_value = _as_iso(my_task.workflow.script_engine.evaluate(my_task, self.expression))
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.parse_time_or_duration(event_value) <= _now(my_task):
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class ClockedDuration(DurationTimerEventDefinition):
    """A timeDuration timer measured from govflow's clock."""

    def has_fired(self, my_task):
        event_value = my_task._get_internal_data("event_value")
        now = _now(my_task)
        if event_value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            event_value = (now + TimerEventDefinition.get_timedelta_from_start(parsed, now)).isoformat()
            my_task._set_internal_data(event_value=event_value)
        if TimerEventDefinition.get_datetime(event_value) <= now:
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


CLOCKED_TIMERS = {TimeDateEventDefinition: ClockedTimeDate, DurationTimerEventDefinition: ClockedDuration}


def attach_injected_clock(process_spec) -> None:
    """Swap every timer of a parsed process spec for its clocked twin, also those an event-based gateway or a
    multiple event holds (cycle timers are refused by the lint)."""
    for task_spec in process_spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if definition is not None:
            task_spec.event_definition = _clocked(definition)


def _clocked(definition):
    if isinstance(definition, MultipleEventDefinition):
        definition.event_definitions[:] = [_clocked(each) for each in definition.event_definitions]
        return definition
    clocked = CLOCKED_TIMERS.get(type(definition))
    if clocked is None:
        return definition
    return clocked(definition.name, definition.expression, description=definition.description)


def is_timer(definition) -> bool:
    return isinstance(definition, TimerEventDefinition) and not isinstance(definition, CycleTimerEventDefinition)
