"""Form answers for one change request through processes/change_control.bpmn on the web tests' clock (Tuesday
1 December 2026): the scenario driver's answers (tests/scenarios/change_control_driver.py), with the dates of this
shorter timeline — a PSG meeting on 13 January 2027 and a consultation window closed by 16 December."""
from __future__ import annotations

from datetime import datetime, timezone

from tests.scenarios.change_control_driver import ANSWERS as SCENARIO_ANSWERS
from tests.scenarios.change_control_driver import RAISE as SCENARIO_RAISE
from tests.scenarios.change_control_driver import RESPONSE

MEETING = "2027-01-13"  # a Wednesday; papers 5 working days before
RAISE = {**SCENARIO_RAISE, "requested_decision_date": MEETING}
ANSWERS = {
    **{step: SCENARIO_ANSWERS[step] for step in ("validate", "triage", "impact_assessment", "amend",
                                                 "issue_consultation", "review")},
    # the reviewed CR places itself on the next PSG whose papers it can make (6 Jan 2027: papers due 29 Dec)
    "table": {"papers_published_on": "2026-12-22"},
    "decide": {**SCENARIO_ANSWERS["decide"], "decided_at": f"{MEETING}T11:00:00+00:00",
               "recording_reference": f"PSG {MEETING} recording 01:12:30"},
    "communicate": {**SCENARIO_ANSWERS["communicate"], "communicated_at": "2027-01-14T09:00:00+00:00"},
}
__all__ = ["AFTER_WINDOW", "ANSWERS", "MEETING", "RAISE", "RESPONSE"]
# the consultation window (10 working days from 1 December 2026) has closed by then
AFTER_WINDOW = datetime(2026, 12, 16, 9, 0, tzinfo=timezone.utc)
