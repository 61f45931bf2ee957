"""The functions every diagram may call that need no database: time on the command's clock, working days in
England and Wales, dates as people write them, and the version's settings. The services add those that read or
write records (references, meetings, logs, notices, follow-up starts)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Callable, Mapping
from zoneinfo import ZoneInfo

from engine.calendar import ENGLAND_AND_WALES
from engine.clock import Clock

LONDON = ZoneInfo("Europe/London")


def clock_functions(clock: Clock, settings: Mapping[str, Any]) -> dict[str, Callable]:
    """now(), today(), setting(name), parse_date(v), add_working_days(d, n), working_days_between(a, b),
    end_of_working_day(d), deadline_ahead(d), is_working_day(d)."""

    def now() -> datetime:
        return clock.now()

    def today() -> date:
        return clock.now().astimezone(LONDON).date()

    def setting(name: str, default: Any = None) -> Any:
        if name in settings:
            return settings[name]
        if default is not None:
            return default
        raise KeyError(f"setting '{name}' is not defined in settings.yaml")

    def add_working_days(start: Any, days: int) -> Any:
        return ENGLAND_AND_WALES.add_working_days(moment(start), int(days))

    def working_days_between(start: Any, end: Any) -> int:
        return ENGLAND_AND_WALES.working_days_between(moment(start), moment(end))

    def end_of_working_day(day: Any) -> datetime:
        return ENGLAND_AND_WALES.end_of_working_day(parse_date(day))

    def deadline_ahead(day: Any) -> datetime:
        """The end of working day `day`, or, once that has passed, the end of the first working day still ahead:
        a task due by it is never created already overdue (the day itself stays the rule's deadline)."""
        current = clock.now()
        moment = ENGLAND_AND_WALES.end_of_working_day(parse_date(day))
        if moment > current:
            return moment
        candidate = today()
        if not ENGLAND_AND_WALES.is_working_day(candidate) or ENGLAND_AND_WALES.end_of_working_day(candidate) <= current:
            candidate = ENGLAND_AND_WALES.add_working_days(candidate, 1)
        return ENGLAND_AND_WALES.end_of_working_day(candidate)

    return {
        "now": now,
        "today": today,
        "setting": setting,
        "parse_date": parse_date,
        "add_working_days": add_working_days,
        "working_days_between": working_days_between,
        "end_of_working_day": end_of_working_day,
        "deadline_ahead": deadline_ahead,
        "is_working_day": lambda day: ENGLAND_AND_WALES.is_working_day(parse_date(day)),
    }


def parse_date(value: Any) -> date:
    """A date from a form's 'YYYY-MM-DD' text, ISO date-time text (its London date) or a date/datetime."""
    if isinstance(value, str) and len(value) > 10:
        value = moment(value)
    if isinstance(value, datetime):
        return value.astimezone(LONDON).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def moment(value: Any) -> Any:
    """Accept the ISO text that task data holds as well as dates and datetimes."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if len(value) <= 10:
            return parsed.date()
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=LONDON)
    return value
