"""The meeting-date rules as pure functions: usual days ("first Wednesday"), bank holidays kept with a note, the
papers deadline in working days, and placing an item at the next meeting whose papers it can still make."""
from __future__ import annotations

from datetime import date

import pytest

from engine.governance.meetings import (MeetingError, choose_meeting, headline_due, nth_weekday, papers_due, parse_usual_day,
                             usual_meeting_days)


def test_usual_day_text_is_read():
    assert parse_usual_day("first Wednesday") == (1, 2)
    assert parse_usual_day("Fourth wednesday") == (4, 2)
    assert parse_usual_day("last Friday") == (-1, 4)
    with pytest.raises(MeetingError):
        parse_usual_day("every other Tuesday")


def test_psg_meets_on_the_first_wednesday_of_each_month():
    days = [u.held_on for u in usual_meeting_days("first Wednesday", date(2026, 12, 1), date(2027, 3, 31))]
    assert days == [date(2026, 12, 2), date(2027, 1, 6), date(2027, 2, 3), date(2027, 3, 3)]


def test_range_limits_are_inclusive_and_last_weekday_works():
    days = [u.held_on for u in usual_meeting_days("second Wednesday", date(2027, 1, 13), date(2027, 2, 10))]
    assert days == [date(2027, 1, 13), date(2027, 2, 10)]
    assert nth_weekday(2027, 1, -1, 4) == date(2027, 1, 29)


def test_a_usual_day_on_a_bank_holiday_is_kept_with_a_note():
    ccag = usual_meeting_days("fourth Wednesday", date(2024, 12, 1), date(2024, 12, 31))
    assert [u.held_on for u in ccag] == [date(2024, 12, 25)]
    assert "bank holiday" in ccag[0].note and "Christmas" in ccag[0].note
    psg = usual_meeting_days("first Wednesday", date(2025, 1, 1), date(2025, 2, 28))
    assert [u.held_on for u in psg] == [date(2025, 1, 1), date(2025, 2, 5)]
    assert "New Year" in psg[0].note and psg[1].note == ""


def test_papers_deadline_counts_working_days_back_across_christmas_and_new_year():
    # 6 Jan 2027 (Wed): 5 Jan, 4 Jan, [1 Jan bank holiday], 31 Dec, 30 Dec, 29 Dec
    assert papers_due(date(2027, 1, 6), 5) == date(2026, 12, 29)
    assert papers_due(date(2026, 12, 2), 5) == date(2026, 11, 25)
    # headline report 2 working days after 23 Dec 2026: [25 Dec, 28 Dec substitute Boxing Day]
    assert headline_due(date(2026, 12, 23), 2) == date(2026, 12, 29)


def test_an_item_goes_to_the_next_meeting_whose_papers_it_can_make_else_the_one_after():
    meetings = [date(2027, 2, 3), date(2026, 12, 2), date(2027, 1, 6)]
    assert choose_meeting(meetings, date(2026, 11, 25), 5) == date(2026, 12, 2)  # the deadline day itself counts
    assert choose_meeting(meetings, date(2026, 11, 26), 5) == date(2027, 1, 6)   # missed: rolls to January
    assert choose_meeting(meetings, date(2026, 12, 29), 5) == date(2027, 1, 6)
    assert choose_meeting(meetings, date(2026, 12, 30), 5) == date(2027, 2, 3)
    assert choose_meeting(meetings, date(2027, 2, 1), 5) is None
