"""Withdrawing a consultation response on the web: a button beside "your response", a confirmation page with a
warning button and an optional reason, CSRF, then the request offers "Respond" again, its answers and history say
so; after the window closes a withdrawal is refused with the closing date, on the request page."""
from __future__ import annotations

from datetime import datetime

from tests.scenarios.change_control_driver import ChangeRequest
from tests.web.page_text import text_of

WITHDRAW = "consultation_response_withdrawn"


def test_withdraw_a_response_then_respond_again_and_refused_once_closed(signed_in, web_gov, clock, csrf_of):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    cr.respond("bob", comments="First thoughts.")
    cr.respond("will", comments="The delivery partner view.", respondent_organisation="Lead Delivery Partner")
    assert 'id="message-consultation-response-withdrawn"' not in signed_in("alice").get(f"/requests/{cr.id}").text
    bob = signed_in("bob")
    page = bob.get(f"/requests/{cr.id}").text
    assert text_of(page, "message-consultation-response-withdrawn") == "Withdraw your response"
    form = bob.get(f"/requests/{cr.id}/messages/{WITHDRAW}").text
    assert "First thoughts." in text_of(form, "withdrawing") and ">Withdraw your response</button>" in form
    assert "govuk-button--warning" in form
    assert bob.post(f"/requests/{cr.id}/messages/{WITHDRAW}", data={"reason": "x"}).status_code == 400  # no CSRF
    done = bob.post(f"/requests/{cr.id}/messages/{WITHDRAW}", data={"reason": "Board not yet agreed.",
                                                                    "csrf_token": csrf_of(form)})
    assert done.status_code == 302 and [r["sent_by"] for r in cr.data["consultation_responses"]] == ["will"]
    page = bob.get(f"/requests/{cr.id}").text
    assert text_of(page, "message-consultation-response") == "Respond to the consultation"
    assert 'id="mine-consultation-response"' not in page and "First thoughts." not in page
    assert "The delivery partner view." in page  # the other party's response is still part of the request
    assert "Consultation response withdrawn by Bob Baker Reason: Board not yet agreed." in text_of(page, "history")
    cr.respond("bob", comments="Second thoughts.")
    form = bob.get(f"/requests/{cr.id}/messages/{WITHDRAW}").text
    cr.at(datetime.fromisoformat(cr.data["consultation_closes_at"]))
    refused = bob.post(f"/requests/{cr.id}/messages/{WITHDRAW}", data={"csrf_token": csrf_of(form)},
                       follow_redirects=True)
    closed = datetime.fromisoformat(cr.data["consultation_closed_at"])
    assert refused.status_code == 200 and (f"The consultation closed on {closed.day} {closed:%B %Y}: responses can "
                                           "no longer be withdrawn.") in refused.text
    assert "Second thoughts." in text_of(refused.text, "mine-consultation-response")
