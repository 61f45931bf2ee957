"""The change-request rules of docs/governance-rules.md that a CR decided the plain way does not reach: a Level 1
milestone change (Ofgem, then the group's final approval), the threshold flags' reasons and the IPA's own flag, the
fifth outcome (escalate to Ofgem via the IPA), the SRO's deciding vote with the IPA's advice, a referral's action,
conditions as actions closed in any order, a lapsed request's notices, the threshold amounts and comparison as
settings, and the consultation's closing time. Each runs through the engine API on SQLite and PostgreSQL with real
dates on the test clock; tests/scenarios/RULES.md ("Change requests") maps each rule to its test."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timezone
from itertools import permutations
from pathlib import Path

import pytest

from engine.errors import Conflict, Forbidden, FormInvalid
from engine.governance import logs
from engine.governance.meetings import meetings
from engine.governance.seats import assign_seat

from ..conftest import make_govflow
from .change_control_driver import ISSUED_AT, WINDOW_CLOSES, ChangeRequest, plan_meeting, together
from .test_escalation import consider, egov, raise_escalation  # noqa: F401 (egov: the escalation fixture)
from .test_escalation import do as escalation_do

UTC = timezone.utc
ROOT = Path(__file__).resolve().parents[2]


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def psg_seats(gov) -> None:
    """Chris chairs PSG; Bob sits for small suppliers."""
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="chris")
    assign_seat(gov, "PSG", "SUPPLIER_SMALL", by="admin", holder="bob")


def told(gov, user: str, words: str) -> list[dict]:
    return [n for n in gov.notifications(user, limit=200) if words in n.get("subject", "") + n.get("body", "")]


def action_rows(gov, source: str) -> list[dict]:
    with gov.db.read() as session:
        return [r for r in logs.actions(session, gov.clock.now().date()) if r["source"] == source]


# --- a Level 1 milestone change: Ofgem approves the move, then the deciding group approves the CR ---------------------

def test_a_level_1_milestone_change_needs_ofgem_then_the_groups_final_approval(gov, clock):
    psg_seats(gov)
    cr = ChangeRequest(gov, clock).to_decision(level1_milestone_change=True,
                                               level1_milestone_reason="Moves M10, a Level 1 milestone, by four weeks.")
    cr.do("decide")
    assert (cr.data["threshold_reasons"], cr.open_tasks()) == ("Changes a Level 1 milestone", ["refer_to_ofgem"])
    cr.do("refer_to_ofgem")
    # Ofgem approves the milestone move on Wed 10 Feb 2027: not yet an approved change request
    clock.set(utc(2027, 2, 10, 14, 0))
    cr.do("record_ofgem_decision", ofgem_decided_at="2027-02-10T12:00:00+00:00")
    data = cr.data
    assert cr.state == "awaiting final approval" and cr.open_tasks() == ["final_approval"]
    assert data["approved_cost_impact_gbp"] == 0 and "communication_due_at" not in data
    [task] = cr.tasks_of("chris", "final_approval")
    assert task.lane == "Chair"
    # on the agenda of PSG's next meeting whose papers it can make: Wed 3 Mar (3 Feb's papers closed on 27 Jan)
    assert data["final_approval_meeting_date"] == "2027-03-03" and task.due_at == utc(2027, 3, 3, 17, 0)
    assert "CR001" in [i["reference"] for m in meetings(gov, "PSG") if m["held_on"] == date(2027, 3, 3)
                       for i in m["agenda"]]
    assert told(gov, "sam", "Ofgem directs you") and told(gov, "bob", "Ofgem decided CR001")
    clock.set(utc(2027, 3, 3, 11, 30))
    cr.do("final_approval")
    data = cr.data
    assert cr.state == "approved" and (data["final_outcome"], data["decided_by"]) == ("accept", "PSG")
    assert [(h["decided_by"], h["outcome"]) for h in data["decision_history"]] == [("Ofgem", "accept"), ("PSG", "accept")]
    assert data["communication_due_at"] == "2027-03-17T17:00:00+00:00"  # 10 working days after the final approval
    cr.do("communicate").do("action_change")
    assert (cr.status, cr.state) == ("completed", "closed")
    cr.assert_history()


# --- threshold flags: each with its reason wherever it is answered; the IPA's own flag -------------------------------

def test_each_threshold_flag_needs_its_reason_in_the_impact_assessment_and_the_amendment(gov, clock):
    cr = ChangeRequest(gov, clock)
    cr.do("validate").do("triage")
    for flag, reason in (("ia_tom_impact", "ia_tom_impact_reason"),
                         ("ia_consumer_competition_impact", "ia_consumer_competition_reason"),
                         ("ia_level1_milestone_change", "ia_level1_milestone_reason")):
        with pytest.raises(FormInvalid) as refused:
            cr.do("impact_assessment", **{flag: True})
        assert list(refused.value.errors) == [reason], refused.value.errors
    cr.do("impact_assessment", ia_tom_impact=True, ia_tom_impact_reason="Adds a settlement run to the TOM.")
    assert cr.data["ia_tom_impact_reason"] == "Adds a settlement run to the TOM."
    for flag, reason in (("tom_impact", "tom_impact_reason"),
                         ("consumer_competition_impact", "consumer_competition_reason"),
                         ("level1_milestone_change", "level1_milestone_reason")):
        with pytest.raises(FormInvalid) as refused:
            cr.do("amend", **{flag: True})
        assert list(refused.value.errors) == [reason], refused.value.errors
    cr.do("amend", tom_impact=True, tom_impact_reason="The assessment found a new settlement run.")
    assert cr.data["tom_impact_reason"] == "The assessment found a new settlement run."


def test_the_ipa_flags_a_threshold_on_an_open_change_request_and_ofgem_decides_it(gov, clock):
    """One CR flagged while in consultation, one while awaiting its decision: both go to Ofgem, whatever the raiser
    and the assessment said; nobody but the IPA may flag, and not without a reason or once decided."""
    early, late = ChangeRequest(gov, clock, title="Flagged in consultation"), ChangeRequest(gov, clock, title="Flagged before the decision")
    together([early, late], stop="consultation")
    for who in ("bob", "carol", "sam", "olive"):
        with pytest.raises(Forbidden):
            gov.send_message(early.id, "threshold_flag", who, {"flagged_thresholds": ["tom_impact"], "flag_reason": "x"})
    with pytest.raises(FormInvalid) as refused:
        early.flag(["tom_impact"], "")
    assert "flag_reason" in refused.value.errors
    clock.set(utc(2026, 12, 22, 10, 0))
    early.flag(["tom_impact"], "The new settlement run changes the TOM.")
    assert early.state == "in consultation" and told(gov, "carol", "The IPA flagged") and told(gov, "alice", "The IPA flagged")
    for cr in (early, late):
        cr.respond("bob")
    clock.set(WINDOW_CLOSES)
    gov.fire_due_timers(WINDOW_CLOSES)
    plan_meeting(gov, "2027-01-20")
    for cr in (early, late):
        cr.do("review").do("table")
    clock.set(utc(2027, 1, 19, 15, 0))
    late.flag(["consumer_competition_impact", "level1_milestone_change"], "Small suppliers lose their slot.")
    clock.set(utc(2027, 1, 20, 11, 30))
    for cr in (early, late):
        cr.do("decide")
        assert cr.data["ofgem_threshold_met"] is True and cr.open_tasks() == ["refer_to_ofgem"], cr.data["threshold_reasons"]
    assert early.data["threshold_reasons"] == "Material impact on the Target Operating Model"
    assert late.data["threshold_reasons"] == "Material impact on consumers or competition; changes a Level 1 milestone"
    assert [f["reason"] for f in early.data["ipa_flags"]] == ["The new settlement run changes the TOM."]
    assert early.data["ipa_flags"][0]["flagged_by"] == "ida"
    with pytest.raises(Conflict):  # decided: no longer open to a flag
        early.flag(["tom_impact"], "Again.")
    for cr in (early, late):
        cr.assert_history()


# --- the fifth outcome: escalate to Ofgem via the IPA ---------------------------------------------------------------

def test_a_group_escalates_to_ofgem_via_the_ipa_and_the_sro_and_psg_are_told(gov, clock):
    psg_seats(gov)
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="escalate_to_ofgem", decision_views="PSG finds a material TOM impact.")
    assert cr.open_tasks() == ["ipa_refer_to_ofgem"] and cr.tasks_of("sam", "ipa_refer_to_ofgem") == []
    assert cr.task("ipa_refer_to_ofgem").lane == "IPA"
    cr.do("ipa_refer_to_ofgem")
    assert (cr.state, cr.data["referred_by"], cr.open_tasks()) == ("with Ofgem", "IPA", ["record_ofgem_decision"])
    # Ofgem decides Fri 30 Apr 2027: the PMO communicates within 10 working days, over the early May bank holiday
    clock.set(utc(2027, 4, 30, 14, 0))
    cr.do("record_ofgem_decision", ofgem_decided_at="2027-04-30T12:00:00+01:00", ofgem_direction="Implement by June.")
    data = cr.data
    assert cr.state == "approved" and (data["decided_by"], data["final_outcome"]) == ("Ofgem", "accept")
    [sro_notice] = told(gov, "sam", "Ofgem directs you")
    assert "Implement by June." in sro_notice["body"] and "referred by the IPA" in sro_notice["body"]
    assert told(gov, "chris", "Ofgem decided CR001") and told(gov, "bob", "Ofgem decided CR001")
    assert told(gov, "will", "Ofgem decided CR001") == []  # not in PSG
    assert cr.task("communicate").due_at == utc(2027, 5, 17, 16, 0)
    assert cr.data["decision_history"][-1]["outcome"] == "accept"
    cr.do("communicate").do("action_change")
    assert cr.state == "closed"
    cr.assert_history()


def test_an_advisory_group_escalating_to_ofgem_refers_it_to_psg_first(gov, clock):
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder="chris")
    cr = ChangeRequest(gov, clock)
    cr.do("validate").do("triage", decision_body="DAG").do("impact_assessment").do("amend")
    clock.set(ISSUED_AT)
    cr.do("issue_consultation")
    cr.at(WINDOW_CLOSES)
    cr.do("review").do("table", papers_published_on="2027-01-06")
    clock.set(utc(2027, 1, 13, 11, 30))
    cr.do("decide", decision_outcome="escalate_to_ofgem", decided_at="2027-01-13T11:00:00+00:00")
    data = cr.data
    assert (data["decision_body"], data["referred_from"], cr.open_tasks()) == ("PSG", "DAG", ["table"])
    assert data["decision_history"][-1]["recommendation"] == "escalate_to_ofgem"


# --- the SRO's deciding vote records the IPA's advice, or that none was given ---------------------------------------

def test_the_sros_deciding_vote_needs_the_ipas_advice_or_no_advice_given(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="no_consensus", decision_views="Suppliers split 5-5.")
    with pytest.raises(FormInvalid) as refused:
        cr.do("sro_deciding_vote", ipa_advice_given=None, ipa_advice=None)
    assert refused.value.errors == {"ipa_advice_given": "Record the IPA's advice, or say that the IPA gave none: the "
                                                        "SRO decides taking any advice from the IPA into account"}
    with pytest.raises(FormInvalid) as refused:
        cr.do("sro_deciding_vote", ipa_advice_given="given", ipa_advice="")
    assert list(refused.value.errors) == ["ipa_advice"]
    assert cr.open_tasks() == ["sro_deciding_vote"]
    cr.do("sro_deciding_vote", ipa_advice_given="none_given", ipa_advice=None)
    entry = cr.data["decision_history"][-1]
    assert (entry["decided_by"], entry["outcome"], entry["ipa_advice"]) == ("SRO", "accept", "No advice given")


def test_the_sros_deciding_vote_keeps_the_advice_the_ipa_gave(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="no_consensus", decision_views="Split.")
    cr.do("sro_deciding_vote", ipa_advice_given="given", ipa_advice="Accept, with a review in March.")
    assert cr.data["decision_history"][-1]["ipa_advice"] == "Accept, with a review in March."


def test_the_sros_decision_on_an_escalation_psg_could_not_agree_needs_the_ipas_advice_or_none(egov, clock):
    """The same rule for an escalation: PSG passes it up without consensus, and the SRO's decision is refused until
    it records the IPA's advice or that none was given (escalation/sro_consider.schema.json)."""
    iid = raise_escalation(egov, route="group", origin_group="DAG").instance_id
    clock.set(utc(2027, 1, 6, 15, 0))
    assert consider(egov, "sam", iid, "escalate", "No consensus at PSG.", "2027-01-06").state == "with the SRO"
    clock.set(utc(2027, 1, 7, 10, 0))
    decision = {"sro_decision": "resolve", "sro_outcome": "Slots shared by size.", "decided_on": "2027-01-07"}
    with pytest.raises(FormInvalid) as refused:
        escalation_do(egov, "sam", iid, "sro_consider", **decision)
    assert refused.value.errors == {"ipa_advice_given": "Record the IPA's advice, or say that the IPA gave none: the "
                                                        "SRO decides taking any advice from the IPA into account"}
    with pytest.raises(FormInvalid) as refused:
        escalation_do(egov, "sam", iid, "sro_consider", ipa_advice_given="given", **decision)
    assert list(refused.value.errors) == ["ipa_advice_to_sro"]
    escalation_do(egov, "sam", iid, "sro_consider", ipa_advice_given="none_given", **decision)
    level = egov.show(iid)["data"]["levels"][-1]
    assert (level["level"], level["result"], level["ipa_advice"]) == ("SRO", "resolved", "No advice given")


# --- refer for additional work: an action in the log, then the impact assessment again ------------------------------

def test_refer_for_additional_work_logs_an_action_linked_to_the_cr(gov, clock):
    cr = ChangeRequest(gov, clock).to_decision()
    with pytest.raises(FormInvalid) as refused:
        cr.do("decide", decision_outcome="refer", decision_views="Needs a cost breakdown.")
    assert set(refused.value.errors) == {"referral_work", "referral_owner", "referral_due_on"}
    cr.do("decide", decision_outcome="refer", decision_views="Needs a cost breakdown.",
          referral_work="Break the cost down by party.", referral_owner="will", referral_due_on="2027-02-19")
    data = cr.data
    assert (cr.state, cr.open_tasks(), data["assessment_round"]) == ("referred", ["impact_assessment"], 2)
    [action] = action_rows(gov, "CR001 referred for additional work")
    assert (action["title"], action["owner"], action["due_on"], action["group_id"], action["status"]) == (
        "CR001: Break the cost down by party.", "will", "2027-02-19", "PSG", "open")
    assert data["referral_actions"] == [{"action": "Break the cost down by party.", "owner": "will",
                                         "due_on": "2027-02-19", "round": 1, "reference": action["reference"]}]
    assert data["decision_history"][-1]["action_reference"] == action["reference"]
    # overdue on Mon 22 Feb: reminded to its owner like any action of the log
    with gov.db.write() as session:
        reminded = logs.remind_overdue_actions(session, utc(2027, 2, 22, 8, 0), date(2027, 2, 22), {
            "papers_days_before_meeting": 5})
    assert [r["reference"] for r in reminded] == [action["reference"]] and told(gov, "will", action["reference"])


# --- accept subject to conditions: actions closed in any order, confirmed to the group, then the CR closes ------------

CONDITION_SETS = {
    2: [{"description": "Publish the revised plan", "owner": "pat", "due_date": "2027-02-26"},
        {"description": "Re-run the wave 2 readiness check", "owner": "will", "due_date": "2027-03-12"}],
    3: [{"description": "Publish the revised plan", "owner": "pat", "due_date": "2027-02-26"},
        {"description": "Re-run the wave 2 readiness check", "owner": "will", "due_date": "2027-03-12"},
        {"description": "Brief the qualification suppliers", "owner": "carol", "due_date": "2027-03-19"}],
}
ORDERS = [(n, order) for n in (2, 3) for order in permutations(range(n))]


def test_conditions_close_in_any_order_then_the_ccm_confirms_them_before_the_cr_closes(gov, clock, database_url,
                                                                                        tmp_path):
    """Every order of closing 2 and 3 conditions (8 change requests side by side), each closure its own command on a
    fresh engine: the CR is never implemented while a condition is open; the last closure asks the CCM to confirm the
    conditions to the deciding group, and only then is the change actioned and the CR closed."""
    psg_seats(gov)
    crs = together([ChangeRequest(gov, clock, title=f"Conditional change {n}") for n in range(len(ORDERS))])
    for cr, (n, _order) in zip(crs, ORDERS):
        cr.do("decide", decision_outcome="accept_with_conditions", conditions=CONDITION_SETS[n])
        assert cr.state == "approved with conditions"
        cr.do("communicate")
    clock.set(utc(2027, 2, 15, 10, 0))
    for cr, (n, order) in zip(crs, ORDERS):
        actions = action_rows(gov, f"Condition of {cr.data['reference']}")
        assert [(a["owner"], a["due_on"], a["status"]) for a in actions] == [
            (c["owner"], c["due_date"], "open") for c in CONDITION_SETS[n]], (order, actions)
        by_description = {a["title"].split(" condition: ")[1]: a["reference"] for a in actions}
        ready = cr.tasks_of("carol", "close_conditions")
        due = {t.due_at.date().isoformat(): t for t in ready}  # one task per condition, due at its due date
        assert len(ready) == len(due) == n
        for step, index in enumerate(order, 1):
            condition = CONDITION_SETS[n][index]
            task = due[condition["due_date"]]
            fresh = make_govflow(database_url, tmp_path, clock)
            try:
                fresh.claim(task.id, "carol")
                fresh.complete(task.id, "carol", {"closure_summary": f"Closed {condition['description']}",
                                                  "closed_on": "2027-02-15"})
            finally:
                fresh.db.dispose()
            cr.done.append(("close_conditions", "carol"))
            statuses = {a["reference"]: a["status"] for a in action_rows(gov, f"Condition of {cr.data['reference']}")}
            closed = {by_description[CONDITION_SETS[n][i]["description"]] for i in order[:step]}
            assert {ref for ref, s in statuses.items() if s == "done"} == closed, (order, step, statuses)
            assert cr.state == "approved with conditions" and cr.status == "running", (order, step)
            expected = ["confirm_conditions"] if step == n else ["close_conditions"] * (n - step)
            assert cr.open_tasks() == expected, (order, step, cr.open_tasks())
        assert sorted(c["closure_summary"] for c in cr.data["closed_conditions"]) == sorted(
            f"Closed {c['description']}" for c in CONDITION_SETS[n])
        assert cr.tasks_of("will", "action_change") == []  # not implemented while unconfirmed
        cr.do("confirm_conditions")
        assert cr.state == "conditions met" and cr.open_tasks() == ["action_change"]
        assert cr.data["conditions_confirmed_to"] == "PSG"
        cr.do("action_change")
        assert (cr.status, cr.state) == ("completed", "closed"), order
        cr.assert_history()
    assert len(told(gov, "bob", "Conditions met")) == len(ORDERS)  # the deciding group was told each time


# --- a lapsed change request tells its raiser and the CCM why -------------------------------------------------------

def test_a_lapsed_change_request_tells_its_raiser_and_the_ccm_why(gov, clock):
    cr = ChangeRequest(gov, clock)
    clock.set(utc(2026, 12, 15, 9, 0))
    cr.do("validate", valid=False, validation_issues="Say which milestone moves, and by how much.")
    cr.at(utc(2027, 1, 15, 9, 0))  # 20 working days later, over Christmas
    assert (cr.status, cr.state) == ("completed", "withdrawn")
    for user in ("alice", "carol"):
        [notice] = told(gov, user, "lapsed")
        assert "Say which milestone moves, and by how much." in notice["body"], notice
        assert "2026-12-15" in notice["body"] and "20 working days" in notice["body"] and "2027-01-15" in notice["body"]
    assert told(gov, "bob", "lapsed") == []


# --- the Ofgem threshold amounts and the comparison are settings, each written once ---------------------------------

def test_the_threshold_amounts_and_the_comparison_are_each_one_setting(gov, clock, tmp_path):
    """The decision table holds no amount and no comparison; changing `ofgem_threshold_comparison` to '>' in
    settings.yaml (and nothing else) and deploying makes exactly £5m a PSG decision, while £5m and a penny still goes
    to Ofgem; the amounts move the same way."""
    from lxml import etree
    dmn = etree.parse(str(ROOT / "processes" / "ofgem_threshold.dmn"))
    cells = [t.text or "" for t in dmn.iter("{*}text")]  # input expressions, input and output cells
    assert len(cells) == 5 + 32 * 7
    for literal in ("5000000", "20000000", ">", "<", "£", "5m", "20m"):
        assert not [c for c in cells if literal in c], literal
    settings_text = (ROOT / "processes" / "settings.yaml").read_text()
    for name in ("ofgem_single_decision_threshold_gbp", "ofgem_cumulative_threshold_gbp", "ofgem_threshold_comparison"):
        assert settings_text.count(f"\n{name}:") == 1, name
    changed = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", changed)
    (changed / "settings.yaml").write_text(settings_text.replace('ofgem_threshold_comparison: ">="',
                                                                 'ofgem_threshold_comparison: ">"'))
    gov.deploy([changed], note="strictly more than the threshold")
    exact, above = ChangeRequest(gov, clock, title="Exactly five million"), ChangeRequest(gov, clock, title="Just above")
    together([exact, above], amend=[{"cost_impact_gbp": 5_000_000}, {"cost_impact_gbp": 5_000_000.01}])
    exact.do("decide")
    above.do("decide")
    assert (exact.state, exact.data["ofgem_threshold_met"]) == ("approved", False)
    assert above.data["ofgem_threshold_met"] is True and above.open_tasks() == ["refer_to_ofgem"]
    # the amount itself: £6m single-decision threshold, back to '>='
    (changed / "settings.yaml").write_text(settings_text.replace("ofgem_single_decision_threshold_gbp: 5000000",
                                                                 "ofgem_single_decision_threshold_gbp: 6000000"))
    gov.deploy([changed], note="six million")
    five = ChangeRequest(gov, clock, title="Five and a half million")
    together([five], amend=[{"cost_impact_gbp": 5_500_000}],
             table=[{"decision_meeting_date": "2027-02-17", "papers_published_on": "2027-02-09"}])
    five.do("decide", decided_at="2027-02-17T11:00:00+00:00")
    assert five.state == "approved" and five.data["single_threshold_gbp"] == 6_000_000


def test_a_comparison_other_than_at_or_above_or_above_is_refused_at_validation(gov, tmp_path):
    changed = tmp_path / "processes"
    shutil.copytree(ROOT / "processes", changed)
    text = (changed / "settings.yaml").read_text()
    (changed / "settings.yaml").write_text(text.replace('ofgem_threshold_comparison: ">="',
                                                        'ofgem_threshold_comparison: "=>"'))
    with pytest.raises(Exception, match="ofgem_threshold_comparison is '=>'.*compares an amount"):
        gov.deploy([changed], note="a typo in the comparison")


# --- the consultation's closing time, and the state after it ---------------------------------------------------------

def test_the_consultation_closes_at_its_window_and_responses_are_then_under_review(gov, clock):
    """The scheduler runs the next morning (Wed 6 Jan 2027, 09:00), after the window closed on Tue 5 Jan at 17:00:
    `consultation_closed_at` is still the window's 17:00, and the state says the responses are under review."""
    cr = ChangeRequest(gov, clock).to_consultation()
    cr.respond("bob")
    late_run = utc(2027, 1, 6, 9, 0)
    clock.set(late_run)
    fired = gov.fire_due_timers(late_run)
    assert [f["instance_id"] for f in fired] == [cr.id]
    data = cr.data
    assert data["consultation_closed_at"] == WINDOW_CLOSES.isoformat() == data["consultation_closes_at"]
    assert cr.state == "responses under review" and cr.open_tasks() == ["review"]
    cr.respond("alice", respondent_organisation="Northern Power Supply", constituency="SUPPLIER_LARGE",
               comments="After the window.")  # another party (a party's second response replaces its first)
    assert [r["late"] for r in cr.data["consultation_responses"]] == [False, True]
    assert cr.state == "responses under review"
