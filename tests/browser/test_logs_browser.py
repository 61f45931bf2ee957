"""The PMO's meetings and logs in a real headless Chromium: the PMO plans an extraordinary PSG
meeting, a reviewed change request places itself on its agenda, the decision log links the decision to that agenda
item, the action log shows an overdue action, the PMO edits the RAID log while a participant and a chair cannot, and
the CSV and .xlsx exports download. axe-core finds no serious or critical problem on any page visited."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime, timezone

import pytest

from tests.scenarios.change_control_driver import ChangeRequest, WINDOW_CLOSES

from .test_inbox_browser import check_accessibility, sign_in, sign_out, visit

pytestmark = pytest.mark.browser
UTC = timezone.utc


def save(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    check_accessibility(page)


def download(page, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    found = info.value
    return found.suggested_filename, open(found.path(), "rb").read()


def test_the_pmo_plans_a_meeting_and_keeps_the_logs(page, live_server, web_gov, password):
    base, gov = live_server, web_gov
    cr = ChangeRequest(gov, gov.clock).to_consultation()   # issued for consultation on Thu 17 Dec 2026
    cr.at(WINDOW_CLOSES)                                     # the window closes Tue 5 Jan 2027

    # the PMO plans an extraordinary PSG meeting on Wed 20 Jan (papers due Wed 13 Jan)
    sign_in(page, base, "pat", password)
    visit(page, base + "/logs/meetings?group=PSG")
    page.fill("#x-group", "PSG")
    page.fill("#held_on", "2027-01-20")
    page.fill("#note", "Urgent change requests")
    with page.expect_navigation():
        page.locator("#add-extraordinary").get_by_role("button", name="Add meeting").click()
    check_accessibility(page)
    assert "Extraordinary PSG meeting on 2027-01-20 added; papers due 2027-01-13" in page.inner_text("main")

    # the workstream's review puts the CR on the agenda of the next PSG whose papers it can make: the 6 January
    # papers closed on 29 December, so the extraordinary one
    cr.do("review")
    assert (cr.data["decision_meeting_date"], cr.data["agenda_item"]) == ("2027-01-20", "Item 1: CR001")
    visit(page, base + "/logs/meetings?group=PSG")
    row = page.locator("#meetings tr", has_text="2027-01-20")
    assert "extraordinary" in row.inner_text() and "CR001" in row.inner_text()
    with page.expect_navigation():
        row.get_by_role("link", name=re.compile("2027-01-20")).click()
    check_accessibility(page)
    assert "Programme Steering Group (PSG), 20 January 2027" in page.inner_text("h1")
    item = page.locator("#agenda tbody tr", has_text="CR001")
    assert "Move the M10 qualification milestone" in item.inner_text() and "Not yet" in item.inner_text()
    agenda_row_id = item.get_attribute("id")
    assert agenda_row_id == f"item-{cr.data['agenda_item_id']}"

    # tabled in time and decided at the meeting: the decision log links the decision to that agenda item
    cr.do("table")
    gov.clock.set(datetime(2027, 1, 20, 11, 30, tzinfo=UTC))
    cr.do("decide")
    visit(page, base + "/logs/decisions")
    decision = page.locator("#log-table tbody tr", has_text="CR001")
    assert decision.count() == 1 and "Accept" in decision.inner_text()
    with page.expect_navigation():
        decision.get_by_role("link", name="PSG 2027-01-20").click()
    check_accessibility(page)
    assert page.url.endswith(f"/logs/meetings/{cr.data['decision_meeting_id']}#{agenda_row_id}")
    assert "PSG, 2027-01-20: Accept" in page.locator(f"#{agenda_row_id}").inner_text()

    # the action log: an action cannot be due in the past (Mon 18 Jan); due Fri 22 Jan, it is overdue on Mon 25 Jan
    visit(page, base + "/logs/actions")
    with page.expect_navigation():
        page.click("#add-entry")
    check_accessibility(page)
    page.fill("#title", "Circulate the revised plan")
    page.fill("#group_id", "PSG")
    page.fill("#owner", "will")
    page.fill("#due_on", "2027-01-18")
    save(page)
    assert "There is a problem" in page.inner_text(".govuk-error-summary")
    assert page.input_value("#title") == "Circulate the revised plan"  # the rest of the form is kept
    page.fill("#due_on", "2027-01-22")
    save(page)
    assert "was saved" in page.inner_text(".govuk-notification-banner")
    gov.clock.set(datetime(2027, 1, 25, 9, tzinfo=UTC))
    page.select_option("#status", "overdue")
    with page.expect_navigation():
        page.locator("#log-search").get_by_role("button", name="Search").click()
    check_accessibility(page)
    overdue = page.locator("#log-table tbody tr")
    assert overdue.count() == 1
    assert "Circulate the revised plan" in overdue.inner_text() and "Overdue" in overdue.inner_text()

    # the RAID log: the PMO records a risk, then raises its RAG to red
    visit(page, base + "/logs/raid")
    with page.expect_navigation():
        page.click("#add-entry")
    check_accessibility(page)
    page.select_option("#type", "risk")
    page.fill("#title", "SIT environment unavailable in February")
    page.fill("#owner", "Will Walker")
    page.select_option("#rag", "amber")
    page.fill("#mitigation", "Book the backup environment")
    save(page)
    risk = page.locator("#log-table tbody tr", has_text="SIT environment unavailable")
    assert "Amber".lower() in risk.inner_text().lower()
    with page.expect_navigation():
        risk.get_by_role("link", name=re.compile("Edit")).click()
    check_accessibility(page)
    edit_url = page.url
    page.select_option("#rag", "red")
    save(page)
    assert "red" in page.locator("#log-table tbody tr", has_text="SIT environment unavailable").inner_text()

    # the exports download, with what the page lists
    visit(page, base + "/logs/decisions")
    name, content = download(page, "#export-csv")
    assert name.startswith("decisions-log-") and name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(content.decode("utf-8"))))
    assert rows[0][:3] == ["Source", "Reference", "Title"]
    assert [r[1] for r in rows[1:]] == ["CR001"] and "PSG 2027-01-20" in rows[1]
    name, content = download(page, "#export-xlsx")
    assert name.startswith("decisions-log-") and name.endswith(".xlsx")
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        sheets = "".join(book.read(n).decode("utf-8") for n in book.namelist() if n.startswith("xl/"))
    assert "CR001" in sheets and "PSG 2027-01-20" in sheets
    sign_out(page, base)

    # a chair reads the logs but cannot edit them; a participant cannot even read them
    sign_in(page, base, "chris", password)
    visit(page, base + "/logs/raid")
    assert "SIT environment unavailable" in page.inner_text("#log-table")
    assert page.locator("#add-entry").count() == 0
    response = visit(page, edit_url)
    assert response.status == 403
    sign_out(page, base)
    sign_in(page, base, "alice", password)
    response = visit(page, base + "/logs/raid")
    assert response.status == 403 and "You do not have access" in page.inner_text("h1")
    response = visit(page, edit_url)
    assert response.status == 403
    refused = page.request.post(edit_url, form={"rag": "green"})
    assert refused.status in (400, 403)
    sign_out(page, base)
    with gov.db.read() as session:
        from engine.governance import logs
        [kept] = [r for r in logs.raid(session) if r["title"].startswith("SIT environment")]
    assert kept["rag"] == "red"
