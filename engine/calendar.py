"""Working days and deadlines for England and Wales (weekends and bank holidays are not working days)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo

import holidays

__all__ = ["WorkingDayCalendar", "ENGLAND_AND_WALES"]

DayOrMoment = TypeVar("DayOrMoment", date, datetime)

_SATURDAY = 5


class WorkingDayCalendar:
    """Monday to Friday, minus the bank holidays of England and Wales (observed days included).

    Dates are calendar dates in the calendar's time zone; aware datetimes are first converted to that zone,
    naive datetimes are refused. Holidays are looked up once per year and cached (the lookup is on hot paths).
    """

    def __init__(self, extra_holidays: Iterable[date] = (), tz_name: str = "Europe/London") -> None:
        self.tz = ZoneInfo(tz_name)
        self._extra = frozenset(_as_plain_date(d) for d in extra_holidays)
        self._holidays_by_year: dict[int, frozenset[date]] = {}

    # ---- single days --------------------------------------------------------------------------------------

    def is_working_day(self, d: date | datetime) -> bool:
        """True if ``d`` (an aware datetime is read in local time) is a weekday and not a bank holiday."""
        day = self._local_date(d)
        return day.weekday() < _SATURDAY and day not in self._holidays(day.year)

    def next_working_day(self, d: date | datetime) -> date:
        """The first working day strictly after ``d``."""
        day = self._local_date(d) + timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def end_of_working_day(self, d: date | datetime, hour: int = 17) -> datetime:
        """``hour``:00 local time on the calendar date ``d``, as an aware UTC datetime (for deadlines)."""
        if not 0 <= hour <= 23:
            raise ValueError(f"hour must be between 0 and 23, not {hour}")
        local = datetime.combine(self._local_date(d), time(hour), tzinfo=self.tz)
        return local.astimezone(timezone.utc)

    # ---- arithmetic ---------------------------------------------------------------------------------------

    def add_working_days(self, start: DayOrMoment, n: int) -> DayOrMoment:
        """The ``n``-th working day after ``start`` ("within n working days of D": D is day 0).

        ``n`` = 0 returns ``start`` itself (in UTC for a datetime), even on a non-working day; a negative ``n``
        counts backwards. A date gives a date. An aware datetime is read in local time, its local time of day
        is kept on the result date, and the result is an aware UTC datetime. Naive datetimes raise ValueError.
        """
        if isinstance(start, datetime):
            local = self._to_local(start)
            day = self._step(local.date(), n)
            moment = datetime.combine(day, local.time(), tzinfo=self.tz)
            return moment.astimezone(timezone.utc)
        return self._step(start, n)

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days after ``a`` up to and including ``b``; negative (same count, reversed) if ``b`` < ``a``."""
        first, last = self._local_date(a), self._local_date(b)
        if last < first:
            return -self.working_days_between(last, first)
        start = first + timedelta(days=1)  # count over [start, last]
        span = (last - start).days + 1
        weeks, rest = divmod(span, 7)
        weekdays = weeks * 5 + sum(
            1 for i in range(rest) if (start + timedelta(days=weeks * 7 + i)).weekday() < _SATURDAY
        )
        holidays_in_span = sum(
            1
            for year in range(start.year, last.year + 1)
            for h in self._holidays(year)
            if start <= h <= last
        )
        return weekdays - holidays_in_span

    # ---- internals ----------------------------------------------------------------------------------------

    def _step(self, day: date, n: int) -> date:
        """Move ``n`` working days from ``day`` (day 0), forwards or backwards."""
        one = timedelta(days=1 if n > 0 else -1)
        remaining = abs(n)
        while remaining:
            day += one
            if self.is_working_day(day):
                remaining -= 1
        return day

    def _holidays(self, year: int) -> frozenset[date]:
        """The bank holidays (including observed days and extras) of ``year`` that fall on a weekday."""
        cached = self._holidays_by_year.get(year)
        if cached is None:
            # Build from the year before too, in case a substitute day is pushed into the next year.
            official = holidays.country_holidays("GB", subdiv="ENG", years=(year - 1, year))
            cached = frozenset(
                d for d in (*official.keys(), *self._extra) if d.year == year and d.weekday() < _SATURDAY
            )
            self._holidays_by_year[year] = cached  # a racing thread computes the same set: harmless
        return cached

    def _to_local(self, moment: datetime) -> datetime:
        """An aware datetime in the calendar's zone; naive datetimes are refused."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"naive datetime {moment.isoformat()} refused: govflow datetimes must be timezone-aware")
        return moment.astimezone(self.tz)

    def _local_date(self, d: date | datetime) -> date:
        """The calendar date of ``d`` in the calendar's zone."""
        if isinstance(d, datetime):
            return self._to_local(d).date()
        return d


def _as_plain_date(d: date) -> date:
    """``d`` as a plain date (a datetime given as an extra holiday keeps only its date)."""
    return d.date() if isinstance(d, datetime) else d


ENGLAND_AND_WALES = WorkingDayCalendar()
