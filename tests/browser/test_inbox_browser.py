"""The core path in a real headless Chromium: sign in, raise, claim and complete with errors then without, 403,
CSRF refusal, sign-out; axe-core finds no serious or critical accessibility problem on any page visited."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "web" / "static" / "vendor" / "axe" / "axe.min.js"


def check_accessibility(page) -> None:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert not bad, f"{page.url}: {bad}"


def visit(page, url: str):
    response = page.goto(url)
    check_accessibility(page)
    return response


def sign_in(page, base: str, username: str, password: str) -> None:
    visit(page, base + "/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(base + "/")
    check_accessibility(page)


def sign_out(page, base: str) -> None:
    page.click("#sign-out")
    page.wait_for_url(re.compile(r".*/sign-in.*"))
    check_accessibility(page)


def test_raise_review_and_complete_in_the_browser(page, live_server, web_gov, password):
    base = live_server
    # pages need a signed-in person
    visit(page, base + "/")
    assert "/sign-in" in page.url

    # a participant raises a request with the loop process's start form
    sign_in(page, base, "alice", password)
    with web_gov.db.read() as db:
        if "change_control" in web_gov.repository.process_ids(db):
            visit(page, base + "/requests/new/change_control")  # the real, long form passes axe too
            page.click("#submit")
            check_accessibility(page)
            assert page.locator(".govuk-error-summary").is_visible()
    visit(page, base + "/requests/new/loop")
    page.fill("#f-title", "ab")
    page.click("#submit")
    check_accessibility(page)
    assert page.locator(".govuk-error-summary").is_visible()
    assert page.input_value("#f-title") == "ab"  # input kept
    page.fill("#f-title", "Fix the MPAN format")
    page.click("#submit")
    page.wait_for_selector("#check-answers")
    check_accessibility(page)
    assert "Fix the MPAN format" in page.inner_text("#check-answers")
    page.click("#submit")
    page.wait_for_url(re.compile(r".*/requests/\d+$"))
    check_accessibility(page)
    assert "Fix the MPAN format" in page.inner_text("h1")
    instance_id = int(page.url.rsplit("/", 1)[1])
    visit(page, base + "/requests/")
    assert "Fix the MPAN format" in page.inner_text("#my-requests")

    # the POST without a CSRF token is refused, and nothing starts
    refused = page.request.post(base + "/requests/new/loop", form={"title": "Sneaky request"})
    assert refused.status == 400
    assert "security token" in refused.text()

    # sign-out ends the session
    sign_out(page, base)
    visit(page, base + "/requests/")
    assert "/sign-in" in page.url

    # the change control manager claims the review from the group tab
    sign_in(page, base, "carol", password)
    visit(page, base + "/?tab=groups")
    assert page.inner_text("#count-groups") == "1"
    row = page.locator("tr", has_text="Fix the MPAN format")
    row.get_by_role("button", name=re.compile("Claim")).click()
    page.wait_for_url(re.compile(r".*tab=groups.*"))
    check_accessibility(page)
    visit(page, base + "/")
    assert page.inner_text("#count-mine") == "1"
    page.click("#tasks a:has-text('Review')")
    page.wait_for_url(re.compile(r".*/tasks/.+"))
    check_accessibility(page)
    task_url = page.url
    assert "Fix the MPAN format" in page.inner_text("#instructions")

    # invalid: no answer to the required question; the error summary links to it and the input is kept
    page.fill("#f-issues", "Needs an impact note")
    page.click("#submit")
    check_accessibility(page)
    summary = page.locator(".govuk-error-summary")
    assert summary.is_visible() and "Choose an answer to ‘Is it valid?’" in summary.inner_text()
    assert page.locator(".govuk-error-summary a").first.get_attribute("href") == "#f-valid"
    assert page.input_value("#f-issues") == "Needs an impact note"

    # valid: the process moves on and carol is back in her inbox with a confirmation
    page.check("#f-valid")  # "Yes"
    page.click("#submit")
    page.wait_for_url(base + "/")
    check_accessibility(page)
    assert "You completed" in page.inner_text(".govuk-notification-banner")
    assert web_gov.show(instance_id)["status"] == "completed"
    visit(page, base + "/?tab=completed")
    assert page.inner_text("#count-completed") == "1"
    sign_out(page, base)

    # someone without the role gets 403
    sign_in(page, base, "bob", password)
    response = visit(page, task_url)
    assert response.status == 403
    assert "You do not have access" in page.inner_text("h1")
    sign_out(page, base)



@pytest.mark.browser
def test_notifications_page_in_the_browser(page, live_server, web_gov, password):
    from tests.web.cc_answers import RAISE
    web_gov.effects.background = False
    web_gov.start("change_control", "alice", RAISE)
    sign_in(page, live_server, "carol", password)
    assert page.locator("#notifications-link").inner_text().startswith("Notifications 1")
    visit(page, live_server + "/notifications/")
    page.check("input[name=notification]")
    page.click("#mark-selected")
    page.wait_for_url(re.compile(r"/notifications/$"))
    check_accessibility(page)
    assert "0 unread" in page.inner_text("h1")
    page.check("#preference-digest")
    page.click("#save-preference")
    assert web_gov.notification_preference("carol") == "digest"
