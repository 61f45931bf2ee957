"""File attachments in a real headless Chromium: a refused file on the raise form is explained beside its field, and a
POST over the form limit gets a clear page; on
the impact assessment a file is attached, the form comes back for another field with the file still attached, is
fixed and completed, and the file downloads from the request page with its bytes intact. axe-core finds no serious
or critical problem on any page visited."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.scenarios.change_control_driver import ANSWERS, ChangeRequest

from .test_change_control_browser import submit
from .test_inbox_browser import check_accessibility, sign_in, visit

pytestmark = pytest.mark.browser

from tests.sample_files import PDF


def test_attach_keep_through_an_error_complete_and_download(page, live_server, app, web_gov, clock, password,
                                                            tmp_path):
    base = live_server
    bad = tmp_path / "invoice.pdf"
    bad.write_bytes(b"MZ\x90\x00 not a pdf at all")
    good = tmp_path / "Cost workings.pdf"
    good.write_bytes(PDF)

    # the raise form: a file that is not what its name says is explained beside the chooser and in the summary
    sign_in(page, base, "alice", password)
    visit(page, base + "/requests/new/change_control")
    page.set_input_files("#f-supporting-documents", str(bad))
    submit(page)
    assert "‘invoice.pdf’ is not a real PDF" in page.inner_text("#f-supporting-documents-error")
    assert "‘invoice.pdf’ is not a real PDF" in page.inner_text(".govuk-error-summary")

    # more than one form may carry at once: a page that says so, not a bare 413
    app.config["FORM_UPLOAD_LIMIT"] = 200_000
    huge = tmp_path / "huge.pdf"
    huge.write_bytes(PDF + bytes(1_000_000))
    page.set_input_files("#f-supporting-documents", str(huge))
    submit(page)
    assert page.inner_text("h1") == "The files you sent are too large"
    assert "more than 200 KB" in page.inner_text("#error-message")
    app.config["FORM_UPLOAD_LIMIT"] = 50_000_000
    page.goto(base + "/")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r".*/sign-in.*"))

    # the impact assessment, with a file and a money field that is not money
    cr = ChangeRequest(web_gov, clock).do("validate").do("triage")
    task = cr.task("impact_assessment")
    sign_in(page, base, "will", password)
    visit(page, f"{base}/tasks/{task.id}")
    answers = ANSWERS["impact_assessment"]
    page.fill("#f-ia-summary", answers["ia_summary"])
    page.fill("#f-ia-cost-estimate-gbp", "three hundred thousand")
    page.fill("#f-ia-schedule-impact", answers["ia_schedule_impact"])
    for name in ("ia-tom-impact", "ia-consumer-competition-impact", "ia-level1-milestone-change"):
        page.check(f"#f-{name}-2")  # "No"
    page.set_input_files("#f-ia-documents", str(good))
    submit(page)
    assert "must be an amount of money" in page.inner_text(".govuk-error-summary")
    assert "Cost workings.pdf" in page.inner_text("#f-ia-documents-files")  # still attached
    assert f"{len(PDF)} bytes" in page.inner_text("#f-ia-documents-files")
    assert page.input_value("#f-ia-summary") == answers["ia_summary"]  # nothing else lost
    assert page.is_checked("#f-ia-tom-impact-2")

    # fixed and completed without choosing the file again; Enter in a text box submits (it does not press the
    # file's Remove button, which comes first in the form)
    page.fill("#f-ia-cost-estimate-gbp", "300000")
    with page.expect_navigation():
        page.press("#f-ia-cost-estimate-gbp", "Enter")
    check_accessibility(page)
    assert "You completed" in page.inner_text(".govuk-notification-banner")
    [descriptor] = cr.data["ia_documents"]
    assert descriptor["name"] == "Cost workings.pdf" and descriptor["type"] == "application/pdf"

    # the request page lists it and it downloads as it was sent
    visit(page, f"{base}/requests/{cr.id}")
    link = page.locator("#attached-files a", has_text="Cost workings.pdf")
    with page.expect_download() as waiting:
        link.click()
    download = waiting.value
    assert download.suggested_filename == "Cost workings.pdf"
    assert Path(download.path()).read_bytes() == PDF
