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
    with web_gov.db.read() as db:
        if "change_control" not in web_gov.repository.process_ids(db):
            pytest.skip("the change-control diagram is not deployable here")
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
