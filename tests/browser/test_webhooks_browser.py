"""An admin manages webhooks in Chromium at 1280 and 390 px: finds them from Management, is told what is wrong with
an empty form, adds one (its secret shown once), sends it a test event that a real receiver on 127.0.0.1 answers,
reads the delivery log, and disables it after confirming. Every page fits, loads cleanly and passes axe-core."""
from __future__ import annotations

import json

import pytest

from tests.browser.visual import WIDTHS, Watched

pytestmark = pytest.mark.browser


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def watched(request, browser):
    found = Watched(browser, request.param)
    yield found
    found.close()


def test_an_admin_adds_tests_and_disables_a_webhook(watched, live_server, web_gov, password, receiver):
    base, page = live_server, watched.page
    watched.sign_in(base, "admin", password)
    watched.look(f"{base}/manage/", "management-dashboard")
    with page.expect_navigation():
        page.get_by_role("navigation", name="Management pages").get_by_role("link", name="Webhooks").click()
    watched.check("webhooks-empty", "No webhooks yet.", "Add a webhook")

    with page.expect_navigation():
        page.click("#add-webhook-button")
    expected = [p for p in watched.problems if "422" in p]  # the refused form answers 422 Unprocessable, rightly
    assert expected and len(expected) == len(watched.problems)
    watched.problems.clear()
    watched.check("webhooks-errors", "There is a problem", "Enter the receiver's full address",
                  "Choose at least one event to send")
    page.fill("#url", receiver.url)
    page.check("#event-task-completed")
    with page.expect_navigation():
        page.click("#add-webhook-button")
    watched.check("webhooks-added", "Webhook added", "it is not shown again")
    secret = page.inner_text("#webhook-secret")
    assert secret.startswith("whsec_") and receiver.url in page.inner_text("#webhooks")

    with page.expect_navigation():
        page.get_by_role("link", name="Delivery log").first.click()
    watched.check("webhook-log-empty", "Nothing sent yet.")
    with page.expect_navigation():
        page.click("#send-test")
    web_gov.effects.wait_idle()
    assert [json.loads(r["body"])["event"] for r in receiver.received] == ["webhook.test"]
    watched.look(page.url, "webhook-log", "webhook.test", "204")

    watched.look(f"{base}/manage/webhooks/", "webhooks-list", "task.completed", "Active")
    with page.expect_navigation():
        page.get_by_role("link", name="Disable").first.click()
    watched.check("webhook-disable-confirm", "Disable this webhook?", "govflow stops sending events to it")
    with page.expect_navigation():
        page.click("#confirm")
    watched.check("webhooks-disabled", "is disabled", "Disabled")
    assert web_gov.webhooks.listing("admin")[0]["status"] == "disabled"

    # the account's API tokens, one link away on every page, and the menu still on one line at 1280 px
    with page.expect_navigation():
        page.click("#api-tokens")
    watched.check("account-tokens", "Make a token")
    if watched.width >= 1280:
        items = page.eval_on_selector_all("#navigation > li", "els => els.map(e => e.getBoundingClientRect().top)")
        assert len(set(items)) == 1, f"the admin's menu wraps onto {len(set(items))} lines at 1280 px"
