"""The functions every diagram may call that need no database: time on the command's clock, working days in
England and Wales, dates as people write them, and the version's settings. The services add those that read or
write records (references, meetings, logs, notices, follow-up starts).

Bounded: ``setting(name)`` gives each caller its own copy (a script changing it changes nothing another sees);
``add_working_days`` moves at most MAX_WORKING_DAYS working days, and ``working_days_between`` counts over at most
MAX_SPAN_YEARS years (beyond those the bank holidays of every year passed would be worked out)."""
from __future__ import annotations

import copy
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping, Sequence
from zoneinfo import ZoneInfo

from engine.calendar import ENGLAND_AND_WALES
from engine.clock import Clock

LONDON = ZoneInfo("Europe/London")
#: working days add_working_days may move, either way (about twenty years)
MAX_WORKING_DAYS = 5_000
#: years working_days_between may count over
MAX_SPAN_YEARS = 20


def clock_functions(clock: Clock, settings: Mapping[str, Any]) -> dict[str, Callable]:
    """now(), today(), setting(name), parse_date(v), add_working_days(d, n), working_days_between(a, b),
    end_of_working_day(d), deadline_ahead(d), is_working_day(d), meets_threshold(amount, threshold, comparison)."""

    def now() -> datetime:
        return clock.now()

    def today() -> date:
        return clock.now().astimezone(LONDON).date()

    def setting(name: str, default: Any = None) -> Any:
        if name in settings:
            return copy.deepcopy(settings[name])  # the version's settings are shared by every instance
        if default is not None:
            return default
        raise KeyError(f"setting '{name}' is not defined in settings.yaml")

    def add_working_days(start: Any, days: int) -> Any:
        days = _bounded_days(int(days))
        return ENGLAND_AND_WALES.add_working_days(moment(start), days)

    def working_days_between(start: Any, end: Any) -> int:
        first, last = _bounded_span(moment(start), moment(end))
        return ENGLAND_AND_WALES.working_days_between(first, last)

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
        "meets_threshold": meets_threshold,
    }


COMPARISONS = {">=": lambda amount, threshold: amount >= threshold, ">": lambda amount, threshold: amount > threshold}


def meets_threshold(amount: Any, threshold: Any, comparison: Any) -> bool:
    """Whether an amount meets a threshold, compared as a setting says: '>=' (the threshold itself meets it) or '>'
    (only more than it). An empty amount is 0; text holding a number is read as one."""
    if comparison not in COMPARISONS:
        raise ValueError(f"a threshold is compared with '>=' or '>', not {comparison!r} (settings.yaml)")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ValueError(f"a threshold is an amount, not {threshold!r} (settings.yaml)")
    return COMPARISONS[comparison](float(amount or 0), float(threshold))


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


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _bounded_days(days: int) -> int:
    if abs(days) > MAX_WORKING_DAYS:
        raise ValueError(f"add_working_days(start, n) needs n from -{MAX_WORKING_DAYS:,} to {MAX_WORKING_DAYS:,}, "
                         f"not {days:,}")
    return days


def _bounded_span(first: Any, last: Any) -> tuple[Any, Any]:
    if abs(_as_date(last) - _as_date(first)) > timedelta(days=round(MAX_SPAN_YEARS * 365.25)):
        raise ValueError(f"working_days_between counts over at most {MAX_SPAN_YEARS} years")
    return first, last


def argument_problem(name: str, args: Sequence[Any]) -> str | None:
    """Why a call of a provided function with these arguments would be refused when it runs, or None (the lint
    asks this of calls whose arguments are written out)."""
    try:
        if name == "add_working_days" and len(args) >= 2 and isinstance(args[1], int):
            _bounded_days(args[1])
        elif name == "working_days_between" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
            _bounded_span(moment(args[0]), moment(args[1]))
    except ValueError as err:
        return str(err)
    return None
