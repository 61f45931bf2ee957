"""`"x-govflow-not-before": "today"`: a date field's answer may not be before the govflow Clock's date (Europe/London),
with the field's own words; a schema with another value of the keyword is refused by the form lint."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from engine.bpmn.forms import clean_submission, schema_problem
from engine.clock import Clock
from engine.errors import FormInvalid

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = {"type": "object", "properties": {
    "due": {"type": "string", "format": "date", "title": "Due date", "x-govflow-not-before": "today"},
    "wanted_by": {"type": "string", "format": "date", "title": "When do you need it by?",
                  "x-govflow-not-before": "today",
                  "x-govflow-not-before-message": "The date you need it by must be today or in the future"},
    "rows": {"type": "array", "items": {"type": "object", "properties": {
        "on": {"type": "string", "format": "date", "title": "Meeting date", "x-govflow-not-before": "today"}}}},
}}
TODAY = date(2026, 12, 1)


def test_a_date_before_today_is_refused_with_the_fields_words():
    with pytest.raises(FormInvalid) as caught:
        clean_submission(SCHEMA, {"due": "2026-11-30", "wanted_by": "2026-01-01", "rows": [{"on": "2026-12-01"},
                                                                                          {"on": "2025-12-01"}]},
                         TODAY)
    assert caught.value.errors == {"due": "Due date must be today or in the future",
                                   "wanted_by": "The date you need it by must be today or in the future",
                                   "rows.1.on": "Meeting date must be today or in the future"}


def test_today_and_later_pass_and_no_answer_is_no_date():
    data = {"due": "2026-12-01", "wanted_by": "2030-02-28", "rows": [{"on": "2026-12-02"}]}
    assert clean_submission(SCHEMA, data, TODAY) == data
    assert clean_submission(SCHEMA, {}, TODAY) == {}


def test_an_impossible_date_is_refused_by_its_format_not_the_rule():
    with pytest.raises(FormInvalid) as caught:
        clean_submission(SCHEMA, {"due": "2026-02-30"}, TODAY)
    assert caught.value.errors == {"due": "Due date must be a real date"}


def test_today_is_the_clocks_date_in_london():
    # 23:30 UTC on 30 June is already 1 July in London (summer time)
    assert Clock(datetime(2027, 6, 30, 23, 30, tzinfo=timezone.utc)).today() == date(2027, 7, 1)
    assert Clock(datetime(2027, 1, 31, 23, 30, tzinfo=timezone.utc)).today() == date(2027, 1, 31)


@pytest.mark.parametrize("prop, reason", [
    ({"type": "string", "format": "date", "x-govflow-not-before": "yesterday"},
     "field 'when': \"x-govflow-not-before\" must be one of 'today', not 'yesterday'"),
    ({"type": "string", "format": "date", "x-govflow-not-before": True},
     "field 'when': \"x-govflow-not-before\" must be one of 'today', not True"),
    ({"type": "string", "x-govflow-not-before": "today"},
     "field 'when': \"x-govflow-not-before\" is for a field with \"format\": \"date\" (or \"date-time\")"),
    ({"type": "string", "format": "date", "x-govflow-not-before-message": "Too early"},
     "field 'when': \"x-govflow-not-before-message\" needs \"x-govflow-not-before\" beside it"),
    ({"type": "string", "format": "date", "x-govflow-not-before": "today", "x-govflow-not-before-message": " "},
     "field 'when': \"x-govflow-not-before-message\" must be a sentence"),
])
def test_the_lint_refuses_a_misused_keyword(prop, reason):
    assert schema_problem({"type": "object", "properties": {"when": prop}}) == reason
    nested = {"type": "object", "properties": {"list": {"type": "array", "items": {
        "type": "object", "properties": {"when": prop}}}}}
    assert schema_problem(nested) == reason.replace("'when'", "'list[].when'")


def test_the_shipped_decision_deadline_and_meeting_dates_may_not_be_in_the_past():
    for form, field in [("change_control/raise", "requested_decision_date"),
                        ("change_control/resolve_validation_issues", "requested_decision_date"),
                        ("change_control/decide", "referral_due_on"), ("meeting/plan", "meeting_date")]:
        schema = json.loads((ROOT / "forms" / f"{form}.schema.json").read_text())
        assert schema["properties"][field]["x-govflow-not-before"] == "today", form
        assert schema_problem(schema) is None, form
