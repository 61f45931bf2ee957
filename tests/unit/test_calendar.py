"""Working-day calendar: expected values worked out by hand from the published England and Wales bank holidays."""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from engine import calendar as calendar_module
from engine.calendar import ENGLAND_AND_WALES as CAL
from engine.calendar import WorkingDayCalendar

UTC = timezone.utc


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 12, 25),  # Fri, Christmas Day
        date(2026, 12, 28),  # Mon, Boxing Day (observed; 26th is a Saturday)
        date(2027, 12, 27),  # Mon, Christmas Day (observed)
        date(2027, 12, 28),  # Tue, Boxing Day (observed)
        date(2026, 4, 3),  # Good Friday 2026
        date(2026, 4, 6),  # Easter Monday 2026
        date(2027, 3, 26),  # Good Friday 2027
        date(2027, 3, 29),  # Easter Monday 2027
        date(2026, 8, 31),  # Late Summer bank holiday 2026
        date(2022, 1, 3),  # Mon, New Year's Day (observed; 1 Jan 2022 is a Saturday)
        date(2026, 1, 10),  # Saturday
        date(2026, 1, 11),  # Sunday
    ],
)
def test_non_working_days(day: date) -> None:
    assert not CAL.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 12, 24),  # Thu
        date(2026, 12, 29),  # Tue
        date(2027, 12, 24),  # Fri
        date(2027, 12, 29),  # Wed
        date(2026, 4, 2),  # Thu before Good Friday
        date(2026, 4, 7),  # Tue after Easter Monday
        date(2026, 1, 12),  # Monday
    ],
)
def test_working_days(day: date) -> None:
    assert CAL.is_working_day(day)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 12, 24), 1, date(2026, 12, 29)),  # skips 25 (hol), 26-27 (weekend), 28 (observed)
        (date(2027, 12, 24), 1, date(2027, 12, 29)),  # skips 25-26 (weekend), 27 and 28 (observed)
        (date(2027, 12, 24), 3, date(2027, 12, 31)),
        (date(2027, 12, 24), 4, date(2028, 1, 4)),  # 1 Jan 2028 is a Saturday: Mon 3 Jan observed
        (date(2026, 4, 2), 1, date(2026, 4, 7)),  # Easter 2026
        (date(2027, 3, 25), 1, date(2027, 3, 30)),  # Easter 2027
        (date(2026, 8, 28), 1, date(2026, 9, 1)),  # August bank holiday 2026
        (date(2021, 12, 31), 1, date(2022, 1, 4)),  # New Year observed 2022-01-03
        (date(2026, 1, 9), 1, date(2026, 1, 12)),  # Fri + 1 = Mon
        (date(2026, 1, 12), 5, date(2026, 1, 19)),  # a week
        (date(2026, 1, 10), 1, date(2026, 1, 12)),  # Sat is day 0; next working day is day 1
    ],
)
def test_add_working_days(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_day_zero_is_the_start_itself() -> None:
    assert CAL.add_working_days(date(2026, 1, 12), 0) == date(2026, 1, 12)
    assert CAL.add_working_days(date(2026, 1, 10), 0) == date(2026, 1, 10)  # even a Saturday


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 12, 29), -1, date(2026, 12, 24)),
        (date(2026, 4, 7), -1, date(2026, 4, 2)),
        (date(2026, 1, 12), -1, date(2026, 1, 9)),
        (date(2026, 1, 19), -5, date(2026, 1, 12)),
        (date(2022, 1, 4), -1, date(2021, 12, 31)),
    ],
)
def test_negative_n_counts_backwards(start: date, n: int, expected: date) -> None:
    assert CAL.add_working_days(start, n) == expected


def test_next_working_day() -> None:
    assert CAL.next_working_day(date(2026, 12, 24)) == date(2026, 12, 29)
    assert CAL.next_working_day(date(2026, 1, 9)) == date(2026, 1, 12)
    assert CAL.next_working_day(date(2026, 1, 12)) == date(2026, 1, 13)  # strictly after


def test_working_days_between() -> None:
    assert CAL.working_days_between(date(2026, 12, 24), date(2026, 12, 31)) == 3  # 29, 30, 31
    assert CAL.working_days_between(date(2026, 12, 31), date(2026, 12, 24)) == -3
    assert CAL.working_days_between(date(2026, 1, 9), date(2026, 1, 12)) == 1
    assert CAL.working_days_between(date(2026, 1, 12), date(2026, 1, 12)) == 0
    # 2 Jan - 31 Dec 2026 is 52 whole weeks (260 weekdays) holding 7 weekday bank holidays.
    assert CAL.working_days_between(date(2026, 1, 1), date(2026, 12, 31)) == 253
    # Across a year end with observed days on both sides: 29, 30, 31 Dec 2027, 4 and 5 Jan 2028.
    assert CAL.working_days_between(date(2027, 12, 24), date(2028, 1, 5)) == 5


def test_datetime_keeps_local_time_and_returns_utc() -> None:
    start = datetime(2026, 1, 9, 12, 0, tzinfo=ZoneInfo("America/New_York"))  # 17:00 UTC = 17:00 GMT, Fri
    result = CAL.add_working_days(start, 1)
    assert result == datetime(2026, 1, 12, 17, 0, tzinfo=UTC)
    assert result.tzinfo is UTC


def test_calendar_date_is_taken_in_london() -> None:
    # 23:30 UTC on Tue 30 June is 00:30 BST on Wed 1 July: day 0 is Wednesday.
    start = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)
    assert CAL.add_working_days(start, 1) == datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # Thu 00:30 BST
    assert not CAL.is_working_day(datetime(2026, 4, 2, 23, 30, tzinfo=UTC))  # 00:30 BST on Good Friday


def test_deadline_across_the_end_of_summer_time_keeps_local_time() -> None:
    # Summer time ends on Sunday 25 October 2026 (the last Sunday of October).
    friday_5pm_bst = datetime(2026, 10, 23, 16, 0, tzinfo=UTC)
    assert CAL.add_working_days(friday_5pm_bst, 1) == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)  # 17:00 GMT


def test_deadline_across_the_start_of_summer_time_keeps_local_time() -> None:
    # Summer time starts on Sunday 29 March 2026.
    friday_5pm_gmt = datetime(2026, 3, 27, 17, 0, tzinfo=UTC)
    assert CAL.add_working_days(friday_5pm_gmt, 1) == datetime(2026, 3, 30, 16, 0, tzinfo=UTC)  # 17:00 BST


def test_end_of_working_day() -> None:
    assert CAL.end_of_working_day(date(2026, 10, 23)) == datetime(2026, 10, 23, 16, 0, tzinfo=UTC)  # BST
    assert CAL.end_of_working_day(date(2026, 10, 26)) == datetime(2026, 10, 26, 17, 0, tzinfo=UTC)  # GMT
    assert CAL.end_of_working_day(date(2026, 1, 12), hour=9) == datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    assert CAL.end_of_working_day(date(2026, 1, 12)).tzinfo is UTC
    with pytest.raises(ValueError, match="hour must be between 0 and 23"):
        CAL.end_of_working_day(date(2026, 1, 12), hour=24)


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime 2026-01-12T09:00:00 refused"):
        CAL.add_working_days(datetime(2026, 1, 12, 9, 0), 1)
    with pytest.raises(ValueError, match="naive"):
        CAL.is_working_day(datetime(2026, 1, 12, 9, 0))


def test_extra_holidays() -> None:
    cal = WorkingDayCalendar(extra_holidays=[date(2026, 6, 15)])  # a Monday
    assert not cal.is_working_day(date(2026, 6, 15))
    assert CAL.is_working_day(date(2026, 6, 15))
    assert cal.add_working_days(date(2026, 6, 12), 1) == date(2026, 6, 16)
    assert cal.working_days_between(date(2026, 6, 12), date(2026, 6, 16)) == 1


def test_holidays_are_looked_up_once_per_year(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []
    real = calendar_module.holidays.country_holidays

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(tuple(kwargs["years"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(calendar_module.holidays, "country_holidays", counting)
    cal = WorkingDayCalendar()
    for _ in range(3):
        cal.add_working_days(date(2026, 12, 24), 10)
    assert len(calls) == 2  # 2026 and 2027, once each
