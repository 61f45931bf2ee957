"""Meeting-cycle scenarios (docs/governance-rules.md, "Meeting cycle"; framework 3.11) with real dates through the
injected clock: papers due 5 working days before (across Christmas and New Year), items rolling to the next meeting
when they miss the papers deadline, the headline report 2 working days after, amendment requests until 6 working days
before the next meeting's papers and later ones carried to the following cycle, the amended report due with the
next papers."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from engine.errors import Forbidden
from engine.store.models import AuditEvent
from engine.governance.meetings import (add_extraordinary_meeting, meetings, place_item, schedule_usual_meetings,
                             settings_of, start_meeting_cycle)
from engine.services.diagram_functions import script_functions
from engine.governance.seats import assign_seat

UTC = timezone.utc
RECORDING = "https://collaboration.example.org/recordings/psg"  # the meeting recording, linked in the headline report


def open_task(gov, username, instance_id, element_id):
    found = [t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == element_id]
    assert found, f"{username} has no {element_id}: {[t.element_id for t in gov.tasks(username)]}"
    return found[0]


def do(gov, username, instance_id, element_id, **data):
    return gov.complete(open_task(gov, username, instance_id, element_id).id, username, data)


def test_next_meeting_is_a_script_function_for_tabling(gov):
    with gov.db.write() as session:
        functions = script_functions(session, gov.clock, settings_of(gov), "change_control")
        # 1 Dec 2026: the 2 Dec PSG papers closed on 25 Nov, so the item makes 6 January (papers due 29 Dec)
        assert functions["next_meeting"]("PSG", "2026-12-01") == "2027-01-06"
        assert functions["next_meeting"]("PSG", "2026-12-29") == "2027-01-06"
        assert functions["next_meeting"]("PSG", "2026-12-30") == "2027-02-03"
        assert functions["next_meeting"]("DAG", "2026-12-01") == "2026-12-09"  # second Wednesday, papers 2 Dec


def test_a_missed_papers_deadline_rolls_the_item_to_the_next_meeting(gov):
    made = schedule_usual_meetings(gov, date(2026, 12, 1), date(2027, 3, 31), by="pat", group_id="PSG")
    assert [m["held_on"] for m in made] == [date(2026, 12, 2), date(2027, 1, 6), date(2027, 2, 3), date(2027, 3, 3)]
    assert made[1]["papers_due_on"] == date(2026, 12, 29)  # across 25, 28 Dec and 1 Jan

    in_time = place_item(gov, "PSG", "2026-12-29", "pat", reference="CR001", title="In time")
    late = place_item(gov, "PSG", "2026-12-30", "pat", reference="CR002", title="One day late")
    assert in_time["held_on"] == date(2027, 1, 6)
    assert late["held_on"] == date(2027, 2, 3)

    # the PMO adds an extraordinary meeting: the late item now makes it (papers due 13 January)
    extra = add_extraordinary_meeting(gov, "PSG", "2027-01-20", by="pat", note="Urgent CRs")
    assert extra["kind"] == "extraordinary" and extra["papers_due_on"] == date(2027, 1, 13)
    assert place_item(gov, "PSG", "2026-12-30", "pat", reference="CR003")["held_on"] == date(2027, 1, 20)
    with pytest.raises(Forbidden):
        add_extraordinary_meeting(gov, "PSG", "2027-01-27", by="alice")
    agendas = {m["held_on"]: [i["reference"] for i in m["agenda"]] for m in meetings(gov, "PSG")}
    assert agendas[date(2027, 1, 6)] == ["CR001"] and agendas[date(2027, 2, 3)] == ["CR002"]
    assert agendas[date(2027, 1, 20)] == ["CR003"]
    with gov.db.read() as session:  # the audit trail keeps every placement and the refusal
        actions = list(session.scalars(select(AuditEvent.action)))
    assert actions.count("agenda.placed") == 3 and "access.denied" in actions


def test_the_meeting_cycle_from_papers_to_the_amended_report(gov, clock):
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    schedule_usual_meetings(gov, date(2026, 12, 1), date(2027, 2, 28), by="pat", group_id="PSG")
    place_item(gov, "PSG", "2026-12-01", "pat", reference="CR001", title="Change the D0010 flow")
    january = next(m for m in meetings(gov, "PSG") if m["held_on"] == date(2027, 1, 6))
    result = start_meeting_cycle(gov, january["id"], "pat")
    iid = result.instance_id

    papers = open_task(gov, "pat", iid, "publish_papers")
    assert papers.due_at == datetime(2026, 12, 29, 17, 0, tzinfo=UTC)  # 5 working days back across the holidays
    do(gov, "pat", iid, "publish_papers", papers_published_on="2026-12-29", papers_link="https://example.org/p")
    facts = gov.show(iid)["data"]
    assert facts["papers_late"] is False and [a["reference"] for a in facts["agenda"]] == ["CR001"]
    assert meetings(gov, "PSG")[1]["status"] == "papers published"

    # only PSG's chair records the meeting; decisions are time-stamped to the recording
    assert not [t for t in gov.tasks("chris") if t.instance_id == iid]
    clock.set(datetime(2027, 1, 6, 16, 0, tzinfo=UTC))
    do(gov, "sam", iid, "hold_meeting", recording_reference="PSG-2027-01-06.mp4",
       recording_started_at="2027-01-06T10:00:00+00:00",
       decisions=[{"agenda_item": "CR001", "outcome": "accept", "decision": "Approved as drafted",
                   "views": "Suppliers support it", "recording_time": "00:42:10"}],
       actions=[{"action": "Publish the revised D0010", "owner": "Will Walker", "due_on": "2027-01-20"}])
    facts = gov.show(iid)["data"]
    assert facts["decisions"][0]["recording_time"] == "00:42:10"
    assert facts["decisions"][0]["recorded_at"] == "2027-01-06T16:00:00+00:00"
    assert facts["headline_due_on"] == "2027-01-08"  # 2 working days after
    headline = open_task(gov, "pat", iid, "headline_report")
    assert headline.due_at == datetime(2027, 1, 8, 17, 0, tzinfo=UTC)
    do(gov, "pat", iid, "headline_report", recording_link=RECORDING,
       headline_published_on="2027-01-08", headline_summary="CR001 approved")

    # next meeting 3 Feb: amendment requests until 26 Jan (6 working days before), end of day; papers due 27 Jan
    facts = gov.show(iid)["data"]
    assert (facts["next_meeting_on"], facts["amendment_cutoff_on"]) == ("2027-02-03", "2027-01-26")
    assert gov.may_view(iid, "bob")  # every party reads the meeting once its papers are out, and may ask
    assert [m["message"] for m in gov.open_messages(iid, "bob")] == ["amendment_request"]
    clock.set(datetime(2027, 1, 26, 16, 0, tzinfo=UTC))
    gov.send_message(iid, "amendment_request", "alice", {"about": "decision", "agenda_item": "CR001",
                                                          "requested_change": "Record our abstention"})
    clock.set(datetime(2027, 1, 26, 17, 0, tzinfo=UTC))
    gov.fire_due_timers()
    gov.send_message(iid, "amendment_request", "bob", {"about": "headline_report",
                                                        "requested_change": "Spell our name right"})
    facts = gov.show(iid)["data"]
    requests = [(r["sent_by"], r["carried"], r["carried_to"]) for r in facts["amendment_requests"]]
    assert requests == [("alice", False, ""), ("bob", True, "2027-02-03")]
    assert any("carried" in n["subject"] for n in gov.notifications("bob"))

    amended = open_task(gov, "pat", iid, "issue_amended_report")
    assert amended.due_at == datetime(2027, 1, 27, 17, 0, tzinfo=UTC)  # with the next papers
    do(gov, "pat", iid, "issue_amended_report", amended_report_issued_on="2027-01-27",
       amendments_made="Abstention recorded")
    record = gov.show(iid)
    assert record["status"] == "completed" and record["state"] == "closed"
    assert meetings(gov, "PSG")[1]["status"] == "closed"
