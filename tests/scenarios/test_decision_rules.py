"""The decision rules (docs/governance-rules.md) for a change request decided by a Level 3 advisory group (DAG, whose
usual meeting is the second Wednesday), which tests/scenarios/test_change_control.py (PSG decisions) does not cover:
with no consensus the DAG chair makes an informed decision or refers it to PSG; a change meeting an Ofgem threshold
is referred to PSG (the group's outcome is its recommendation), and PSG's outcome then goes to Ofgem. Plus PSG with
no consensus: the SRO decides, and the IPA's advice is kept. tests/scenarios/RULES.md maps every rule to its test."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.errors import Forbidden
from engine.governance.meetings import meetings
from engine.governance.seats import assign_seat

from .change_control_driver import ANSWERS, ISSUED_AT, WINDOW_CLOSES, ChangeRequest

UTC = timezone.utc


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def agenda_of(gov, group: str, day: str) -> list[str]:
    return [i["reference"] for m in meetings(gov, group) if m["held_on"].isoformat() == day for i in m["agenda"]]


def decided_at_dag(gov, clock, outcome: str = "no_consensus", **amend) -> ChangeRequest:
    """Triaged to DAG, consulted over Christmas (closes Tue 5 Jan 2027), on the agenda of DAG on Wed 13 Jan (papers
    due Wed 6 Jan), where DAG records `outcome`. Chris chairs DAG; Sam (the SRO, also a chair) has no DAG seat."""
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder="chris")
    cr = ChangeRequest(gov, clock)
    cr.do("validate").do("triage", decision_body="DAG").do("impact_assessment").do("amend", **amend)
    clock.set(ISSUED_AT)
    cr.do("issue_consultation")
    cr.at(WINDOW_CLOSES)
    cr.do("review")
    assert (cr.data["decision_meeting_date"], cr.data["papers_due_on"]) == ("2027-01-13", "2027-01-06")
    cr.do("table", papers_published_on="2027-01-06")
    clock.set(utc(2027, 1, 13, 11, 30))
    cr.do("decide", decision_outcome=outcome, decision_views="Design authorities split.",
          decided_at="2027-01-13T11:00:00+00:00", recording_reference="DAG 2027-01-13 recording 00:51:10")
    return cr


def history(cr: ChangeRequest) -> list[tuple[str, str]]:
    return [(h["outcome"], h["decided_by"]) for h in cr.data["decision_history"]]


def test_no_consensus_at_a_level_3_group_its_chair_makes_an_informed_decision(gov, clock):
    cr = decided_at_dag(gov, clock)
    assert cr.state == "awaiting decision" and cr.open_tasks() == ["chair_decides"]  # not the SRO's deciding vote
    [chair_task] = cr.tasks_of("chris", "chair_decides")
    assert (chair_task.lane, chair_task.group_id) == ("Chair", "DAG")
    assert cr.tasks_of("sam", "chair_decides") == []
    with pytest.raises(Forbidden):
        gov.complete(chair_task.id, "sam", ANSWERS["chair_decides"])
    clock.set(utc(2027, 1, 13, 15, 30))
    cr.do("chair_decides")
    data = cr.data
    assert cr.state == "approved" and (data["final_outcome"], data["decided_by"]) == ("accept", "DAG chair")
    assert history(cr) == [("accept", "DAG chair")]
    assert data["decision_history"][0]["meeting_date"] == "2027-01-13"
    assert data["communication_due_at"] == "2027-01-27T17:00:00+00:00"  # 10 working days after 13 January
    cr.do("communicate").do("action_change")
    assert (cr.status, cr.state) == ("completed", "closed")
    cr.assert_history()


def test_no_consensus_at_a_level_3_group_its_chair_may_refer_it_to_psg(gov, clock):
    """Referred on Wed 13 Jan 2027, it misses PSG on 6 January and goes on PSG's 3 February agenda (papers due Wed
    27 Jan); PSG decides it there, without validating, assessing or consulting again."""
    cr = decided_at_dag(gov, clock)
    clock.set(utc(2027, 1, 13, 15, 30))
    cr.do("chair_decides", chair_choice="refer_to_psg", chair_outcome=None, chair_rationale="PSG should decide.")
    data = cr.data
    assert (cr.state, data["decision_body"], data["referred_from"]) == ("awaiting decision", "PSG", "DAG")
    assert cr.open_tasks() == ["table"] and cr.task("table").lane == "PMO"
    assert (data["decision_meeting_date"], data["papers_due_on"]) == ("2027-02-03", "2027-01-27")
    assert agenda_of(gov, "PSG", "2027-02-03") == ["CR001"] and agenda_of(gov, "DAG", "2027-01-13") == ["CR001"]
    assert history(cr) == [("refer_to_psg", "DAG chair")]
    assert sorted(m["message"] for m in cr.record["messages"]) == ["threshold_flag", "withdraw"]  # before the decision
    cr.do("table", papers_published_on="2027-01-27")
    assert cr.open_tasks() == ["decide"]
    clock.set(utc(2027, 2, 3, 11, 30))
    cr.do("decide", decided_at="2027-02-03T11:00:00+00:00", recording_reference="PSG 2027-02-03 00:20:00")
    assert cr.state == "approved" and cr.data["decided_by"] == "PSG"
    assert history(cr) == [("refer_to_psg", "DAG chair"), ("accept", "PSG")]
    assert [e for e, _ in cr.done].count("impact_assessment") == 1 and [e for e, _ in cr.done].count("validate") == 1
    cr.do("communicate").do("action_change")
    assert cr.state == "closed"
    cr.assert_history()


def test_a_level_3_group_refers_a_change_meeting_an_ofgem_threshold_to_psg(gov, clock):
    """£6m: DAG's "accept" is a recommendation and the change request goes to PSG; PSG's outcome in turn is a
    recommendation, and the SRO refers it to Ofgem."""
    cr = decided_at_dag(gov, clock, outcome="accept", cost_impact_gbp=6_000_000)
    data = cr.data
    assert data["ofgem_threshold_met"] is True and cr.state == "awaiting decision"
    assert (data["decision_body"], data["referred_from"], cr.open_tasks()) == ("PSG", "DAG", ["table"])
    [entry] = data["decision_history"]
    assert (entry["outcome"], entry["decided_by"], entry["recommendation"]) == ("refer_to_psg", "DAG", "accept")
    cr.do("table", papers_published_on="2027-01-27")
    clock.set(utc(2027, 2, 3, 11, 30))
    cr.do("decide", decided_at="2027-02-03T11:00:00+00:00")
    assert cr.open_tasks() == ["refer_to_ofgem"] and cr.task("refer_to_ofgem").lane == "SRO"
    cr.do("refer_to_ofgem")
    assert cr.state == "with Ofgem"


def test_psg_without_consensus_the_sro_decides_and_the_ipas_advice_is_kept(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="no_consensus", decision_views="Suppliers split 5-5.")
    assert cr.open_tasks() == ["sro_deciding_vote"] and cr.tasks_of("chris", "chair_decides") == []
    cr.do("sro_deciding_vote", ipa_advice="The IPA advises accepting with a review in March.")
    data = cr.data
    assert (data["decided_by"], data["ipa_advice"]) == ("SRO", "The IPA advises accepting with a review in March.")
    assert history(cr) == [("accept", "SRO")]
