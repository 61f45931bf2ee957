"""The management pages in headless Chromium: dashboard with charts, filters, an export, and an instance whose active
task is highlighted in the bpmn-js diagram; axe-core finds no serious or critical problem on any page."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.test_inbox_browser import check_accessibility, sign_in

pytestmark = pytest.mark.browser
RAISE = json.loads((Path(__file__).resolve().parents[2] / "bench" / "change_request.json").read_text())


def test_dashboard_filter_export_and_live_diagram(page, live_server, web_gov, password):
    base = live_server
    instance_id = web_gov.start("change_control", "alice", RAISE).instance_id
    web_gov.start("loop", "bob", {"title": "A loop request"})
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    sign_in(page, base, "pat", password)
    page.click("a.govuk-service-navigation__link:has-text('Management')")
    page.wait_for_url(base + "/manage/")
    page.wait_for_selector("body[data-charts-drawn='true']")
    check_accessibility(page)
    assert page.inner_text("#card-open") == "2"

    page.select_option("#f-process", "change_control")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r".*process=change_control.*"))
    check_accessibility(page)
    assert page.inner_text("#card-open") == "1"

    page.goto(base + "/manage/instances")
    check_accessibility(page)
    page.fill("#r-q", "loop request")
    page.click("#apply-filters")
    page.wait_for_url(re.compile(r".*q=loop.*"))
    assert page.locator("#register tbody tr").count() == 1
    with page.expect_download() as download:
        page.click("#export-csv")
    text = Path(download.value.path()).read_text()
    assert "A loop request" in text and "Fix" not in text.split("\n", 1)[0]

    page.goto(base + "/manage/instances")
    page.click(f"tr[data-instance-id='{instance_id}'] a")
    page.wait_for_url(base + f"/manage/instances/{instance_id}")
    page.wait_for_selector("#diagram[data-rendered='true']")
    check_accessibility(page)
    active = page.locator(".djs-element.govflow-active[data-element-id='validate']")
    assert active.count() == 1
    assert page.locator(".djs-element.govflow-completed[data-element-id='start_raise']").count() == 1
    assert page.locator(".djs-connection.govflow-taken").count() >= 1
    assert "validate" in page.inner_text("#active-elements")
    assert page.locator("#suspend").is_visible()  # the PMO may act

    page.click("text=Heatmap of this version")
    page.wait_for_selector("#diagram[data-rendered='true']")
    check_accessibility(page)
    assert page.locator(".govflow-heat").count() >= 1
    assert errors == []


def test_move_a_stuck_token_back_and_see_every_step_on_the_heatmap(page, live_server, web_gov, password):
    base = live_server
    instance_id = web_gov.start("change_control", "alice", RAISE).instance_id
    for element_id, user, data in (("validate", "carol", {"valid": False, "validation_issues": "Add milestones.",
                                                          "validation_notes": ""}),
                                   ("resolve_issues", "alice", {**RAISE, "response_to_issues": "Added."})):
        task = next(t for t in web_gov.tasks(user) if t.instance_id == instance_id and t.element_id == element_id)
        web_gov.complete(task.id, user, data)
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(page, base, "pat", password)
    page.goto(base + f"/manage/instances/{instance_id}")
    page.wait_for_selector("#diagram[data-rendered='true']")
    rows = page.locator("#move-targets tbody tr")
    assert rows.count() == 2
    assert "Resolve validation issues" in rows.nth(0).inner_text() and "alice" in rows.nth(0).inner_text()
    assert "Validate the change request" in rows.nth(1).inner_text() and "carol" in rows.nth(1).inner_text()
    rows.nth(0).locator("a", has_text="Move back to here").click()
    page.wait_for_url(re.compile(r".*/move\?task=.*"))
    check_accessibility(page)
    assert "Validate the change request" in page.inner_text("#move-cancels")
    page.click("#move")  # no reason: refused, nothing moved
    page.wait_for_selector("#reason-move-error")
    assert "Give a reason" in page.inner_text("#reason-move-error")
    page.fill("#reason-move", "Alice attached the wrong impact note")
    page.click("#move")
    page.wait_for_url(base + f"/manage/instances/{instance_id}")
    page.wait_for_selector("#diagram[data-rendered='true']")
    assert "the earlier task is open again" in page.inner_text("main")
    assert page.locator(".djs-element.govflow-active[data-element-id='resolve_issues']").count() == 1
    assert page.locator(".djs-element.govflow-active[data-element-id='validate']").count() == 0

    page.click("text=Heatmap of this version")
    page.wait_for_selector("#diagram[data-rendered='true']")
    check_accessibility(page)
    for element_id in ("start_raise", "log_request", "valid_gateway", "return_to_raiser", "validate"):
        badge = page.locator(f".djs-overlays[data-container-id='{element_id}'] .govflow-heat")
        assert badge.count() >= 1 and "1 passed" in badge.first.inner_text(), element_id
    assert errors == []
