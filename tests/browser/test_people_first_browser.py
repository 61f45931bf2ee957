"""Each persona's pages at 1280 and 390 px in Chromium: what they must decide on is there and visible, the page
never scrolls sideways, nothing fails to load, axe-core is clean; screenshots kept in tests/browser/output/."""
from __future__ import annotations

import pytest

from tests.browser.visual import WIDTHS, Watched
from tests.scenarios.change_control_driver import ChangeRequest

pytestmark = pytest.mark.browser


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def watched(request, browser):
    found = Watched(browser, request.param)
    yield found
    found.close()


def test_the_request_is_shown_whole_wherever_it_is_needed(watched, live_server, web_gov, clock, password):
    base = live_server
    cr = ChangeRequest(web_gov, clock).do("validate").do("triage").do("impact_assessment")
    fresh = ChangeRequest(web_gov, clock, title="Publish the settlement calendar as iCal")
    [validate] = fresh.tasks_of("carol", "validate")

    watched.sign_in(base, "alice", password)
    watched.look(f"{base}/requests/{cr.id}", "request-page-raiser", "Qualification testing capacity is short",
                 "Large supplier", "£250,000", "Four weeks' slip for wave 2 only.")
    watched.sign_in(base, "carol", password)
    # the change control manager validates with the request in front of her
    watched.look(f"{base}/tasks/{validate.id}", "validate-task", "Validate the change request",
                 "Move M10 from 1 March to 29 March 2027.", "Urgent: needs a decision before the next")
    cr.do("amend").do("issue_consultation")
    watched.sign_in(base, "bob", password)
    watched.look(f"{base}/requests/{cr.id}/messages/consultation_response", "consultation-response",
                 "Respond to the consultation", "Move M10 from 1 March to 29 March 2027.")
