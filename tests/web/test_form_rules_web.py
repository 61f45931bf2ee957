"""Rules a form's JSON Schema holds, as a person meets them on the page: a field an if/then rule requires never says
"(optional)" but when it is needed, and that need is enforced with a message beside the field; a decision date
before today (the test clock's 1 December 2026, Europe/London) is refused beside its field with every answer kept.
The same rule holds for a form sent without the page (the facade)."""
from __future__ import annotations

import re

import pytest

from engine.errors import FormInvalid
from tests.web.test_web_change_control import RAISE


def _label_of(html: str, field_id: str) -> str:
    """The text of a field's label or legend (a yes/no or date field is a fieldset)."""
    found = re.search(rf'<label[^>]*for="{field_id}"[^>]*>([^<]*)</label>', html)
    if found is None:  # a fieldset's legend: the one just before the input's id
        before = html.split(f'id="{field_id}"', 1)[0]
        found = re.findall(r"<legend[^>]*>([^<]*)</legend>", before)[-1:]
        return found[0].strip()
    return found.group(1).strip()


def test_a_field_required_by_another_answer_says_when_not_optional(signed_in):
    page = signed_in("alice").get("/requests/new/change_control").data.decode()
    assert _label_of(page, "f-level1-milestone-reason") == "Which Level 1 milestone, and how?"
    hint = re.search(r'id="f-level1-milestone-reason-hint" class="govuk-hint">([^<]*)<', page).group(1)
    assert hint == "Required if you answer ‘Yes’ to ‘Does it change a Level 1 milestone?’."
    assert 'aria-describedby="f-level1-milestone-reason-hint"' in page
    # a field no rule requires still says so
    assert _label_of(page, "f-impacted-parties") == "Which parties are affected, and how? (optional)"


def test_the_validation_issues_field_says_it_is_needed_when_the_request_is_not_valid(app):
    import json
    from pathlib import Path

    from web.form_render import build_fields
    schema = json.loads((Path(__file__).resolve().parents[2] / "forms/change_control/validate.schema.json")
                        .read_text())
    with app.test_request_context("/"):
        fields = {f.path: f for f in build_fields(schema, {}, {})}
        html = app.jinja_env.from_string('{% from "macros/form.html" import field %}{{ field(f) }}').render(
            f=fields["validation_issues"])
    assert fields["validation_issues"].required_when == "Required if you answer ‘No’ to ‘Is the change request valid?’"
    assert "(optional)" not in html and "Required if you answer ‘No’" in html


def test_the_conditional_requirement_is_enforced_with_a_message_beside_the_field(signed_in, csrf_of):
    client = signed_in("alice")
    page = client.get("/requests/new/change_control").data.decode()
    response = client.post("/requests/new/change_control", data={
        **RAISE, "tom_impact": "true", "level1_milestone_reason": "M10 moves", "csrf_token": csrf_of(page)})
    html = response.data.decode()
    assert response.status_code == 422
    assert re.search(r'id="f-tom-impact-reason-error" class="govuk-error-message">'
                     r'<span class="govuk-visually-hidden">Error:</span> Answer ‘How does it change the TOM\?’', html)
    assert 'href="#f-tom-impact-reason">Answer ‘How does it change the TOM?’</a>' in html
    assert "f-consumer-competition-reason-error" not in html  # answered No: not needed


def test_a_decision_date_in_the_past_is_refused_and_the_answers_are_kept(signed_in, csrf_of):
    client = signed_in("alice")
    page = client.get("/requests/new/change_control").data.decode()
    past = {**RAISE, "level1_milestone_reason": "M10 moves by a week", "requested_decision_date[day]": "30",
            "requested_decision_date[month]": "11", "requested_decision_date[year]": "2026"}
    response = client.post("/requests/new/change_control", data={**past, "csrf_token": csrf_of(page)})
    html = response.data.decode()
    assert response.status_code == 422
    message = "The requested decision date must be today or in the future"
    assert f'href="#f-requested-decision-date-day">{message}</a>' in html
    assert re.search(rf'id="f-requested-decision-date-error" class="govuk-error-message">'
                     rf'<span class="govuk-visually-hidden">Error:</span> {message}', html)
    for kept in ('name="requested_decision_date[day]" type="text" inputmode="numeric" value="30"',
                 'name="requested_decision_date[year]" type="text" inputmode="numeric" value="2026"',
                 'value="Shorten the MPAN validation window"', 'value="£12,500"', "M10 moves by a week"):
        assert kept in html, kept
    today = {**past, "requested_decision_date[day]": "1", "requested_decision_date[month]": "12"}
    response = client.post("/requests/new/change_control", data={**today, "csrf_token": csrf_of(html)})
    assert response.status_code == 302, response.data.decode()[:2000]


def test_the_engine_refuses_a_past_decision_date_whoever_sends_it(web_gov):
    from tests.scenarios.change_control_driver import RAISE as ANSWERS
    with pytest.raises(FormInvalid) as caught:
        web_gov.start("change_control", "alice", {**ANSWERS, "requested_decision_date": "2026-11-30"})
    assert caught.value.errors == {
        "requested_decision_date": "The requested decision date must be today or in the future"}
    web_gov.clock.set(web_gov.clock.now().replace(year=2027, month=1, day=21))
    with pytest.raises(FormInvalid):  # the scenario's 20 January is yesterday now
        web_gov.start("change_control", "alice", ANSWERS)
