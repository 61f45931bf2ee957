"""Action log entries are checked (tests/scenarios/RULES.md, "Governance fidelity"): the group and the owner must
exist, the due date must not have passed; every problem is named on its field, and an empty form shows the GOV.UK
error summary linking to each field."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from engine.errors import FormInvalid
from engine.governance import logs

UTC = timezone.utc


def test_an_action_needs_a_real_group_a_real_owner_and_a_due_date_not_past(gov, clock):
    clock.set(datetime(2027, 1, 20, 10, tzinfo=UTC))
    with pytest.raises(FormInvalid) as refused:
        logs.add_action(gov, "pat", title="Book the venue", group_id="XYZ", owner="Nobody Known",
                        due_on="2027-01-19")
    assert refused.value.errors == {
        "group_id": "There is no governance group ‘XYZ’: enter its id, for example PSG",
        "owner": "There is nobody called ‘Nobody Known’ in govflow: enter the owner's username",
        "due_on": "The due date must be today (2027-01-20) or later"}
    with pytest.raises(FormInvalid) as empty:
        logs.add_action(gov, "pat", title="", owner="", due_on="")
    assert empty.value.errors == {"title": "Enter what is to be done", "owner": "Enter the owner's username",
                                  "due_on": "Enter the due date"}
    with pytest.raises(FormInvalid, match="no governance group"):
        logs.add_action(gov, "pat", title="Superseded group", group_id="TMAG", owner="pat", due_on="2027-01-20")
    saved = logs.add_action(gov, "pat", title="Book the venue", group_id="PSG", owner="pat", due_on="2027-01-20")
    # later, with the due date passed, the action can still be edited without touching its date
    clock.set(datetime(2027, 2, 1, 10, tzinfo=UTC))
    logs.update_action(gov, saved["id"], "pat", status="done")
    with pytest.raises(FormInvalid, match="must be today"):
        logs.update_action(gov, saved["id"], "pat", due_on="2027-01-25")


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_an_empty_action_form_shows_the_govuk_error_summary(gov, signed_in):
    pmo = signed_in("pat")
    answer = pmo.post("/logs/actions/new", data={"csrf_token": _token(pmo, "/logs/actions/new"), "title": "",
                                                 "group_id": "", "owner": "", "due_on": "", "status": "open"})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "<title>Error:" in page and 'class="govuk-error-summary"' in page and "There is a problem" in page
    summary = page[page.index("govuk-error-summary__list"):page.index("</ul>", page.index("govuk-error-summary__list"))]
    assert re.findall(r'<a href="#(\w+)">([^<]+)</a>', summary) == [
        ("title", "Enter what is to be done"), ("owner", "Enter the owner&#39;s username"),
        ("due_on", "Enter the due date")]
    assert 'id="owner-error"' in page and 'aria-describedby="owner-error"' in page
    wrong = pmo.post("/logs/actions/new", data={"csrf_token": _token(pmo, "/logs/actions/new"), "title": "Venue",
                                                "group_id": "NOPE", "owner": "pat", "due_on": "2020-01-01",
                                                "status": "open"}).get_data(as_text=True)
    assert "There is no governance group ‘NOPE’" in wrong and "The due date must be today" in wrong
    assert 'value="Venue"' in wrong  # the input is kept
