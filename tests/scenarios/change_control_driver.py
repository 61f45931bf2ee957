"""Drive one change request (processes/change_control.bpmn) through the engine API only.

`ChangeRequest(gov, clock)` starts an instance; `plan_meeting(gov, day)` has the PMO add an extraordinary PSG meeting
(the reviewed CR goes on the agenda of the next meeting whose papers deadline it can make, so plan it before the
review); `do(element_id, as_user, **overrides)` finds that element's open task
for this instance in `gov.tasks(user)`, claims it and completes it with the default answers below (an override of
None leaves the field out); `respond(user, **overrides)` sends a consultation response; `at(moment)` moves the clock
and fires due timers; `state`, `status`, `data` and `record` read `gov.show(...)`. Every completion is logged so a test
can check the instance's audit history names who did each step.
"""
from __future__ import annotations

from copy import deepcopy
from datetime import datetime, timezone

UTC = timezone.utc

RAISE = {
    "title": "Move the M10 qualification milestone by four weeks",
    "problem_statement": "Qualification testing capacity is short in Q1 2027.",
    "proposed_change": "Move M10 from 1 March to 29 March 2027.",
    "justification": "Avoids a failed qualification window for 12 suppliers.",
    "impacted_artefacts": "Programme plan v5.2",
    "impacted_milestones": "M10",
    "impacted_constituencies": ["SUPPLIER_LARGE", "SUPPLIER_SMALL"],
    "impacted_parties": "Suppliers in qualification wave 2",
    "urgency": "urgent",
    "requested_decision_date": "2027-01-20",
    "cost_impact_gbp": 250000,
    "benefit_estimate_gbp": 400000,
    "tom_impact": False,
    "consumer_competition_impact": False,
    "level1_milestone_change": False,
    "raiser_organisation": "Northern Power Supply",
    "raiser_contact_email": "alice@example.org",
}

# The standard timeline: issued Thu 17 Dec 2026, so the 10-working-day window crosses Christmas (Fri 25 Dec, Mon
# 28 Dec observed Boxing Day) and New Year (Fri 1 Jan 2027) and closes Tue 5 Jan 2027 at 17:00 (GMT).
ISSUED_AT = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)
WINDOW_CLOSES = datetime(2027, 1, 5, 17, 0, tzinfo=UTC)
MEETING = "2027-01-20"            # an extraordinary PSG meeting (a Wednesday); papers due Wed 13 Jan
DECIDED_AT = "2027-01-20T11:00:00+00:00"
DECISION_MOMENT = datetime(2027, 1, 20, 11, 30, tzinfo=UTC)
# 10 working days after Wed 20 Jan 2027 → Wed 3 Feb, end of the working day (17:00 GMT)
COMMUNICATION_DUE = "2027-02-03T17:00:00+00:00"

ANSWERS = {
    "validate": {"valid": True, "validation_notes": "Complete."},
    "resolve_issues": {**RAISE, "response_to_issues": "Added the impacted milestone and a justification."},
    "triage": {"category": "plan", "decision_body": "PSG", "urgency": "urgent",
               "assessing_workstreams": "Testing, Programme planning"},
    "impact_assessment": {"ia_summary": "Four weeks' slip for wave 2 only.", "ia_cost_estimate_gbp": 300000,
                          "ia_benefit_estimate_gbp": 500000, "ia_schedule_impact": "M10 moves 4 weeks.",
                          "ia_tom_impact": False, "ia_consumer_competition_impact": False,
                          "ia_level1_milestone_change": False},
    "amend": {"title": RAISE["title"], "proposed_change": RAISE["proposed_change"],
              "amendment_summary": "Added the assessed cost.", "cost_impact_gbp": 300000, "tom_impact": False,
              "consumer_competition_impact": False, "level1_milestone_change": False},
    "issue_consultation": {"consultation_window_days": 10, "consultation_questions": "Do you support the move?",
                           "consultation_channels": ["portal", "newsletter"]},
    "review": {"review_summary": "Broad support.", "recommendation": "accept",
               "recommendation_rationale": "Low cost, avoids failure."},
    "table": {"papers_published_on": "2027-01-12"},
    "decide": {"decision_outcome": "accept", "decision_views": "Consensus to accept.", "decided_at": DECIDED_AT,
               "recording_reference": "PSG 2027-01-20 recording 01:12:30"},
    "sro_deciding_vote": {"sro_choice": "decide", "sro_outcome": "accept", "ipa_advice_given": "given",
                          "ipa_advice": "Proceed.",
                          "sro_rationale": "Benefits outweigh the cost.",
                          "sro_decided_at": "2027-01-21T10:00:00+00:00"},
    "chair_decides": {"chair_choice": "decide", "chair_outcome": "accept",
                      "chair_rationale": "Low cost, avoids failure.", "chair_decided_at": "2027-01-13T15:00:00+00:00"},
    "refer_to_ofgem": {"referral_summary": "Above an Ofgem threshold.", "referred_at": "2027-01-21T10:00:00+00:00"},
    "ipa_refer_to_ofgem": {"referral_summary": "PSG finds it meets the TOM threshold.", "ipa_advice": "Ofgem should decide.",
                           "referred_at": "2027-01-21T10:00:00+00:00"},
    "final_approval": {"final_approval_outcome": "accept", "final_approval_views": "PSG gives its final approval.",
                       "final_approval_decided_at": "2027-03-03T11:00:00+00:00",
                       "final_approval_recording": "PSG 2027-03-03 recording 00:40:00"},
    "confirm_conditions": {"confirmation_summary": "Both conditions met; evidence on the portal.",
                           "confirmed_on": "2027-03-15"},
    "record_ofgem_decision": {"ofgem_outcome": "accept", "ofgem_direction": "Implement as proposed.",
                              "ofgem_decided_at": "2027-02-10T12:00:00+00:00", "ofgem_reference": "OFG/2027/17"},
    "communicate": {"communicated_at": "2027-01-25T09:00:00+00:00", "communication_channels": ["portal"],
                    "communication_summary": "PSG accepted the change."},
    "action_change": {"implementation_summary": "Plan re-baselined.", "implemented_on": "2027-02-01"},
    "close_conditions": {"closure_summary": "Done and evidenced.", "closed_on": "2027-02-15"},
}
RESPONDERS = ("bob", "alice", "will", "chris", "sam")  # participants who may respond to a consultation
RESPONSE = {"respondent_organisation": "Small Energy Co", "constituency": "SUPPLIER_SMALL", "position": "support",
            "comments": "We support it.", "confidential": False}
CONDITIONS = [{"description": "Publish the revised plan", "owner": "PMO", "due_date": "2027-02-26"},
              {"description": "Re-run the wave 2 readiness check", "owner": "Testing", "due_date": "2027-03-12"}]

# Who does what (usernames from tests/conftest.py PEOPLE) and the lane each step sits in.
ACTOR = {"validate": "carol", "resolve_issues": "alice", "triage": "carol", "impact_assessment": "will",
         "amend": "carol", "issue_consultation": "carol", "review": "will", "table": "pat", "decide": "chris",
         "sro_deciding_vote": "sam", "chair_decides": "chris", "refer_to_ofgem": "sam", "record_ofgem_decision": "ida",
         "communicate": "pat", "action_change": "will", "close_conditions": "carol", "ipa_refer_to_ofgem": "ida",
         "final_approval": "chris", "confirm_conditions": "carol"}
LANE = {"validate": "Change Control Manager", "resolve_issues": "Participant", "triage": "Change Control Manager",
        "impact_assessment": "Workstream", "amend": "Change Control Manager",
        "issue_consultation": "Change Control Manager", "review": "Workstream", "table": "PMO", "decide": "Chair",
        "sro_deciding_vote": "SRO", "chair_decides": "Chair", "refer_to_ofgem": "SRO", "record_ofgem_decision": "IPA",
        "communicate": "PMO", "action_change": "Workstream", "close_conditions": "Change Control Manager",
        "ipa_refer_to_ofgem": "IPA", "final_approval": "Chair", "confirm_conditions": "Change Control Manager"}


def plan_meeting(gov, day: str, group: str = "PSG") -> None:
    """The PMO adds an extraordinary meeting of the group on that day (nothing if the group already meets then)."""
    from engine.governance.meetings import MeetingError, add_extraordinary_meeting
    try:
        add_extraordinary_meeting(gov, group, day, by="pat", note="Planned by the test")
    except MeetingError:
        pass


def without_meeting_cycle(gov, group: str) -> None:
    """A group with no usual meeting day (as if governance-groups.yaml gave it none): it has only the meetings the
    PMO plans."""
    from engine.store.models import GovernanceGroup
    with gov.db.write() as session:
        session.get(GovernanceGroup, group).usual_day = None


class ChangeRequest:
    """One change-control instance driven through `Govflow` (`gov`) on the test clock."""

    def __init__(self, gov, clock, raiser: str = "alice", **raise_overrides):
        self.gov, self.clock, self.raiser = gov, clock, raiser
        form = {k: v for k, v in {**deepcopy(RAISE), **raise_overrides}.items() if v is not None}
        result = gov.start("change_control", raiser, form)
        self.id = result.instance_id
        self.done: list[tuple[str, str]] = []      # (element id, who) for each completed task, in order
        self.sent: list[tuple[str, str]] = []      # (message, who) for each delivered message

    # --- reading ------------------------------------------------------------------------------------------------
    @property
    def record(self) -> dict:
        return self.gov.show(self.id)

    @property
    def data(self) -> dict:
        return self.record["data"]

    @property
    def state(self) -> str:
        return self.record["state"]

    @property
    def status(self) -> str:
        return self.record["status"]

    def open_tasks(self) -> list[str]:
        return sorted(t["element_id"] for t in self.record["tasks"] if t["status"] == "ready")

    def tasks_of(self, user: str, element_id: str | None = None) -> list:
        return [t for t in self.gov.tasks(user)
                if t.instance_id == self.id and (element_id is None or t.element_id == element_id)]

    def timers(self) -> dict[str, str]:
        """element id -> due time of this instance's waiting timers."""
        return {t["element_id"]: t["due_at"] for t in self.record["timers"] if t["status"] == "waiting"}

    # --- acting ---------------------------------------------------------------------------------------------------
    def task(self, element_id: str, as_user: str | None = None, index: int = 0):
        user = as_user or ACTOR[element_id]
        found = self.tasks_of(user, element_id)
        assert len(found) > index, (f"{user} has no open '{element_id}' on instance {self.id}; open: "
                                    f"{self.open_tasks()}, state {self.state}")
        return found[index]

    def do(self, element_id: str, as_user: str | None = None, index: int = 0, **overrides) -> "ChangeRequest":
        user = as_user or ACTOR[element_id]
        task = self.task(element_id, user, index)
        form = {k: v for k, v in {**deepcopy(ANSWERS.get(element_id, {})), **overrides}.items() if v is not None}
        self.gov.claim(task.id, user)
        self.gov.complete(task.id, user, form)
        self.done.append((element_id, user))
        return self

    def respond(self, user: str = "bob", **overrides):
        data = {**RESPONSE, **overrides}
        result = self.gov.send_message(self.id, "consultation_response", user, data)
        self.sent.append(("consultation_response", user))
        return result

    def withdraw_response(self, user: str = "bob", **data):
        """The party withdraws its consultation response (message `consultation_response_withdrawn`)."""
        result = self.gov.send_message(self.id, "consultation_response_withdrawn", user, data)
        self.sent.append(("consultation_response_withdrawn", user))
        return result

    def flag(self, thresholds: list[str], reason: str, user: str = "ida"):
        """The IPA flags Ofgem thresholds on the open change request (message `threshold_flag`)."""
        result = self.gov.send_message(self.id, "threshold_flag", user,
                                       {"flagged_thresholds": thresholds, "flag_reason": reason})
        self.sent.append(("threshold_flag", user))
        return result

    def withdraw(self, user: str | None = None, reason: str = "No longer needed"):
        result = self.gov.withdraw(self.id, user or self.raiser, reason)
        self.sent.append(("withdraw", user or self.raiser))
        return result

    def at(self, moment: datetime) -> list[dict]:
        self.clock.set(moment)
        return self.gov.fire_due_timers(moment)

    # --- common paths -------------------------------------------------------------------------------------------
    def to_consultation(self, **amend) -> "ChangeRequest":
        """Valid first time → triage → impact assessment → amend → issued on Thu 17 Dec 2026."""
        together([self], amend=[amend], stop="consultation")
        return self

    def to_decision(self, responses: int = 1, table: dict | None = None, **amend) -> "ChangeRequest":
        """From raised to tabled for the PSG on Wed 20 Jan 2027 (papers in time), awaiting the decision."""
        together([self], amend=[amend], table=[table or {}], responses=responses)
        return self

    # --- checks ---------------------------------------------------------------------------------------------------
    def assert_history(self) -> None:
        """The audit trail: who started it, who completed each step (in order), who sent each message; each task row
        in its lane, completed by the one who did it."""
        record = self.record
        history = record["history"]
        assert history[0]["action"] == "instance.started" and history[0]["actor"] == self.raiser
        completed = [(e["element_id"], e["actor"]) for e in history if e["action"] == "task.completed"]
        assert completed == self.done, (completed, self.done)
        received = [(e["details"]["message"], e["actor"]) for e in history if e["action"] == "message.received"]
        assert received == self.sent, (received, self.sent)
        for row in record["tasks"]:
            assert row["lane"] == LANE[row["element_id"]], (row["element_id"], row["lane"])
        assert sorted((t["element_id"], t["completed_by"]) for t in record["tasks"] if t["status"] == "completed") \
            == sorted(self.done)
        if record["status"] == "completed":
            assert history[-1]["action"] == "instance.completed"


def together(crs: list[ChangeRequest], amend: list[dict] | None = None, table: list[dict] | None = None,
             responses: int = 1, stop: str = "decision") -> list[ChangeRequest]:
    """Drive several change requests side by side on one clock (numbered in list order): validated, triaged,
    assessed and amended on Tue 1 Dec 2026, issued on Thu 17 Dec 2026, `responses` on-time responses each, window
    closed Tue 5 Jan 2027 17:00, reviewed and tabled (papers in time), the clock left at the meeting."""
    amend = amend or [{} for _ in crs]
    table = table or [{} for _ in crs]
    for step in ("validate", "triage", "impact_assessment"):
        for cr in crs:
            cr.do(step)
    for cr, overrides in zip(crs, amend):
        cr.do("amend", **overrides)
    crs[0].clock.set(ISSUED_AT)
    for cr in crs:
        cr.do("issue_consultation")
        assert cr.state == "in consultation", cr.state
    if stop == "consultation":
        return crs
    for cr in crs:
        for n in range(responses):  # one party's later response replaces its earlier one: each from another
            cr.respond(RESPONDERS[n % len(RESPONDERS)], comments=f"Response {n + 1}.")
    crs[0].at(WINDOW_CLOSES)
    meetings = [o.get("decision_meeting_date", MEETING) for o in table]
    for day in sorted(set(meetings)):
        plan_meeting(crs[0].gov, day)
    for cr, overrides in zip(crs, table):
        form = {k: v for k, v in overrides.items() if k != "decision_meeting_date"}
        cr.do("review").do("table", **form)
        if cr.open_tasks() == ["table"]:  # papers published after the deadline: it rolled to a later meeting
            cr.do("table", **form)
        assert cr.state == "awaiting decision", (cr.state, cr.data.get("tabling_note"))
    meeting = max(cr.data["decision_meeting_date"] for cr in crs)
    crs[0].clock.set(max(DECISION_MOMENT, datetime.fromisoformat(meeting + "T11:30:00+00:00")))
    return crs
