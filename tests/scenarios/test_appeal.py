"""Appeal scenarios (docs/governance-rules.md, "Appeal"; framework 3.7) through the engine API, one test per rule:
lodged within the window (working days from the decision's communication, across Christmas bank holidays), refused
out of time, a second appeal on the same decision refused (the IPA's decision is final), upheld and enacted by the
SRO reopening the change request (a new change_control instance with the same reference, re-entering at the impact
assessment), and dismissed. Plus the cumulative Ofgem threshold shown to the deciding group with its headroom."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select

from engine.store.models import Instance

UTC = timezone.utc

LODGE = {"decision_reference": "CR001", "decision_summary": "PSG rejected CR001 (move the M10 milestone).",
         "decision_date": "2026-12-09", "decision_communicated_on": "2026-12-14",
         "grounds": "The consultation responses of small suppliers were not put to PSG.",
         "desired_outcome": "Reconsider CR001 with every response.", "appellant_organisation": "Small Energy Co"}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ---- driving the engine API -----------------------------------------------------------------------------------------

def task(gov, username, instance_id, element_id):
    found = [t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == element_id]
    assert found, f"{username} has no '{element_id}' on {instance_id}: {[t.element_id for t in gov.tasks(username)]}"
    return found[0]


def do(gov, username, instance_id, element_id, **data):
    return gov.complete(task(gov, username, instance_id, element_id).id, username, data)


def open_elements(gov, instance_id):
    return sorted((t["element_id"], t["lane"]) for t in gov.show(instance_id)["tasks"] if t["status"] == "ready")


def lodge(gov, clock, moment, username="bob", **overrides):
    clock.set(moment)
    return gov.start("appeal", username, {**LODGE, **overrides})


def assess(gov, iid):
    return do(gov, "ida", iid, "assess_appeal", criteria_assessment="Procedural fairness criterion engaged.",
              assessed_on="2027-01-04")


def decide(gov, iid, outcome, reopen=False):
    return do(gov, "ida", iid, "decide_appeal", appeal_outcome=outcome, decision_reasons="Responses were omitted.",
              recommendations=[{"recommendation": "Reopen CR001 and table every response."}],
              recommend_reopen=reopen, appeal_decided_on="2027-01-05")


# ---- a change request, raised and decided through the engine (processes/change_control.bpmn) ---------------------------

CR_RAISE = {
    "title": "Move the M10 qualification milestone by four weeks",
    "problem_statement": "Qualification testing capacity is short in Q2.",
    "proposed_change": "Move M10 by four weeks.", "justification": "Avoids a failed qualification window.",
    "impacted_artefacts": "Programme plan v5.2", "impacted_milestones": "M10",
    "impacted_constituencies": ["SUPPLIER_LARGE", "SUPPLIER_SMALL"], "impacted_parties": "Wave 2 suppliers",
    "urgency": "urgent", "requested_decision_date": "2027-01-13", "cost_impact_gbp": 250000,
    "benefit_estimate_gbp": 400000, "tom_impact": False, "consumer_competition_impact": False,
    "level1_milestone_change": False, "raiser_organisation": "Northern Power Supply",
    "raiser_contact_email": "alice@example.org"}


def change_request_to_decision(gov, clock, cost=300000, title=None):
    """Raise, validate, triage, assess, amend, consult (the window closes on its timer), review and table."""
    iid = gov.start("change_control", "alice", {**CR_RAISE, **({"title": title} if title else {})}).instance_id
    do(gov, "carol", iid, "validate", valid=True, validation_notes="Complete.")
    do(gov, "carol", iid, "triage", category="plan", decision_body="PSG", urgency="urgent",
       assessing_workstreams="Testing")
    do(gov, "will", iid, "impact_assessment", ia_summary="Four weeks' slip.", ia_cost_estimate_gbp=cost,
       ia_benefit_estimate_gbp=500000, ia_schedule_impact="M10 moves.", ia_tom_impact=False,
       ia_consumer_competition_impact=False, ia_level1_milestone_change=False)
    do(gov, "carol", iid, "amend", title=title or CR_RAISE["title"], proposed_change=CR_RAISE["proposed_change"],
       amendment_summary="Assessed cost added.", cost_impact_gbp=cost, tom_impact=False,
       consumer_competition_impact=False, level1_milestone_change=False)
    do(gov, "carol", iid, "issue_consultation", consultation_window_days=10,
       consultation_questions="Do you support it?", consultation_channels=["portal"])
    closes = datetime.fromisoformat(gov.show(iid)["data"]["consultation_closes_at"])
    clock.set(closes + timedelta(minutes=1))
    gov.fire_due_timers()
    do(gov, "will", iid, "review", review_summary="Mixed.", recommendation="reject", recommendation_rationale="Cost.")
    placed = gov.show(iid)["data"]  # on the agenda of the next PSG whose papers it can make
    do(gov, "pat", iid, "table", papers_published_on=placed["papers_due_on"])
    return iid, date.fromisoformat(placed["decision_meeting_date"])


def decide_change_request(gov, clock, iid, meeting, outcome):
    clock.set(at(meeting.year, meeting.month, meeting.day, 11))
    do(gov, "chris", iid, "decide", decision_outcome=outcome, decision_views="Consensus.",
       decided_at=f"{meeting.isoformat()}T11:00:00+00:00", recording_reference="PSG recording 01:12:30")
    clock.set(clock.now() + timedelta(days=1))
    do(gov, "pat", iid, "communicate", communicated_at=clock.now().isoformat(), communication_channels=["portal"],
       communication_summary=f"PSG decided: {outcome}.")


def reopen_after_upheld_appeal(gov, clock, summary="CR001 reopened."):
    """CR001 rejected at PSG, appealed, upheld and reopened by the SRO: (first instance, meeting day, reopened one)."""
    cr, meeting = change_request_to_decision(gov, clock)
    decide_change_request(gov, clock, cr, meeting, "reject")
    appeal = lodge(gov, clock, clock.now() + timedelta(days=5), decision_date=meeting.isoformat(),
                   decision_communicated_on=clock.now().date().isoformat()).instance_id
    assess(gov, appeal)
    decide(gov, appeal, "upheld", reopen=True)
    do(gov, "sam", appeal, "enact", enactment_summary=summary, reopen_change_request=True,
       enacted_on=clock.now().date().isoformat())
    with gov.db.read() as session:
        reopened = session.scalars(select(Instance.id).where(Instance.reference == "CR001", Instance.id != cr)).one()
    return cr, meeting, reopened

# ---- the window ---------------------------------------------------------------------------------------------------------

def test_an_appeal_within_the_window_across_the_christmas_bank_holidays_is_heard(gov, clock):
    # communicated Mon 14 Dec 2026; 10 working days skip Fri 25 and Mon 28 Dec (Boxing Day observed): Wed 30 Dec
    started = lodge(gov, clock, at(2026, 12, 30, 16))
    shown = gov.show(started.instance_id)
    assert started.reference == "APP001" and started.state == "under assessment"
    assert shown["title"] == "Appeal against CR001"
    assert shown["data"]["appeal_deadline_on"] == "2026-12-30" and shown["data"]["admitted"] is True
    assert open_elements(gov, started.instance_id) == [("assess_appeal", "IPA")]
    assert [t.element_id for t in gov.tasks("bob") if t.instance_id == started.instance_id] == []


def test_an_appeal_out_of_time_is_refused(gov, clock):
    started = lodge(gov, clock, at(2026, 12, 31, 10))
    shown = gov.show(started.instance_id)
    assert started.status == "completed" and started.state == "out of time"
    assert shown["data"]["refusal_reason"] == (
        "Appeals against CR001 had to be lodged by 2026-12-30 (10 working days after it was communicated on "
        "2026-12-14). This appeal was lodged on 2026-12-31.")
    assert any(n["subject"] == "APP001 out of time" for n in gov.notifications("bob"))
    assert shown["tasks"] == []


def test_a_second_appeal_on_the_same_decision_is_refused_as_final(gov, clock):
    first = lodge(gov, clock, at(2026, 12, 15, 10))
    assert first.state == "under assessment"
    # an appeal on another decision is unaffected
    assert lodge(gov, clock, at(2026, 12, 15, 11), decision_reference="CR002").state == "under assessment"
    second = lodge(gov, clock, at(2026, 12, 16, 10), username="alice")
    assert second.status == "completed" and second.state == "refused: final"
    reason = gov.show(second.instance_id)["data"]["refusal_reason"]
    assert reason == ("The IPA has already heard an appeal against CR001. Its decision on an appeal is final, "
                      "so the decision cannot be appealed again.")
    assert any(n["body"] == reason for n in gov.notifications("alice"))
    # still refused once the first appeal is decided
    assess(gov, first.instance_id)
    decide(gov, first.instance_id, "dismissed")
    assert lodge(gov, clock, at(2026, 12, 17, 10)).state == "refused: final"


def test_an_out_of_time_appeal_does_not_use_up_the_right_of_appeal(gov, clock):
    assert lodge(gov, clock, at(2026, 12, 31, 10), decision_communicated_on="2026-12-01").state == "out of time"
    assert lodge(gov, clock, at(2026, 12, 31, 11)).state == "out of time"
    assert lodge(gov, clock, at(2026, 12, 30, 11)).state == "under assessment"


# ---- the IPA's decision --------------------------------------------------------------------------------------------------

def test_a_dismissed_appeal_ends_without_the_sro(gov, clock):
    iid = lodge(gov, clock, at(2026, 12, 15, 10)).instance_id
    assess(gov, iid)
    done = decide(gov, iid, "dismissed")
    shown = gov.show(iid)
    assert done.status == "completed" and done.state == "dismissed" and shown["data"]["final"] is True
    assert [t["element_id"] for t in shown["tasks"]] == ["assess_appeal", "decide_appeal"]
    assert any(n["subject"] == "APP001 dismissed" for n in gov.notifications("bob"))


def test_an_upheld_appeal_is_enacted_by_the_sro_reopening_the_change_request(gov, clock):
    cr, meeting = change_request_to_decision(gov, clock)
    decide_change_request(gov, clock, cr, meeting, "reject")
    rejected = gov.show(cr)
    assert rejected["reference"] == "CR001" and rejected["state"] == "closed" and rejected["status"] == "completed"
    communicated = clock.now().date()

    iid = lodge(gov, clock, clock.now() + timedelta(days=5), decision_date=meeting.isoformat(),
                decision_communicated_on=communicated.isoformat()).instance_id
    assess(gov, iid)
    assert decide(gov, iid, "upheld", reopen=True).state == "upheld"
    assert open_elements(gov, iid) == [("enact", "SRO")]
    done = do(gov, "sam", iid, "enact", enactment_summary="CR001 reopened for a fresh assessment.",
              reopen_change_request=True, enacted_on=clock.now().date().isoformat())
    assert done.status == "completed" and done.state == "enacted"
    assert gov.show(iid)["data"]["reopened_change_request"] == "CR001"

    with gov.db.read() as session:
        instances = session.execute(select(Instance.id, Instance.status, Instance.state).where(
            Instance.process_id == "change_control", Instance.reference == "CR001").order_by(Instance.id)).all()
    assert len(instances) == 2 and instances[0].id == cr
    reopened = gov.show(instances[1].id)
    # it re-enters change control at the impact assessment, keeping its number, title and raiser
    assert reopened["status"] == "running" and reopened["state"] == "impact assessment"
    assert reopened["title"] == CR_RAISE["title"] and reopened["data"]["raised_by"] == "alice"
    assert reopened["data"]["reopened_by_appeal"] == "APP001"
    assert open_elements(gov, reopened["id"]) == [("impact_assessment", "Workstream")]
    assert "validate" not in [t["element_id"] for t in reopened["tasks"]]
    # it keeps its history: the decisions taken before, and the instance it was reopened from
    assert reopened["data"]["reopened_from"] == cr
    assert [(d["outcome"], d["decided_by"], d["instance_id"], d["meeting_date"])
            for d in reopened["data"]["previous_decisions"]] == [("reject", "PSG", cr, meeting.isoformat())]
    from engine.governance import logs
    with gov.db.read() as session:
        rows = [r for r in logs.decisions(session) if r["reference"] == "CR001"]
    assert [(r["instance_id"], r["outcome"], r["history"]) for r in rows] == [
        (cr, "Reject", f"Reopened after APP001 as instance {reopened['id']}")]


def test_an_upheld_appeal_without_reopening_just_records_the_enactment(gov, clock):
    iid = lodge(gov, clock, at(2026, 12, 15, 10), decision_reference="ESC004").instance_id
    assess(gov, iid)
    decide(gov, iid, "upheld")
    done = do(gov, "sam", iid, "enact", enactment_summary="PSG to reconsider ESC004.", reopen_change_request=False,
              enacted_on="2027-01-06")
    assert done.state == "enacted" and gov.show(iid)["data"]["reopened_change_request"] == ""


# ---- the cumulative Ofgem threshold, shown with its headroom -----------------------------------------------------------

def test_the_deciding_group_sees_the_approved_total_and_the_headroom(gov, clock):
    first, meeting = change_request_to_decision(gov, clock, cost=300000)
    decide_change_request(gov, clock, first, meeting, "accept")
    assert gov.show(first)["state"] in ("approved", "implemented", "closed")
    second, _ = change_request_to_decision(gov, clock, cost=1_000_000, title="Second change")
    data = gov.show(second)["data"]
    assert data["approved_impact_gbp"] == 300000 and data["cumulative_headroom_gbp"] == 19_700_000
    decide_task = task(gov, "chris", second, "decide")
    compiled_instructions = _instructions(gov, second, "decide")
    assert "{{ cumulative_headroom_gbp | money }}" in compiled_instructions and decide_task.name == "Record the decision"


def _instructions(gov, instance_id, element_id):
    with gov.db.read() as session:
        version_id = session.get(Instance, instance_id).process_version_id
        return gov.repository.compiled(session, version_id).elements[element_id].instructions
