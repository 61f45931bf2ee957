"""A change request through processes/change_control.bpmn in a real headless Chromium, from raising to the
communication task: validation (with a form error, input kept), triage (with a server-side draft), impact
assessment, amendment, consultation (a participant responds from the request page), the window closing on the
test clock, review, tabling, the PSG decision; a saved inbox view, a comment, 403, a CSRF-less POST refused and
sign-out. axe-core finds no serious or critical problem on any page visited."""
from __future__ import annotations

import re

import pytest

from engine.store.models import Instance
from tests.web.cc_answers import AFTER_WINDOW, ANSWERS, RAISE, RESPONSE
from web.form_fields import to_raw

from .test_inbox_browser import check_accessibility, sign_in, sign_out, visit

pytestmark = pytest.mark.browser


def fill(page, raw: dict[str, str]) -> None:
    """Put flat form values (web.form_fields.to_raw) into the page's inputs, whatever their widget."""
    for name, value in raw.items():
        found = page.locator(f'[name="{name}"]')
        assert found.count(), f"no input called {name} on {page.url}"
        kind = found.first.get_attribute("type") or found.first.evaluate("e => e.tagName.toLowerCase()")
        if kind == "hidden":
            continue
        if kind == "select":
            found.first.select_option(value)
        elif kind in ("radio", "checkbox"):
            page.locator(f'[name="{name}"][value="{value}"]').check()
        else:
            found.first.fill(value)


def submit(page, selector: str = "#submit") -> None:
    with page.expect_navigation():
        page.click(selector)
    check_accessibility(page)


def form_schema(gov, task_id: str) -> dict:
    task = gov.task(task_id)
    with gov.db.read() as db:
        compiled = gov.repository.compiled(db, db.get(Instance, task.instance_id).process_version_id)
    return compiled.form_schema(compiled.elements[task.element_id].form)


def open_group_task(page, base: str, name: str) -> str:
    """From 'My groups', open the named task of the change request; returns its id."""
    visit(page, base + "/?tab=groups")
    row = page.locator("#tasks tr", has_text=RAISE["title"]).filter(has=page.get_by_role("link", name=name))
    with page.expect_navigation():
        row.get_by_role("link", name=name).click()
    check_accessibility(page)
    return page.url.rsplit("/", 1)[1]


def complete(page, gov, task_id: str, element_id: str) -> None:
    assert f"/tasks/{task_id}" in page.url
    fill(page, to_raw(form_schema(gov, task_id), ANSWERS[element_id]))
    submit(page)
    assert "You completed" in page.inner_text(".govuk-notification-banner")


def test_change_request_from_raising_to_communication(page, live_server, web_gov, password):
    base, gov = live_server, web_gov
    with gov.db.read() as db:
        raise_schema = gov.repository.compiled(db, gov.repository.latest(db, "change_control").id).form_schema(
            gov.repository.compiled(db, gov.repository.latest(db, "change_control").id).start_form)

    # alice raises the change request
    sign_in(page, base, "alice", password)
    visit(page, base + "/requests/new/change_control")
    fill(page, to_raw(raise_schema, RAISE))
    submit(page)  # continue: every answer to check, in words, before it is raised
    assert page.inner_text("h1") == "Check your answers before raising it"
    assert "Large supplier" in page.inner_text("#check-answers") and "£250,000" in page.inner_text("#check-answers")
    submit(page)
    assert re.search(r"/requests/\d+$", page.url), page.url
    instance_id = int(page.url.rsplit("/", 1)[1])
    sign_out(page, base)

    # carol validates: first without the answer the form needs (error, input kept), then properly
    sign_in(page, base, "carol", password)
    validate_id = open_group_task(page, base, "Validate the change request")
    page.fill("#f-validation-notes", "Complete.")
    submit(page)
    assert page.locator(".govuk-error-summary").is_visible()
    assert page.input_value("#f-validation-notes") == "Complete."
    complete(page, gov, validate_id, "validate")
    # triage is hers too: she goes straight to it, keeps a draft on the server, comes back to it, then submits
    [triage] = [t for t in gov.tasks("carol") if t.instance_id == instance_id and t.element_id == "triage"]
    if f"/tasks/{triage.id}" not in page.url:
        visit(page, f"{base}/tasks/{triage.id}")
    page.fill("#f-assessing-workstreams", "Testing")
    submit(page, "#save-draft")
    assert gov.draft(triage.id, "carol") is not None
    visit(page, f"{base}/tasks/{triage.id}")
    assert page.input_value("#f-assessing-workstreams") == "Testing" and page.locator("#draft-note").is_visible()
    complete(page, gov, triage.id, "triage")
    assert gov.draft(triage.id, "carol") is None  # completing the task forgets the draft

    # she saves an inbox view shared with her role
    visit(page, base + "/?tab=groups&q=M10")
    page.fill("#view-name", "M10 work")
    page.select_option("#view-share", "change_control_manager")
    submit(page, "#save-view-button")
    assert page.get_by_role("link", name="M10 work").is_visible()
    sign_out(page, base)

    # will writes the impact assessment
    sign_in(page, base, "will", password)
    complete(page, gov, open_group_task(page, base, "Write impact assessment and cost estimate"), "impact_assessment")
    sign_out(page, base)

    # carol amends and issues it for consultation (the second is hers next, so she lands on it)
    sign_in(page, base, "carol", password)
    complete(page, gov, open_group_task(page, base, "Amend the change request"), "amend")
    [issue] = [t for t in gov.tasks("carol") if t.instance_id == instance_id and t.element_id == "issue_consultation"]
    if f"/tasks/{issue.id}" not in page.url:
        visit(page, f"{base}/tasks/{issue.id}")
    complete(page, gov, issue.id, "issue_consultation")
    assert gov.show(instance_id)["state"] == "in consultation"
    sign_out(page, base)

    # bob, another participant, finds it open to the industry, responds and comments; he cannot act on tasks
    sign_in(page, base, "bob", password)
    visit(page, base + "/requests/?scope=all")
    with page.expect_navigation():
        page.locator("#my-requests").get_by_role("link", name=re.compile(r"CR\d+")).first.click()
    check_accessibility(page)
    with page.expect_navigation():
        page.click("#message-consultation-response")
    check_accessibility(page)
    submit(page)  # nothing filled in: errors
    assert page.locator(".govuk-error-summary").is_visible()
    fill(page, to_raw(gov.open_messages(instance_id, "bob")[0]["schema"], RESPONSE))
    submit(page)
    assert "You sent" in page.inner_text(".govuk-notification-banner")
    page.fill("#comment", "Small suppliers need the extra weeks.")
    submit(page, "#add-comment")
    assert "Small suppliers need the extra weeks." in page.inner_text("#comment-list")
    response = visit(page, f"{base}/tasks/{issue.id}")
    assert response.status == 403 and "You do not have access" in page.inner_text("h1")
    sign_out(page, base)

    # time moves on: the consultation window closes
    gov.clock.set(AFTER_WINDOW)
    assert gov.fire_due_timers()

    sign_in(page, base, "will", password)
    complete(page, gov, open_group_task(page, base, "Review responses and recommend"), "review")
    sign_out(page, base)

    sign_in(page, base, "pat", password)
    table_id = open_group_task(page, base, "Table at the decision meeting")
    refused = page.request.post(f"{base}/tasks/{table_id}", form={"_action": "complete", "agenda_item": "x"})
    assert refused.status == 400 and "security token" in refused.text()
    complete(page, gov, table_id, "table")
    sign_out(page, base)

    sign_in(page, base, "chris", password)
    complete(page, gov, open_group_task(page, base, "Record the decision"), "decide")
    sign_out(page, base)

    # pat gets the communication task
    sign_in(page, base, "pat", password)
    open_group_task(page, base, "Communicate the decision")
    assert page.locator("#task-form").is_visible()
    assert gov.show(instance_id)["state"] == "approved"
    sign_out(page, base)
    visit(page, base + "/")
    assert "/sign-in" in page.url  # signed out means signed out
