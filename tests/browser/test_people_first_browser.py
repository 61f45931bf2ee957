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


def test_each_persona_s_main_pages_fit_and_read_well(watched, live_server, web_gov, clock, password):
    base = live_server
    cr = ChangeRequest(web_gov, clock, title="Publish the settlement calendar as iCal")
    done = ChangeRequest(web_gov, clock).to_consultation()
    done.respond("bob", comments="We support it.")

    watched.sign_in(base, "carol", password)
    # nothing is hers yet: the inbox opens on her groups' tasks, the list before the filters
    watched.look(f"{base}/", "inbox-ccm", "Validate the change request", "Claim")
    assert watched.page.locator("#tab-groups[aria-current=page]").count() == 1
    watched.look(f"{base}/requests/{done.id}", "request-ccm", "Carol Clarke completed", "We support it.")
    watched.look(f"{base}/search/?q=iCal", "search-ccm", "Publish the settlement calendar as iCal")
    watched.look(f"{base}/notifications/", "notifications-ccm", "Notifications")

    watched.sign_in(base, "pat", password)
    watched.look(f"{base}/queue", "work-queue-pmo", "Work queue", "Validate the change request")
    if watched.width == 1280:  # the menu fits one line
        tops = watched.page.eval_on_selector_all("#navigation > li", "items => items.map(i => i.offsetTop)")
        assert len(set(tops)) == 1, tops
    [task] = cr.tasks_of("carol", "validate")
    watched.look(f"{base}/tasks/{task.id}/reassign", "reassign-pmo", "Reassign", "Give this task to")
    watched.look(f"{base}/logs/decisions", "decision-log-pmo", "Decision log")

    watched.sign_in(base, "admin", password)
    watched.look(f"{base}/manage/instances/{done.id}", "instance-admin", "What was asked",
                 "Carol Clarke completed ‘Validate the change request’")
    assert not watched.page.locator("#technical-details").evaluate("d => d.open")  # raw data only on demand
    version = web_gov.show(done.id)["version_id"]
    watched.look(f"{base}/manage/versions/{version}/heatmap", "heatmap-admin", "the busiest steps")
    width = watched.page.eval_on_selector("#diagram", "d => d.getBoundingClientRect().width")
    assert width > watched.width - 100, width  # the whole window, not the 960 px column
    # tables of three or more columns reflow on a phone, labelled by their columns
    watched.look(f"{base}/library/", "library-admin", "Change request", "Running instances")
    watched.look(f"{base}/admin/seats/", "seats-admin", "Seat register")


def test_a_party_confirms_and_withdraws_its_consultation_response(watched, live_server, web_gov, clock, password):
    base = live_server
    cr = ChangeRequest(web_gov, clock).to_consultation()
    cr.respond("bob", comments="We support it, for now.")
    watched.sign_in(base, "bob", password)
    watched.look(f"{base}/requests/{cr.id}", "request-your-response", "We support it, for now.",
                 "Withdraw your response")
    with watched.page.expect_navigation():
        watched.page.click("#message-consultation-response-withdrawn")
    watched.check("withdraw-response-confirm", "The response you are withdrawing", "We support it, for now.")
    watched.page.fill("textarea[name=reason]", "Our board has not agreed it yet.")
    with watched.page.expect_navigation():
        watched.page.click("button#submit")
    watched.check("request-response-withdrawn", "You withdrew your consultation response on CR001.",
                  "Consultation response withdrawn by Bob Baker", "Respond to the consultation")
    assert watched.page.locator("#mine-consultation-response").count() == 0
    assert cr.data["consultation_responses"] == []
