"""Every branch of processes/change_control.bpmn, end to end through the engine API (Govflow), on SQLite and
PostgreSQL, with real working-day deadlines on the test clock (Christmas and New Year 2026/27, Easter 2027, the
early May, spring and August bank holidays 2027). The Ofgem decision table is also checked row by row."""
from __future__ import annotations

from datetime import datetime, timezone
from itertools import product
from pathlib import Path

import pytest

from engine.errors import Conflict, Forbidden, FormInvalid


from .change_control_driver import (ANSWERS, COMMUNICATION_DUE, CONDITIONS, DECIDED_AT, ISSUED_AT, WINDOW_CLOSES,
                                    ChangeRequest, plan_meeting, together, without_meeting_cycle)


UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]
WITHIN = "Within all Ofgem thresholds"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def task_row(cr: ChangeRequest, element_id: str, status: str = "ready") -> dict:
    rows = [t for t in cr.record["tasks"] if t["element_id"] == element_id and t["status"] == status]
    assert rows, (element_id, status, cr.record["tasks"])
    return rows[-1]


def finish(cr: ChangeRequest, outcome: str, decided_by: str, actioned: bool = True, communicated: bool = False) -> dict:
    """Communicate (and action) the decision; the CR is closed and the instance completed."""
    if not communicated:
        cr.do("communicate")
    if actioned:
        assert cr.state in ("approved", "approved with conditions"), cr.state
        cr.do("action_change")
    record = cr.record
    data = record["data"]
    assert (record["status"], record["state"]) == ("completed", "closed"), (record["status"], record["state"])
    assert record["ended_at"] is not None and cr.open_tasks() == [] and record["messages"] == []
    assert data["final_outcome"] == outcome and data["decided_by"] == decided_by
    assert data["closed_at"] == cr.clock.now().isoformat()
    cr.assert_history()
    return data


# --- validation ----------------------------------------------------------------------------------------------------

def test_valid_first_time_runs_to_close(gov, clock):
    cr = ChangeRequest(gov, clock)
    assert (cr.status, cr.state, cr.data["raised_by"], cr.data["reference"]) == ("running", "submitted", "alice", None)
    assert sorted(m["message"] for m in cr.record["messages"]) == ["threshold_flag", "withdraw"]
    assert {m["message"]: m["assignee"] for m in cr.record["messages"]} == {"withdraw": "alice", "threshold_flag": None}
    [validate] = cr.tasks_of("carol", "validate")
    assert (validate.lane, validate.role_id, validate.assignee, validate.title) == (
        "Change Control Manager", "change_control_manager", None, ANSWERS["amend"]["title"])
    seen = []
    for step in ("validate", "triage", "impact_assessment", "amend"):
        cr.do(step)
        seen.append(cr.state)
    assert seen == ["validated", "impact assessment", "impact assessment", "impact assessment"]
    assert cr.record["reference"] == cr.data["reference"] == "CR001" and cr.data["validation_round"] == 0
    clock.set(ISSUED_AT)
    cr.do("issue_consultation")
    assert cr.state == "in consultation"
    cr.respond("bob")
    cr.at(WINDOW_CLOSES)
    cr.do("review")
    assert cr.state == "responses under review"
    cr.do("table")
    assert cr.state == "awaiting decision"
    clock.set(utc(2027, 1, 20, 11, 30))
    cr.do("decide")
    assert cr.state == "approved"
    cr.do("communicate")
    assert cr.state == "approved"
    cr.do("action_change")
    finish_data = cr.data
    assert (cr.status, cr.state, finish_data["final_outcome"], finish_data["reference"]) == (
        "completed", "closed", "accept", "CR001")
    assert finish_data["implemented_on"] == "2027-02-01" and "implemented_recorded_at" in finish_data
    assert cr.open_tasks() == []
    cr.assert_history()


def test_invalid_twice_then_valid_numbers_once(gov, clock):
    cr = ChangeRequest(gov, clock)
    cr.do("validate", valid=False, validation_issues="Say which milestone.")
    assert (cr.state, cr.data["validation_round"], cr.data["reference"]) == ("returned to raiser", 1, None)
    [fix] = cr.tasks_of("alice", "resolve_issues")
    assert (fix.assignee, fix.lane, fix.role_id) == ("alice", "Participant", "participant")
    # 20 working days from Tue 1 Dec 2026 09:00, skipping Christmas Day and the Boxing Day substitute (28 Dec)
    assert fix.due_at == utc(2026, 12, 31, 9, 0) and cr.timers() == {"raiser_silent": "2026-12-31T09:00:00+00:00"}
    assert cr.tasks_of("bob", "resolve_issues") == [] and cr.tasks_of("carol", "resolve_issues") == []
    for intruder in ("bob", "carol"):
        with pytest.raises(Forbidden, match="assigned to alice"):
            gov.complete(fix.id, intruder, {**ANSWERS["resolve_issues"]})
    cr.do("resolve_issues", impacted_milestones="M10 only")
    assert (cr.state, cr.open_tasks()) == ("submitted", ["validate"])
    cr.do("validate", valid=False, validation_issues="Quantify the benefit.")
    assert (cr.state, cr.data["validation_round"]) == ("returned to raiser", 2)
    assert cr.data["validation_issues"] == "Quantify the benefit."
    cr.do("resolve_issues", impacted_milestones="M10 only", benefit_estimate_gbp=450000)
    cr.do("validate")
    data = cr.data
    assert (cr.state, data["reference"], data["validation_round"]) == ("validated", "CR001", 2)
    assert data["impacted_milestones"] == "M10 only" and data["benefit_estimate_gbp"] == 450000
    assert [t["status"] for t in cr.record["timers"]] == ["cancelled", "cancelled"]  # each lapse timer went
    # one number only: the next valid CR is CR002
    other = ChangeRequest(gov, clock, raiser="bob", title="Another change")
    other.do("validate")
    assert other.data["reference"] == "CR002"
    cr.do("triage")
    assert cr.data["reference"] == "CR001" and cr.state == "impact assessment"
    cr.assert_history()
    other.assert_history()


def test_silent_raiser_lapses_after_20_working_days_over_christmas(gov, clock):
    cr = ChangeRequest(gov, clock)
    clock.set(utc(2026, 12, 15, 9, 0))  # Tue 15 Dec 2026
    cr.do("validate", valid=False, validation_issues="Incomplete.")
    # 20 working days, skipping Fri 25 Dec, Mon 28 Dec (Boxing Day observed) and Fri 1 Jan: Fri 15 Jan 2027 09:00
    due = "2027-01-15T09:00:00+00:00"
    assert cr.data["raiser_reply_due_at"] == due
    assert cr.timers() == {"raiser_silent": due}
    assert task_row(cr, "resolve_issues")["due_at"] == due
    assert cr.at(utc(2027, 1, 15, 8, 59)) == []
    assert cr.open_tasks() == ["resolve_issues"] and cr.state == "returned to raiser"
    fired = cr.at(utc(2027, 1, 15, 9, 0))
    assert [f["instance_id"] for f in fired] == [cr.id]
    assert fired[0]["timers"][0]["element_id"] == "raiser_silent"
    record = cr.record
    data = record["data"]
    assert (record["status"], record["state"], data["reference"]) == ("completed", "withdrawn", None)
    assert data["withdrawn_by"] == "system" and data["withdrawn_reason"].startswith("Lapsed")
    assert data["withdrawn_at"] == "2027-01-15T09:00:00+00:00"
    assert task_row(cr, "resolve_issues", "cancelled") and cr.open_tasks() == [] and record["messages"] == []
    assert [(t["element_id"], t["status"]) for t in record["timers"]] == [("raiser_silent", "fired")]
    history = [(e["action"], e["actor"], e["element_id"]) for e in record["history"]]
    assert ("timer.fired", "system", "raiser_silent") in history
    assert history[-1] == ("instance.completed", "system", None)
    cr.assert_history()


# --- withdrawal --------------------------------------------------------------------------------------------------

def test_raiser_withdraws_before_the_decision_but_not_after(gov, clock):
    early = ChangeRequest(gov, clock, title="Withdrawn before validation")
    in_consultation = ChangeRequest(gov, clock, title="Withdrawn in consultation")
    decided = ChangeRequest(gov, clock, title="Decided, then too late to withdraw")
    # before it is numbered
    with pytest.raises(Forbidden):
        gov.withdraw(early.id, "bob", "Not mine")
    early.withdraw(reason="Raised by mistake.")
    data = early.data
    assert (early.status, early.state, data["reference"]) == ("completed", "withdrawn", None)
    assert (data["withdrawn_by"], data["withdrawn_reason"]) == ("alice", "Raised by mistake.")
    assert task_row(early, "validate", "cancelled")
    # in consultation: it keeps its number; everything waiting stops
    together([in_consultation, decided], stop="consultation")
    in_consultation.respond("bob")
    for intruder in ("bob", "carol", "olive"):
        with pytest.raises(Forbidden):
            gov.withdraw(in_consultation.id, intruder)
    with pytest.raises(FormInvalid):  # withdrawing cannot be undone: it needs a reason
        gov.withdraw(in_consultation.id, "alice")
    in_consultation.withdraw()
    record = in_consultation.record
    assert (record["status"], record["state"], record["data"]["reference"]) == ("completed", "withdrawn", "CR001")
    assert record["data"]["withdrawn_reason"] == "No longer needed"
    assert record["messages"] == [] and all(t["status"] != "waiting" for t in record["timers"])
    with pytest.raises(Conflict, match="CR001 is completed|CR001 is not accepting"):
        in_consultation.respond("bob")
    # after the decision: refused with a clear conflict
    decided.at(WINDOW_CLOSES)
    decided.do("review").do("table")
    clock.set(utc(2027, 1, 20, 11, 30))
    decided.do("decide")
    assert decided.state == "approved" and "withdraw" not in [m["message"] for m in decided.record["messages"]]
    with pytest.raises(Conflict, match="CR002 is not accepting 'withdraw' now"):
        gov.withdraw(decided.id, "alice", "Changed my mind")
    assert decided.state == "approved" and decided.status == "running"
    for cr in (early, in_consultation, decided):
        cr.assert_history()


def test_withdrawn_in_consultation_keeps_its_record(gov, clock):
    """What happened before the withdrawal stays on the record: the assessment, the amended figures, the responses,
    and the fact that it was issued for consultation (settings.yaml: such a CR "stays readable whatever happens
    next")."""
    cr = ChangeRequest(gov, clock).to_consultation(cost_impact_gbp=123456)
    cr.respond("bob")
    assert gov.may_view(cr.id, "bob")
    cr.withdraw(reason="Overtaken by events.")
    data = cr.data
    assert (cr.status, cr.state, data["reference"]) == ("completed", "withdrawn", "CR001")
    kept = {k: data.get(k) for k in ("consultation_opened_at", "ia_summary", "cost_impact_gbp", "assessment_round")}
    assert kept == {"consultation_opened_at": ISSUED_AT.isoformat(), "ia_summary": ANSWERS["impact_assessment"][
        "ia_summary"], "cost_impact_gbp": 123456, "assessment_round": 1}, kept
    assert [r["sent_by"] for r in data.get("consultation_responses", [])] == ["bob"]
    assert gov.may_view(cr.id, "bob"), "an instance issued for consultation must stay readable by the industry"


# --- decisions ----------------------------------------------------------------------------------------------------

def test_accept(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision(responses=2)
    [decide] = cr.tasks_of("chris", "decide")
    assert decide.lane == "Chair" and decide.due_at == utc(2027, 1, 20, 17, 0)  # end of the meeting day
    cr.do("decide")
    data = cr.data
    assert cr.state == "approved" and cr.open_tasks() == ["communicate"]
    assert (data["ofgem_threshold_met"], data["threshold_reasons"]) == (False, WITHIN)
    assert data["approved_cost_impact_gbp"] == 300000 and data["cumulative_impact_gbp"] == 300000
    assert data["final_decided_at"] == DECIDED_AT and data["communication_due_at"] == COMMUNICATION_DUE
    assert data["consultation_closes_at"] == WINDOW_CLOSES.isoformat()  # 10 working days over Christmas
    assert [(h["outcome"], h["decided_by"]) for h in data["decision_history"]] == [("accept", "PSG")]
    [communicate] = cr.tasks_of("pat", "communicate")
    assert communicate.lane == "PMO" and communicate.due_at.isoformat() == COMMUNICATION_DUE
    data = finish(cr, "accept", "PSG")
    assert data["reference"] == "CR001" and data["outcome_label"] == "Accept"
    assert [r["sent_by"] for r in data["consultation_responses"]] == ["bob", "alice"]


def test_reject(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="reject", decision_views="Consensus to reject.")
    assert cr.state == "rejected" and cr.open_tasks() == ["communicate"]
    data = finish(cr, "reject", "PSG", actioned=False)
    assert data["approved_cost_impact_gbp"] == 0 and "implemented_recorded_at" not in data
    assert "action_change" not in [t["element_id"] for t in cr.record["tasks"]]


def test_refer_for_additional_work_loops_back_to_impact_assessment(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="refer", decision_views="Needs a cost breakdown.",
          referral_work="Break the cost down by party.", referral_owner="will", referral_due_on="2027-02-19")
    data = cr.data
    assert (cr.state, cr.open_tasks(), data["assessment_round"]) == ("referred", ["impact_assessment"], 2)
    assert sorted(m["message"] for m in cr.record["messages"]) == ["threshold_flag", "withdraw"]  # still withdrawable
    assert task_row(cr, "impact_assessment")["lane"] == "Workstream"
    cr.do("impact_assessment").do("amend")
    assert cr.state == "referred"
    # second consultation: 5 working days from Tue 25 May 2027, over the spring bank holiday (Mon 31 May)
    clock.set(utc(2027, 5, 25, 8, 0))
    cr.do("issue_consultation", consultation_window_days=5)
    assert cr.data["consultation_closes_at"] == "2027-06-02T16:00:00+00:00"  # Wed 2 June, 17:00 BST
    assert cr.timers() == {"window_closes": "2027-06-02T16:00:00+00:00"}
    cr.respond("bob", comments="Round two.")
    cr.at(utc(2027, 6, 2, 16, 0))
    plan_meeting(gov, "2027-06-16")  # an extraordinary PSG: the 7 July one is the usual next
    cr.do("review").do("table", papers_published_on="2027-06-08")
    assert (cr.data["decision_meeting_date"], cr.data["papers_due_on"]) == ("2027-06-16", "2027-06-09")
    clock.set(utc(2027, 6, 16, 10, 0))
    cr.do("decide", decided_at="2027-06-16T10:00:00+01:00")
    assert cr.data["communication_due_at"] == "2027-06-30T16:00:00+00:00"
    data = finish(cr, "accept", "PSG")
    assert [h["outcome"] for h in data["decision_history"]] == ["refer", "accept"]
    assert [(r["round"], r["late"]) for r in data["consultation_responses"]] == [(1, False), (2, False)]
    assert data["reference"] == "CR001" and data["consultation_round"] == 2
    assert [e for e, _ in cr.done].count("validate") == 1 and [e for e, _ in cr.done].count("triage") == 1


def test_accept_subject_to_additional_work_closes_when_every_condition_is_closed(gov, clock):
    """Each condition is an action of the PSG action log; the CCM closes each, confirms them to PSG, and only then
    is the change actioned and the request closed (every closing order: tests/scenarios/test_change_request_rules.py)."""
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="accept_with_conditions", conditions=CONDITIONS)
    assert cr.state == "approved with conditions"
    references = [c["action_reference"] for c in cr.data["conditions"]]
    assert references == ["ACT001", "ACT002"] and cr.data["decision_history"][-1]["action_references"] == references
    cr.do("communicate")
    assert cr.state == "approved with conditions" and cr.status == "running"
    tasks = cr.tasks_of("carol", "close_conditions")
    assert len(tasks) == 2 and {t.lane for t in tasks} == {"Change Control Manager"}
    assert sorted(t.due_at for t in tasks) == [utc(2027, 2, 26, 17, 0), utc(2027, 3, 12, 17, 0)]
    assert cr.tasks_of("will", "close_conditions") == [] and cr.tasks_of("pat", "close_conditions") == []
    cr.do("close_conditions", index=1, closure_summary="Readiness re-run.")
    assert (cr.status, cr.state, cr.open_tasks()) == ("running", "approved with conditions", ["close_conditions"])
    cr.do("close_conditions", closure_summary="Plan published.")
    assert cr.open_tasks() == ["confirm_conditions"] and cr.state == "approved with conditions"
    cr.do("confirm_conditions")
    assert cr.state == "conditions met" and cr.open_tasks() == ["action_change"]
    cr.do("action_change")
    record = cr.record
    data = record["data"]
    assert (record["status"], record["state"], data["final_outcome"]) == (
        "completed", "closed", "accept_with_conditions")
    assert data["approved_cost_impact_gbp"] == 300000
    closed = {c["description"]: (c["status"], c["closure_summary"]) for c in data["closed_conditions"]}
    assert set(closed) == {c["description"] for c in CONDITIONS}
    assert {s for s, _ in closed.values()} == {"closed"}
    assert {s for _, s in closed.values()} == {"Readiness re-run.", "Plan published."}
    cr.assert_history()


def test_no_consensus_sro_casts_the_deciding_vote(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="no_consensus", decision_views="Suppliers split 5-5.")
    assert cr.state == "awaiting decision" and cr.open_tasks() == ["sro_deciding_vote"]
    assert cr.tasks_of("chris", "sro_deciding_vote") == []
    [vote] = cr.tasks_of("sam", "sro_deciding_vote")
    assert (vote.lane, vote.role_id) == ("SRO", "sro")
    with pytest.raises(Forbidden):
        gov.complete(vote.id, "chris", ANSWERS["sro_deciding_vote"])
    clock.set(utc(2027, 1, 21, 10, 30))
    cr.do("sro_deciding_vote")
    data = cr.data
    assert cr.state == "approved" and data["final_decided_at"] == "2027-01-21T10:00:00+00:00"
    assert data["communication_due_at"] == "2027-02-04T17:00:00+00:00"
    finish(cr, "accept", "SRO")


def test_no_consensus_sro_requests_more_analysis(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="no_consensus", decision_views="Split.")
    cr.do("sro_deciding_vote", sro_choice="more_analysis", sro_outcome=None, analysis_requested="Cost per party.",
          sro_rationale="Not enough evidence either way.")
    data = cr.data
    assert (cr.state, cr.open_tasks()) == ("further analysis", ["impact_assessment"])
    assert data["decision_history"][-1]["outcome"] == "further_analysis" and data["assessment_round"] == 2
    cr.do("impact_assessment").do("amend")
    # reissued Mon 23 Aug 2027 09:00 BST: 10 working days over the summer bank holiday (Mon 30 Aug) → Tue 7 Sep
    clock.set(utc(2027, 8, 23, 8, 0))
    cr.do("issue_consultation")
    assert cr.state == "in consultation" and cr.data["consultation_closes_at"] == "2027-09-07T16:00:00+00:00"
    cr.at(utc(2027, 9, 7, 16, 0))
    plan_meeting(gov, "2027-09-22")
    cr.do("review").do("table", papers_published_on="2027-09-14")
    assert cr.data["decision_meeting_date"] == "2027-09-22"
    clock.set(utc(2027, 9, 22, 10, 0))
    cr.do("decide", decided_at="2027-09-22T10:00:00+01:00")
    data = finish(cr, "accept", "PSG")
    assert [(h["outcome"], h["decided_by"]) for h in data["decision_history"]] == [
        ("further_analysis", "SRO"), ("accept", "PSG")]
    assert data["consultation_response_count"] == 0


# --- Ofgem -----------------------------------------------------------------------------------------------------------

def test_single_decision_at_5m_goes_to_ofgem_just_below_does_not(gov, clock):
    at_threshold = ChangeRequest(gov, clock, title="Exactly five million")
    below = ChangeRequest(gov, clock, title="A penny under five million")
    together([at_threshold, below], amend=[{"cost_impact_gbp": 5_000_000}, {"cost_impact_gbp": 4_999_999.99}])
    below.do("decide")
    assert below.state == "approved" and below.data["ofgem_threshold_met"] is False
    at_threshold.do("decide")  # the PSG's accept is now only a recommendation
    data = at_threshold.data
    assert (data["ofgem_threshold_met"], data["threshold_reasons"]) == (
        True, "Cost or benefit impact of this decision meets the single-decision threshold")
    assert at_threshold.state == "awaiting decision" and at_threshold.open_tasks() == ["refer_to_ofgem"]
    assert at_threshold.tasks_of("chris", "refer_to_ofgem") == [] and at_threshold.tasks_of("ida") == []
    assert task_row(at_threshold, "refer_to_ofgem")["lane"] == "SRO"
    at_threshold.do("refer_to_ofgem")
    assert at_threshold.state == "with Ofgem" and at_threshold.open_tasks() == ["record_ofgem_decision"]
    assert at_threshold.tasks_of("sam", "record_ofgem_decision") == []
    assert task_row(at_threshold, "record_ofgem_decision")["lane"] == "IPA"
    # Ofgem decides Fri 30 Apr 2027; communicate within 10 working days, over the early May bank holiday (3 May)
    clock.set(utc(2027, 4, 30, 14, 0))
    at_threshold.do("record_ofgem_decision", ofgem_decided_at="2027-04-30T12:00:00+01:00")
    data = at_threshold.data
    assert at_threshold.state == "approved" and data["communication_due_at"] == "2027-05-17T16:00:00+00:00"
    assert data["decision_history"] == [{"round": 1, "decided_by": "Ofgem", "outcome": "accept",
                                         "decided_at": "2027-04-30T12:00:00+01:00", "ofgem_threshold_met": True,
                                         "decision_body": "PSG", "meeting_id": data["decision_meeting_id"],
                                         "meeting_date": "2027-01-20", "agenda_item": "Item 1: CR001",
                                         "agenda_item_id": data["agenda_item_id"]}]
    data = finish(at_threshold, "accept", "Ofgem")
    assert data["ofgem_reference"] == "OFG/2027/17" and data["approved_cost_impact_gbp"] == 5_000_000
    finish(below, "accept", "PSG")


def test_cumulative_20m_with_approved_changes_goes_to_ofgem(gov, clock):
    big = ChangeRequest(gov, clock, title="Big approved change")             # £15.5m, approved by Ofgem
    rejected = ChangeRequest(gov, clock, title="Rejected change")          # £4.9m, rejected: never counts
    at_threshold = ChangeRequest(gov, clock, title="Reaches £20m exactly")  # £4.5m → 15.5 + 4.5 = £20m
    below = ChangeRequest(gov, clock, title="A penny short of £20m")       # £4,499,999.99
    later = {"decision_meeting_date": "2027-02-17", "papers_published_on": "2027-02-09"}
    together([big, rejected, at_threshold, below],
             amend=[{"cost_impact_gbp": 15_500_000}, {"cost_impact_gbp": 4_900_000},
                    {"cost_impact_gbp": 4_500_000}, {"cost_impact_gbp": 4_499_999.99}],
             table=[{}, {}, later, later])
    clock.set(utc(2027, 1, 20, 11, 30))
    rejected.do("decide", decision_outcome="reject")
    assert rejected.data["ofgem_threshold_met"] is False and rejected.state == "rejected"
    big.do("decide").do("refer_to_ofgem")
    assert big.data["threshold_reasons"] == "Cost or benefit impact of this decision meets the single-decision threshold"
    clock.set(utc(2027, 2, 10, 12, 0))
    big.do("record_ofgem_decision", ofgem_decided_at="2027-02-10T12:00:00+00:00")
    assert big.state == "approved" and big.data["approved_cost_impact_gbp"] == 15_500_000
    clock.set(utc(2027, 2, 17, 11, 30))
    # no consensus, but the cumulative threshold is met exactly: Ofgem decides, not the SRO
    at_threshold.do("decide", decision_outcome="no_consensus", decided_at="2027-02-17T11:00:00+00:00")
    data = at_threshold.data
    assert (data["approved_impact_gbp"], data["cumulative_impact_gbp"]) == (15_500_000, 20_000_000)
    assert (data["ofgem_threshold_met"], data["threshold_reasons"]) == (
        True, "Cumulative impact with approved changes meets the cumulative threshold")
    assert at_threshold.open_tasks() == ["refer_to_ofgem"] and at_threshold.state == "awaiting decision"
    # a CR still with Ofgem is not approved: the next one is a penny short
    below.do("decide", decided_at="2027-02-17T11:00:00+00:00")
    data = below.data
    assert data["cumulative_impact_gbp"] == pytest.approx(19_999_999.99) and data["ofgem_threshold_met"] is False
    assert below.state == "approved"
    at_threshold.do("refer_to_ofgem").do("record_ofgem_decision", ofgem_outcome="reject")
    assert at_threshold.state == "rejected"
    finish(at_threshold, "reject", "Ofgem", actioned=False)
    for cr in (big, rejected, below):
        cr.assert_history()


# --- consultation, communication, tabling -----------------------------------------------------------------------

def test_consultation_window_on_time_and_late_responses(gov, clock):
    short = ChangeRequest(gov, clock, title="Seven-day consultation")
    short.do("validate").do("triage").do("impact_assessment").do("amend")
    assert short.data["consultation_window_days"] == 10  # the default from settings.yaml, changed when issuing
    clock.set(ISSUED_AT)
    short.do("issue_consultation", consultation_window_days=7)
    # 7 working days from Thu 17 Dec 2026, skipping 25 and 28 Dec: Wed 30 Dec 17:00 (a weekday count says 28 Dec)
    closes = "2026-12-30T17:00:00+00:00"
    assert short.data["consultation_closes_at"] == closes and short.timers() == {"window_closes": closes}
    assert short.data["consultation_window_days"] == 7
    with pytest.raises(Forbidden):
        gov.send_message(short.id, "consultation_response", "olive", {
            "respondent_organisation": "Ofgem", "constituency": "OTHER", "position": "neutral",
            "comments": "Observing.", "confidential": False})
    clock.set(utc(2026, 12, 18, 10, 0))
    short.respond("bob", position="support")
    clock.set(utc(2026, 12, 29, 10, 0))
    short.respond("will", respondent_organisation="Lead Delivery Partner", constituency="CENTRAL_PARTY")
    assert short.at(utc(2026, 12, 30, 16, 59)) == []
    short.respond("alice", respondent_organisation="Northern Power Supply", constituency="SUPPLIER_LARGE")
    assert short.open_tasks() == [] and short.state == "in consultation"
    # exactly at the closing moment: the engine fires the due timer first, so the response is late
    clock.set(utc(2026, 12, 30, 17, 0))
    short.respond("sam", comments="Right on the deadline.")
    assert short.open_tasks() == ["review"]
    first_review = task_row(short, "review")["id"]
    data = short.data
    assert data["consultation_closed_at"] == "2026-12-30T17:00:00+00:00"
    # a late response during the review (Mon 4 Jan 2027) is kept, marked late, and restarts the review
    clock.set(utc(2027, 1, 4, 9, 0))
    short.respond("chris", position="oppose", comments="Too late but important.")
    assert task_row(short, "review", "cancelled")["id"] == first_review
    assert task_row(short, "review")["id"] != first_review
    data = short.data
    assert [(r["sent_by"], r["late"]) for r in data["consultation_responses"]] == [
        ("bob", False), ("will", False), ("alice", False), ("sam", True), ("chris", True)]
    # a party's later response in the same round replaces its earlier one (and is late if it comes late)
    short.respond("bob", position="oppose", comments="Changed our view.")
    assert [(r["sent_by"], r["late"], r["comments"]) for r in short.data["consultation_responses"]][-1] == \
        ("bob", True, "Changed our view.")
    assert [r["sent_by"] for r in short.data["consultation_responses"]] == ["will", "alice", "sam", "chris", "bob"]
    assert [r["sent_at"] for r in data["consultation_responses"]][-1] == "2027-01-04T09:00:00+00:00"
    assert data["consultation_response_count"] == 5 and data["consultation_responses"][-1]["position"] == "oppose"
    assert short.data["consultation_response_count"] == 5
    short.do("review").do("table")
    assert short.state == "awaiting decision"
    with pytest.raises(Conflict, match="not accepting 'consultation response'"):
        short.respond("bob", comments="After tabling.")
    assert len(short.data["consultation_responses"]) == 5
    short.assert_history()


def test_communication_due_10_working_days_after_the_decision_and_flagged_overdue(gov, clock):
    # decided Tue 23 Mar 2027: 10 working days skip Good Friday (26 Mar) and Easter Monday (29 Mar) → Thu 8 Apr,
    # 17:00 BST (the clocks go forward on 28 Mar) = 16:00 UTC
    cr = ChangeRequest(gov, clock).to_decision(
        table={"decision_meeting_date": "2027-03-23", "papers_published_on": "2027-03-16"})
    cr.do("decide", decided_at="2027-03-23T11:00:00+00:00")
    due = "2027-04-08T16:00:00+00:00"
    data = cr.data
    assert (data["communication_due_on"], data["communication_due_at"]) == ("2027-04-08", due)
    assert task_row(cr, "communicate")["due_at"] == due
    assert cr.timers() == {"communication_overdue_timer": due}
    assert cr.at(utc(2027, 4, 8, 15, 59)) == [] and not cr.data.get("communication_overdue")
    fired = cr.at(utc(2027, 4, 8, 16, 0))
    assert [t["element_id"] for t in fired[0]["timers"]] == ["communication_overdue_timer"]
    record = cr.record
    assert record["status"] == "running" and cr.open_tasks() == ["communicate"]  # the task stays open
    assert record["data"].get("communication_overdue") is True, (
        "the overdue flag (a data object) is not in the instance data: " + str(sorted(record["data"])))
    [note] = record["data"]["notifications"]
    assert note["kind"] == "communication_overdue" and note["to_roles"] == ["change_control_manager", "sro"]
    assert note["reference"] == "CR001" and "2027-04-08" in note["body"]
    clock.set(utc(2027, 4, 9, 9, 0))
    cr.do("communicate", communicated_at="2027-04-09T10:00:00+01:00")
    data = finish(cr, "accept", "PSG", communicated=True)
    assert data["communication_overdue"] is True


def test_communication_overdue_is_told_to_the_ccm_and_the_sro(gov, clock):
    """DOMAIN: "overdue is flagged to the CCM and SRO" — they should each get a notice when the timer fires."""
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide")
    before = {u: len(gov.notifications(u)) for u in ("carol", "sam")}
    cr.at(datetime.fromisoformat(COMMUNICATION_DUE))
    assert cr.data.get("communication_overdue") is True
    for user in ("carol", "sam"):
        new = gov.notifications(user)[: len(gov.notifications(user)) - before[user]]
        assert any("CR001" in (n.get("subject", "") + n.get("body", "")) for n in new), (
            f"{user} was not told that the decision on CR001 is overdue for communication: {new}")


def agenda_of(gov, day: str, group: str = "PSG") -> list[str]:
    from engine.governance.meetings import meetings
    return [i["reference"] for m in meetings(gov, group) if m["held_on"].isoformat() == day for i in m["agenda"]]


def test_tabled_on_the_next_psg_meeting_whose_papers_it_can_make_across_christmas(gov, clock):
    """Ready on Tue 29 Dec 2026, a CR makes the papers of PSG on Wed 6 Jan 2027 (due 29 Dec: five working days back
    skip New Year's Day, the Boxing Day substitute on 28 Dec and Christmas Day); ready a day later, it rolls to the
    following PSG, Wed 3 Feb (papers due 27 Jan). The process places both itself, and shows where."""
    edge = ChangeRequest(gov, clock, title="Ready on the papers deadline")
    late = ChangeRequest(gov, clock, title="Ready a day after it")
    for cr in (edge, late):
        cr.do("validate").do("triage").do("impact_assessment").do("amend")
    clock.set(ISSUED_AT)
    # windows of 6 and 7 working days from Thu 17 Dec close on Tue 29 and Wed 30 Dec (25 and 28 Dec skipped)
    edge.do("issue_consultation", consultation_window_days=6)
    late.do("issue_consultation", consultation_window_days=7)
    assert edge.data["consultation_closes_at"] == "2026-12-29T17:00:00+00:00"
    edge.at(utc(2026, 12, 29, 17, 0))
    edge.do("review")
    late.at(utc(2026, 12, 30, 17, 0))
    late.do("review")
    first, second = edge.data, late.data
    assert (first["decision_meeting_date"], first["papers_due_on"], first["agenda_item"]) == (
        "2027-01-06", "2026-12-29", "Item 1: CR001")
    assert (second["decision_meeting_date"], second["papers_due_on"], second["agenda_item"]) == (
        "2027-02-03", "2027-01-27", "Item 1: CR002")
    assert agenda_of(gov, "2027-01-06") == ["CR001"] and agenda_of(gov, "2027-02-03") == ["CR002"]
    assert edge.task("table").due_at == utc(2026, 12, 29, 17, 0)  # the papers deadline, end of the working day
    assert "PSG meeting on 2027-01-06 (Item 1: CR001)" in first["agenda_note"]
    assert "due by 2026-12-29" in first["agenda_note"]
    edge.do("table", papers_published_on="2026-12-29")  # the deadline day itself is in time
    assert edge.state == "awaiting decision" and edge.open_tasks() == ["decide"]
    assert task_row(edge, "decide")["due_at"] == "2027-01-06T17:00:00+00:00"
    edge.assert_history()


def test_papers_published_late_roll_the_cr_to_the_following_meeting_across_easter(gov, clock):
    """Placed on an extraordinary PSG on Thu 1 Apr 2027 (papers due Tue 23 Mar: five working days back skip Good Friday
    and Easter Monday), the papers go out on 24 Mar: the CR leaves that agenda and goes on the next meeting whose papers
    it can make, the usual PSG on Wed 7 Apr (papers due Wed 31 Mar); the PMO tables it there in time."""
    from sqlalchemy import select
    from engine.store.models import AuditEvent
    cr = ChangeRequest(gov, clock).to_consultation()
    cr.at(WINDOW_CLOSES)
    clock.set(utc(2027, 3, 22, 9, 0))
    plan_meeting(gov, "2027-04-01")
    cr.do("review")
    data = cr.data
    assert (data["decision_meeting_date"], data["papers_due_on"]) == ("2027-04-01", "2027-03-23")
    assert agenda_of(gov, "2027-04-01") == ["CR001"]
    cr.do("table", papers_published_on="2027-03-24")
    data = cr.data
    assert data["papers_in_time"] is False and cr.state == "responses under review" and cr.open_tasks() == ["table"]
    assert (data["decision_meeting_date"], data["papers_due_on"]) == ("2027-04-07", "2027-03-31")
    assert "2027-03-23" in data["tabling_note"] and "rolls to the next meeting" in data["tabling_note"]
    assert agenda_of(gov, "2027-04-01") == [] and agenda_of(gov, "2027-04-07") == ["CR001"]
    assert task_row(cr, "table")["lane"] == "PMO"
    assert task_row(cr, "table")["due_at"] == "2027-03-31T16:00:00+00:00"  # 17:00 BST
    cr.do("table", papers_published_on="2027-03-31")  # the edge is in time
    data = cr.data
    assert (data["papers_in_time"], data["tabling_note"]) == (True, "")
    assert cr.state == "awaiting decision" and cr.open_tasks() == ["decide"]
    assert task_row(cr, "decide")["due_at"] == "2027-04-07T16:00:00+00:00"
    assert [e for e, _ in cr.done].count("table") == 2
    with gov.db.read() as session:
        rolled = [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "agenda.rolled"))]
    assert [(r["held_on"], r["ready_on"]) for r in rolled] == [("2027-04-01", "2027-03-24")]
    # the decision links back to the agenda item it was taken on
    clock.set(utc(2027, 4, 7, 11, 0))
    cr.do("decide", decided_at="2027-04-07T11:00:00+01:00")
    [entry] = cr.data["decision_history"]
    assert (entry["meeting_date"], entry["meeting_id"], entry["agenda_item_id"]) == (
        "2027-04-07", data["decision_meeting_id"], data["agenda_item_id"])
    cr.assert_history()


def test_a_group_without_meetings_has_the_pmo_plan_one(gov, clock):
    """SITAG without a usual meeting day: with none planned the PMO is told, plans an extraordinary SITAG meeting on
    the Meetings page, and the CR goes on its agenda."""
    without_meeting_cycle(gov, "SITAG")
    cr = ChangeRequest(gov, clock)
    cr.do("validate").do("triage", decision_body="SITAG").do("impact_assessment").do("amend")
    clock.set(ISSUED_AT)
    cr.do("issue_consultation")
    cr.at(WINDOW_CLOSES)
    cr.do("review")
    data = cr.data
    assert data["agenda_placed"] is False and data["decision_meeting_date"] == ""
    assert "SITAG has no meeting planned" in data["tabling_note"]
    assert any("needs a SITAG meeting" in n["subject"] for n in gov.notifications("pat"))
    assert cr.open_tasks() == ["table"]
    plan_meeting(gov, "2027-01-27", group="SITAG")
    cr.do("table", papers_published_on="2027-01-19")  # not placed yet: placed now, then tabled
    data = cr.data
    assert (data["decision_meeting_date"], data["papers_due_on"], data["agenda_placed"]) == (
        "2027-01-27", "2027-01-20", True)
    assert cr.open_tasks() == ["table"] and agenda_of(gov, "2027-01-27", "SITAG") == ["CR001"]
    cr.do("table", papers_published_on="2027-01-19")
    assert cr.state == "awaiting decision"


# --- who may act --------------------------------------------------------------------------------------------------

def test_other_roles_and_the_ofgem_observer_cannot_act(gov, clock):
    cr = ChangeRequest(gov, clock)
    with pytest.raises(Forbidden):
        gov.start("change_control", "olive", {})
    [validate] = cr.tasks_of("carol", "validate")
    for who in ("alice", "bob", "will", "pat", "chris", "sam", "ida", "olive"):
        assert cr.tasks_of(who) == [], who
        with pytest.raises(Forbidden, match="Change Control Manager"):
            gov.claim(validate.id, who)
        with pytest.raises(Forbidden):
            gov.complete(validate.id, who, ANSWERS["validate"])
    cr.to_consultation()
    assert gov.tasks("olive") == [] and gov.open_messages(cr.id, "olive") == []
    with pytest.raises(Forbidden):
        gov.send_message(cr.id, "consultation_response", "olive",
                         {"respondent_organisation": "Ofgem", "constituency": "OTHER", "position": "neutral",
                          "comments": "Observing.", "confidential": False})
    with pytest.raises(Forbidden):
        gov.withdraw(cr.id, "olive")
    assert [m["message"] for m in gov.open_messages(cr.id, "bob")] == ["consultation_response"]
    assert sorted(m["message"] for m in gov.open_messages(cr.id, "alice")) == ["consultation_response", "withdraw"]
    cr.at(WINDOW_CLOSES)
    [review] = cr.tasks_of("will", "review")
    for who in ("carol", "pat", "olive", "ida"):
        with pytest.raises(Forbidden, match="Workstream"):
            gov.complete(review.id, who, ANSWERS["review"])
    denied = [(e["actor"], e["details"]["attempted"]) for e in cr.record["history"] if e["action"] == "access.denied"]
    assert ("olive", "act") in denied and ("olive", "consultation_response") in denied
    assert ("olive", "withdraw") in denied and ("bob", "act") in denied
    assert cr.state == "responses under review" and cr.open_tasks() == ["review"]
    cr.assert_history()


# --- the decision table, row by row (SpiffWorkflow's DMN engine on the deployed file, the engine's sandbox) --------

def shipped_settings(**changes) -> dict:
    import yaml
    return {**yaml.safe_load((ROOT / "processes" / "settings.yaml").read_text()), **changes}


def _dmn_engine(settings: dict | None = None):
    """The table with the functions diagrams call (setting(), meets_threshold()) over `settings` (default: the
    shipped settings.yaml)."""
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
    from engine.bpmn.functions import clock_functions
    from engine.bpmn.sandbox import make_script_engine
    from engine.clock import Clock

    parser = SpiffBpmnParser()
    parser.add_dmn_file(str(ROOT / "processes" / "ofgem_threshold.dmn"))
    engine = parser.get_engine("ofgem_threshold", None)
    script_engine = make_script_engine(clock_functions(Clock(ISSUED_AT), settings or shipped_settings()))

    class Task:
        class workflow:  # noqa: N801 - what the DMN engine reads off a task
            pass

        def __init__(self, data):
            self.data = data

    Task.workflow.script_engine = script_engine
    return engine, Task


def _evaluate(data: dict, settings: dict | None = None) -> tuple[list[int], dict]:
    engine, Task = _dmn_engine(settings)
    task = Task(data)
    rows = [rule.row_number for rule in engine.decision_table.rules if engine._DMNEngine__check_rule(rule, task)]
    return rows, engine.result(task)


NONE = dict(tom_impact=False, cost_impact_gbp=300_000, cumulative_impact_gbp=300_000,
            consumer_competition_impact=False, level1_milestone_change=False)
CASES = {
    "within": ({}, False, WITHIN),
    "single_just_below_5m": ({"cost_impact_gbp": 4_999_999.99, "cumulative_impact_gbp": 4_999_999.99}, False, WITHIN),
    "single_exactly_5m": ({"cost_impact_gbp": 5_000_000, "cumulative_impact_gbp": 5_000_000}, True,
                          "Cost or benefit impact of this decision meets the single-decision threshold"),
    "cumulative_just_below_20m": ({"cumulative_impact_gbp": 19_999_999.99}, False, WITHIN),
    "cumulative_exactly_20m": ({"cumulative_impact_gbp": 20_000_000}, True,
                               "Cumulative impact with approved changes meets the cumulative threshold"),
    "tom": ({"tom_impact": True}, True, "Material impact on the Target Operating Model"),
    "consumers_competition": ({"consumer_competition_impact": True}, True,
                              "Material impact on consumers or competition"),
    "level1_milestone": ({"level1_milestone_change": True}, True, "Changes a Level 1 milestone"),
    "tom_and_cumulative": ({"tom_impact": True, "cumulative_impact_gbp": 25_000_000}, True,
                           "Material impact on the Target Operating Model; cumulative impact with approved changes "
                           "meets the cumulative threshold"),
    "empty_inputs": ({k: None for k in NONE}, False, WITHIN),
    "text_amount": ({"cost_impact_gbp": "6000000", "cumulative_impact_gbp": "6000000"}, True,
                    "Cost or benefit impact of this decision meets the single-decision threshold"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_ofgem_threshold_rows(case):
    overrides, met, reasons = CASES[case]
    rows, result = _evaluate({**NONE, **overrides})
    assert len(rows) == 1, f"{case}: rows {rows} matched (UNIQUE needs exactly one)"
    assert result["ofgem_threshold_met"] is met
    assert result["threshold_reasons"] == reasons, result["threshold_reasons"]


def test_ofgem_threshold_every_combination_matches_exactly_one_row():
    seen = set()
    for tom, single, cumulative, consumer, level1 in product(
            [False, True], [0, 4_999_999.99, 5_000_000], [4_999_999.99, 19_999_999.99, 20_000_000],
            [False, True], [False, True]):
        data = dict(tom_impact=tom, cost_impact_gbp=single, cumulative_impact_gbp=max(single, cumulative),
                    consumer_competition_impact=consumer, level1_milestone_change=level1)
        rows, result = _evaluate(data)
        assert len(rows) == 1, (data, rows)
        seen.add(rows[0])
        expected = tom or single >= 5e6 or cumulative >= 2e7 or consumer or level1
        assert result["ofgem_threshold_met"] is expected, (data, result)
        assert (result["threshold_reasons"] == WITHIN) is (not expected)
    assert seen == set(range(1, 33)), sorted(set(range(1, 33)) - seen)
