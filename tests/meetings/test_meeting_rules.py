"""Meeting-cycle rules of docs/governance-rules.md that tests/meetings/test_meeting_cycle.py does not check on its own
(tests/scenarios/RULES.md maps every rule to its test), with real dates over Christmas and New Year 2026/27: papers
published after their deadline are flagged late; the headline report is due 2 working days after the meeting across
the bank holidays; amendment requests are taken until 6 working days before the next meeting (a working day before
its papers), later ones carried to
the following cycle, where they are folded into that meeting's amended report; the amended report is due with the
next meeting's papers."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from engine.governance.meetings import add_extraordinary_meeting, meetings, schedule_usual_meetings, start_meeting_cycle
from engine.governance.seats import assign_seat

from .test_meeting_cycle import RECORDING, do, open_task

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def cycle_of(gov, held_on: date) -> int:
    meeting = next(m for m in meetings(gov, "PSG") if m["held_on"] == held_on)
    return start_meeting_cycle(gov, meeting["id"], "pat").instance_id


def hold(gov, clock, iid, day: date, decisions=()):
    clock.set(at(day.year, day.month, day.day, 15))
    do(gov, "sam", iid, "hold_meeting", recording_reference=f"PSG-{day.isoformat()}.mp4",
       recording_started_at=f"{day.isoformat()}T10:00:00+00:00", decisions=list(decisions), actions=[])


@pytest.fixture
def psg(gov):
    """PSG chaired by Sam, its usual first-Wednesday meetings (2 Dec, 6 Jan, 3 Feb) and an extraordinary meeting on
    Wed 23 Dec 2026."""
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    schedule_usual_meetings(gov, date(2026, 12, 1), date(2027, 2, 28), by="pat", group_id="PSG")
    add_extraordinary_meeting(gov, "PSG", "2026-12-23", by="pat", note="Before Christmas")
    return gov


def test_papers_published_after_their_deadline_are_flagged_late(psg, clock):
    iid = cycle_of(psg, date(2026, 12, 23))
    papers = open_task(psg, "pat", iid, "publish_papers")
    assert papers.due_at == at(2026, 12, 16, 17)  # 5 working days before Wed 23 Dec
    clock.set(at(2026, 12, 17, 9))
    do(psg, "pat", iid, "publish_papers", papers_published_on="2026-12-17")
    assert psg.show(iid)["data"]["papers_late"] is True


def test_the_headline_report_is_due_two_working_days_after_the_meeting_across_christmas(psg, clock):
    """Held Wed 23 Dec 2026: Thu 24 Dec is day 1; Fri 25 Dec (Christmas) and Mon 28 Dec (Boxing Day, a Saturday,
    observed) are skipped; Tue 29 Dec is day 2."""
    iid = cycle_of(psg, date(2026, 12, 23))
    do(psg, "pat", iid, "publish_papers", papers_published_on="2026-12-16")
    hold(psg, clock, iid, date(2026, 12, 23))
    data = psg.show(iid)["data"]
    assert (data["headline_due_on"], data["headline_due_at"]) == ("2026-12-29", "2026-12-29T17:00:00+00:00")
    assert open_task(psg, "pat", iid, "headline_report").due_at == at(2026, 12, 29, 17)
    clock.set(at(2026, 12, 29, 12))
    do(psg, "pat", iid, "headline_report", recording_link=RECORDING,
       headline_published_on="2026-12-29", headline_summary="No decisions.")
    assert psg.show(iid)["data"]["headline_late"] is False


def test_amendments_close_before_the_next_papers_and_later_ones_join_the_next_cycle(psg, clock):
    """After the 23 Dec meeting the next PSG is Wed 6 Jan 2027: amendment requests close at the end of Thu 24 Dec
    (6 working days back skip New Year's Day, 28 and 25 Dec), a working day before the 6 January papers, and so the
    amended report, are due (Tue 29 Dec). A request made after the cut-off is carried to the cycle of the 6 January
    meeting and goes into the report amended with the 3 February papers."""
    first = cycle_of(psg, date(2026, 12, 23))
    do(psg, "pat", first, "publish_papers", papers_published_on="2026-12-16")
    hold(psg, clock, first, date(2026, 12, 23))
    clock.set(at(2026, 12, 24, 10))
    do(psg, "pat", first, "headline_report", recording_link=RECORDING,
       headline_published_on="2026-12-24", headline_summary="No decisions.")
    data = psg.show(first)["data"]
    assert (data["next_meeting_on"], data["amendment_cutoff_on"], data["next_papers_due_on"]) == (
        "2027-01-06", "2026-12-24", "2026-12-29")

    clock.set(at(2026, 12, 24, 16, 59))
    psg.send_message(first, "amendment_request", "alice", {"about": "headline_report",
                                                           "requested_change": "Name our representative."})
    assert psg.fire_due_timers(at(2026, 12, 24, 16, 59)) == []
    clock.set(at(2026, 12, 24, 17, 0))
    psg.fire_due_timers()
    clock.set(at(2026, 12, 29, 9, 0))
    psg.send_message(first, "amendment_request", "bob", {"about": "action",
                                                         "requested_change": "Give the action an owner."})
    requests = psg.show(first)["data"]["amendment_requests"]
    assert [(r["sent_by"], r["received_on"], r["carried"], r["carried_to"]) for r in requests] == [
        ("alice", "2026-12-24", False, ""), ("bob", "2026-12-29", True, "2027-01-06")]
    amended = open_task(psg, "pat", first, "issue_amended_report")
    assert amended.due_at == at(2026, 12, 29, 17)  # with the 6 January papers

    # the 6 January cycle: its papers are due when the amended report was, and it takes up Bob's carried request
    second = cycle_of(psg, date(2027, 1, 6))
    assert open_task(psg, "pat", second, "publish_papers").due_at == amended.due_at
    do(psg, "pat", first, "issue_amended_report", amended_report_issued_on="2026-12-29",
       amendments_made="Representative named.")
    assert psg.show(first)["state"] == "closed"
    do(psg, "pat", second, "publish_papers", papers_published_on="2026-12-29", amended_report_included=True)
    hold(psg, clock, second, date(2027, 1, 6))
    clock.set(at(2027, 1, 8, 10))
    do(psg, "pat", second, "headline_report", recording_link=RECORDING,
       headline_published_on="2027-01-08", headline_summary="No decisions.")
    data = psg.show(second)["data"]
    assert [(r["sent_by"], r["requested_change"], r["carried"], r["carried_from"])
            for r in data["amendment_requests"]] == [("bob", "Give the action an owner.", False, "2026-12-23")]
    assert data["next_papers_due_on"] == "2027-01-27"  # 3 February's papers carry this amended report
    clock.set(at(2027, 1, 26, 17))  # its own cut-off: the PMO now issues the amended report with those papers
    psg.fire_due_timers()
    assert open_task(psg, "pat", second, "issue_amended_report").due_at == at(2027, 1, 27, 17)
