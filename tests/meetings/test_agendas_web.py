"""The meeting page's secretariat actions in the browser's HTTP (tests/scenarios/RULES.md, "Governance fidelity"):
the PMO adds, moves and removes items, marks the meeting held and records the group's decision on a change request
through its decision form (GOV.UK error summary on bad input), each POST with its CSRF token; others may not."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from web.form_fields import to_raw

from ..scenarios.change_control_driver import ANSWERS, ChangeRequest

UTC = timezone.utc


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _agenda_text(client, meeting_id) -> str:
    page = client.get(f"/logs/meetings/{meeting_id}").get_data(as_text=True)
    return page[page.index('id="agenda"'):page.index("</table>", page.index('id="agenda"'))]


def test_the_pmo_runs_the_agenda_and_records_the_decision_on_the_meeting_page(gov, clock, signed_in):
    cr = ChangeRequest(gov, clock, title="Move M10")
    cr.to_decision()  # on the agenda of the PSG of Wed 20 Jan 2027
    meeting_id, item_id = cr.data["decision_meeting_id"], cr.data["agenda_item_id"]
    page_url = f"/logs/meetings/{meeting_id}"
    pmo = signed_in("pat")
    page = pmo.get(page_url).get_data(as_text=True)
    assert 'id="add-item"' in page and 'id="mark-held"' in page
    token = _token(pmo, page_url)
    assert pmo.post(f"{page_url}/items", data={"kind": "aob", "title": "No token"}).status_code == 400
    added = pmo.post(f"{page_url}/items", data={"csrf_token": token, "kind": "aob", "title": "Christmas cover"})
    assert added.status_code == 302
    pmo.post(f"{page_url}/items", data={"csrf_token": token, "kind": "paper", "title": "Plan v5.3"})
    refused = pmo.post(f"{page_url}/items", data={"csrf_token": token, "kind": "change_request",
                                                  "reference": "CR404"}, follow_redirects=True)
    assert "There is no change request CR404" in refused.get_data(as_text=True)
    agenda = _agenda_text(pmo, meeting_id)
    assert agenda.index(cr.data["reference"]) < agenda.index("Christmas cover") < agenda.index("Plan v5.3")
    items = {i["title"]: i["id"] for i in gov.meetings.meeting(meeting_id)["agenda"]}
    pmo.post(f"{page_url}/items/{items['Plan v5.3']}/move", data={"csrf_token": token, "position": "1"})
    pmo.post(f"{page_url}/items/{items['Christmas cover']}/remove", data={"csrf_token": token})
    agenda = _agenda_text(pmo, meeting_id)
    assert "Christmas cover" not in agenda and agenda.index("Plan v5.3") < agenda.index(cr.data["reference"])

    # others read the page but have no actions, and cannot post them
    chair = signed_in("chris")
    assert 'id="add-item"' not in chair.get(page_url).get_data(as_text=True)
    assert chair.post(f"{page_url}/held", data={"csrf_token": _token(chair, page_url)}).status_code == 403
    pmo = signed_in("pat")  # one browser: the PMO signs in again
    token = _token(pmo, page_url)

    clock.set(datetime(2027, 1, 20, 15, tzinfo=UTC))
    page = pmo.post(f"{page_url}/held", data={"csrf_token": token}, follow_redirects=True).get_data(as_text=True)
    assert "The meeting is marked held" in page, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))[:1500]
    assert "Held" in page and f'id="decide-{item_id}"' in page and 'id="add-item"' not in page
    form_url = f"{page_url}/items/{item_id}/decision"
    form = pmo.get(form_url).get_data(as_text=True)
    assert "Record the group's decision on " + cr.data["reference"] in form and 'id="decision-form"' in form
    wrong = pmo.post(form_url, data={"csrf_token": token, "decision_views": "Consensus."})
    assert wrong.status_code == 422
    body = wrong.get_data(as_text=True)
    assert 'class="govuk-error-summary"' in body and "<title>Error:" in body
    task_id = gov.meetings.decision_task(meeting_id, item_id, "pat")
    answers = to_raw(gov.forms.task_form(task_id, "pat").schema, ANSWERS["decide"])  # as the form's inputs send them
    done = pmo.post(form_url, data={"csrf_token": token, **answers}, follow_redirects=True)
    assert "is recorded: it is now approved" in done.get_data(as_text=True), done.get_data(as_text=True)[:3000]
    assert cr.state == "approved"
