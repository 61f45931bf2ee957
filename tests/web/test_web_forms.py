"""Task forms from JSON Schema: widgets, typed parsing, list rows without JavaScript, and error placement."""
from __future__ import annotations

from engine.errors import FormInvalid
from engine.bpmn.forms import clean_submission
from web.form_fields import to_raw
from web.form_parse import add_row, parse_form, remove_row
from web.form_render import build_fields, error_summary
from web.instructions import render

SCHEMA = {
    "type": "object",
    "required": ["summary", "cost", "decision"],
    "properties": {
        "summary": {"type": "string", "title": "Summary", "x-govflow-widget": "textarea", "description": "Plainly"},
        "cost": {"type": "number", "title": "Cost", "x-govflow-widget": "money", "minimum": 0},
        "days": {"type": "integer", "title": "Days"},
        "decision": {"enum": ["approve", "reject"], "title": "Decision", "x-govflow-widget": "radios",
                     "x-govflow-enum-labels": {"approve": "Approve it", "reject": "Reject it"}},
        "urgent": {"type": "boolean", "title": "Urgent"},
        "go_live": {"type": "string", "format": "date", "title": "Go-live date"},
        "tags": {"type": "array", "title": "Tags", "items": {"type": "string"}},
        "actions": {"type": "array", "title": "Actions", "items": {
            "type": "object", "title": "Action", "required": ["owner"],
            "properties": {"owner": {"type": "string", "title": "Owner", "minLength": 2},
                           "due": {"type": "string", "format": "date", "title": "Due"}}}},
    },
    "additionalProperties": False,
}


def test_widgets():
    fields = {f.path: f for f in build_fields(SCHEMA, {}, {})}
    assert fields["summary"].widget == "textarea" and fields["summary"].hint == "Plainly"
    assert fields["cost"].widget == "money" and fields["days"].widget == "number"
    assert fields["decision"].widget == "radios" and fields["decision"].options[0] == ("approve", "Approve it")
    assert fields["urgent"].widget == "boolean" and fields["go_live"].widget == "date"
    assert fields["actions"].widget == "list" and len(fields["actions"].rows) == 1
    assert [f.path for f in fields["actions"].rows[0]] == ["actions.0.owner", "actions.0.due"]
    assert fields["summary"].required and not fields["urgent"].required


def test_parse_types_and_drop_empty_rows():
    form = {"summary": "Line one\r\nLine two", "cost": "£1,250.50", "days": "3", "decision": "approve",
            "urgent": "false", "go_live[day]": "27", "go_live[month]": "3", "go_live[year]": "2027",
            "tags[rows]": "3", "tags.0": "metering", "tags.1": "", "tags.2": "settlement",
            "actions[rows]": "2", "actions.0.owner": "", "actions.1.owner": "Will", "actions.1.due[day]": "",
            "ignored": "x"}
    parsed = parse_form(SCHEMA, form)
    assert parsed.errors == {}
    assert parsed.data == {"summary": "Line one\nLine two", "cost": 1250.5, "days": 3, "decision": "approve",
                           "urgent": False, "go_live": "2027-03-27", "tags": ["metering", "settlement"],
                           "actions": [{"owner": "Will"}]}
    assert clean_submission(SCHEMA, parsed.data) == parsed.data


def test_parse_errors_and_engine_errors_map_back_to_rows():
    parsed = parse_form(SCHEMA, {"cost": "lots", "days": "2.5", "go_live[day]": "31", "go_live[month]": "2",
                                 "go_live[year]": "2027", "actions[rows]": "3", "actions.2.owner": "W"})
    assert parsed.errors["cost"].startswith("Cost must be an amount of money")
    assert parsed.errors["days"] == "Days must be a whole number"
    assert parsed.errors["go_live"] == "Go-live date must be a real date"
    try:
        clean_submission(SCHEMA, parsed.data)
    except FormInvalid as err:
        mapped = parsed.engine_errors(err.errors)
    assert "actions.2.owner" in mapped  # data index 0 is the page's third row
    assert mapped["summary"] == "Enter summary"
    fields = build_fields(SCHEMA, {"actions[rows]": "3"}, {**parsed.errors, **mapped})
    targets = dict(error_summary(fields, {**parsed.errors, **mapped}))
    assert "f-go-live-day" in targets and "f-actions-2-owner" in targets and "f-decision" in targets


def test_add_and_remove_rows_without_javascript():
    form = {"tags[rows]": "2", "tags.0": "a", "tags.1": "b"}
    assert add_row(form, "tags")["tags[rows]"] == "3"
    removed = remove_row({"actions[rows]": "3", "actions.0.owner": "A", "actions.1.owner": "B",
                          "actions.2.owner": "C", "actions.2.due[day]": "1"}, "actions", 1)
    assert removed == {"actions[rows]": "2", "actions.0.owner": "A", "actions.1.owner": "C",
                       "actions.1.due[day]": "1"}


def test_round_trip_of_saved_data():
    data = {"summary": "S", "cost": 12.5, "decision": "reject", "urgent": True, "go_live": "2027-03-07",
            "actions": [{"owner": "Will", "due": "2027-01-02"}]}
    raw = to_raw(SCHEMA, data)
    assert raw["go_live[day]"] == "7" and raw["urgent"] == "true" and raw["actions[rows]"] == "1"
    assert parse_form(SCHEMA, raw).data == data


def test_instructions_are_sanitised_and_filled_safely():
    html = str(render("# Check\nReview **{{ title }}** <script>alert(1)</script> [x](javascript:alert(1))",
                      {"title": "<img src=x onerror=alert(1)> *bold*"}))
    assert "<script" not in html and "onerror" not in html.replace("&lt;img src=x onerror", "")
    assert "href=\"javascript" not in html
    assert "<h3" in html and "<strong>" in html and "&lt;img" in html and "*bold*" in html


def test_checkboxes_and_labelled_yes_no():
    schema = {"type": "object", "properties": {
        "channels": {"type": "array", "title": "Channels", "x-govflow-widget": "checkboxes",
                     "items": {"type": "string", "enum": ["portal", "email"]},
                     "x-govflow-enum-labels": {"portal": "MHHS portal", "email": "E-mail"}},
        "valid": {"type": "boolean", "title": "Valid?", "x-govflow-widget": "radios",
                  "x-govflow-enum-labels": {"true": "Valid", "false": "Not valid"}}}}
    fields = {f.path: f for f in build_fields(schema, {"channels.1": "email"}, {})}
    assert fields["channels"].widget == "checkboxes" and fields["channels"].attrs["chosen"] == {"email"}
    assert fields["channels"].options == [("portal", "MHHS portal"), ("email", "E-mail")]
    assert fields["valid"].options == [("true", "Valid"), ("false", "Not valid")]
    parsed = parse_form(schema, {"channels.0": "portal", "channels.1": "email", "valid": "false"})
    assert parsed.data == {"channels": ["portal", "email"], "valid": False}
    assert to_raw(schema, parsed.data) == {"channels.0": "portal", "channels.1": "email", "valid": "false"}
