"""The real change-control forms (forms/change_control) render and parse; a participant raises a CR in the browser's
place (the test client) and the change control manager finds the validation task."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from web.form_parse import parse_form
from web.form_render import build_fields

FORMS = sorted((Path(__file__).resolve().parents[2] / "forms").rglob("*.schema.json"))

RAISE = {
    "title": "Shorten the MPAN validation window", "problem_statement": "Validation takes too long",
    "proposed_change": "Cut the window from 5 to 3 days", "justification": "Faster settlement",
    "impacted_constituencies.0": "SUPPLIER_LARGE", "impacted_constituencies.2": "SUPPLIER_SMALL",
    "urgency": "standard", "cost_impact_gbp": "£12,500", "tom_impact": "false",
    "consumer_competition_impact": "false", "level1_milestone_change": "true",
    "raiser_organisation": "Northern Power Supply", "raiser_contact_email": "alice@example.org",
    "requested_decision_date[day]": "15", "requested_decision_date[month]": "1", "requested_decision_date[year]": "2027",
}


@pytest.mark.parametrize("path", FORMS, ids=lambda p: p.name)
def test_every_form_renders(app, path):
    schema = json.loads(path.read_text())
    fields = build_fields(schema, {}, {})
    with app.test_request_context("/"):
        template = app.jinja_env.from_string(
            '{% from "macros/form.html" import field %}{% for f in fields %}{{ field(f) }}{% endfor %}')
        html = template.render(fields=fields)
    for name in (schema.get("properties") or {}):
        assert f'name="{name}' in html or f'name="{name}[' in html or f'name="{name}.' in html, name
    labels_for = set(re.findall(r'<label[^>]+for="([^"]+)"', html))
    inputs = set(re.findall(r'<(?:input|select|textarea)[^>]+id="([^"]+)"', html))
    assert inputs <= labels_for, inputs - labels_for  # every input has a label
    assert parse_form(schema, {}).data == {}


def test_raise_a_change_request(signed_in, web_gov, csrf_of):
    client = signed_in("alice")
    inbox = client.get("/").data.decode()
    assert 'href="/requests/new/change_control"' in inbox
    page = client.get("/requests/new/change_control").data.decode()
    assert "Raise a change request" in page and 'id="f-impacted-constituencies"' in page
    # the start event's instructions for the user, above the form
    assert "Describe the change you propose to the MHHS programme" in page.split('id="instructions"', 1)[1]
    # a first try without the reason the milestone answer needs
    response = client.post("/requests/new/change_control", data={**RAISE, "csrf_token": csrf_of(page)})
    html = response.data.decode()
    assert response.status_code == 422 and 'href="#f-level1-milestone-reason"' in html
    assert 'value="£12,500"' in html and 'value="SUPPLIER_SMALL" checked' in html
    response = client.post("/requests/new/change_control", data={
        **RAISE, "level1_milestone_reason": "M10 moves by a week", "csrf_token": csrf_of(html)})
    assert response.status_code == 302, response.data.decode()[:3000]
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    record = web_gov.show(instance_id)
    assert record["data"]["impacted_constituencies"] == ["SUPPLIER_LARGE", "SUPPLIER_SMALL"]
    assert record["data"]["cost_impact_gbp"] == 12500
    assert record["data"]["requested_decision_date"] == "2027-01-15"
    carol = signed_in("carol")
    groups = carol.get("/?tab=groups").data.decode()
    assert "Shorten the MPAN validation window" in groups
    [task] = [t for t in web_gov.tasks("carol") if t.instance_id == instance_id]
    page = carol.get(f"/tasks/{task.id}").data.decode()
    assert 'id="task-form"' in page and "Shorten the MPAN validation window" in page


@pytest.mark.parametrize("process_id, heading", [("escalation", "Raise an escalation"),
                                                 ("appeal", "Lodge an appeal with the IPA")])
def test_each_start_form_is_headed_by_its_own_title(signed_in, process_id, heading):
    page = signed_in("alice").get(f"/requests/new/{process_id}").data.decode()
    assert f'<h1 class="govuk-heading-l">{heading}</h1>' in page and "Raise a change request</h1>" not in page
