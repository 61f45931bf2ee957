"""Form answers for one change request through processes/change_control.bpmn on the test clock (Tuesday 1 December
2026): the same tasks as tests/spiff_probe/drivers.py's ANSWERS, with dates that fit that clock."""
from __future__ import annotations

from datetime import datetime, timezone

RAISE = {
    "title": "Move the M10 qualification milestone by four weeks",
    "problem_statement": "Qualification testing capacity is short in Q2.",
    "proposed_change": "Move M10 from 1 June to 29 June 2027.",
    "justification": "Avoids a failed qualification window for 12 suppliers.",
    "impacted_constituencies": ["SUPPLIER_LARGE", "SUPPLIER_SMALL"],
    "urgency": "urgent",
    "requested_decision_date": "2027-01-13",
    "cost_impact_gbp": 250000,
    "tom_impact": False,
    "consumer_competition_impact": False,
    "level1_milestone_change": False,
    "raiser_organisation": "Northern Power Supply",
    "raiser_contact_email": "alice@example.org",
}
MEETING = "2027-01-13"  # a Wednesday; papers 5 working days before
ANSWERS = {
    "validate": {"valid": True, "validation_notes": "Complete."},
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
    # the reviewed CR places itself on the next PSG whose papers it can make (6 Jan 2027: papers due 29 Dec)
    "table": {"papers_published_on": "2026-12-22"},
    "decide": {"decision_outcome": "accept", "decision_views": "Consensus to accept.",
               "decided_at": "2027-01-13T11:00:00+00:00", "recording_reference": "PSG 2027-01-13 recording 01:12:30"},
    "communicate": {"communicated_at": "2027-01-14T09:00:00+00:00", "communication_channels": ["portal"],
                    "communication_summary": "PSG accepted the change."},
}
RESPONSE = {"respondent_organisation": "Small Energy Co", "constituency": "SUPPLIER_SMALL", "position": "support",
            "comments": "We support it.", "confidential": False}
# the consultation window (10 working days from 1 December 2026) has closed by then
AFTER_WINDOW = datetime(2026, 12, 16, 9, 0, tzinfo=timezone.utc)
