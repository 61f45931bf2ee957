"""In headless Chromium: open the change-control diagram in the modeler, add a user task, see the lint complain until
its lane and form are set, publish; a new instance reaches the new task while an older one continues on version 1;
the diff shows the added task; a dry-run migration report."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from engine.store.models import HumanTask, Instance

from .helpers import open_draft_as_analyst, raise_data
from .test_library_engine import _validate_answers

pytestmark = pytest.mark.browser
PID = "change_control"

ADD_TASK = """() => {
  const m = window.govflowModeler
  const registry = m.get('elementRegistry'), modeling = m.get('modeling'), factory = m.get('elementFactory')
  const sub = registry.get('pre_decision'), validate = registry.get('validate')
  const flow = registry.get('flow_validate_merge_to_validate')
  const shape = modeling.createShape(factory.createShape({ type: 'bpmn:UserTask' }),
                                     { x: validate.x + 55, y: validate.y + 230 }, sub)
  modeling.reconnectEnd(flow, shape, { x: shape.x, y: shape.y + 40 })
  modeling.connect(shape, validate)
  m.get('selection').select(shape)
  return shape.id
}"""


def ready_elements(gov, instance_id):
    with gov.db.read() as session:
        return sorted(session.scalars(select(HumanTask.element_id).where(
            HumanTask.instance_id == instance_id, HumanTask.status == "ready")))


def problems_for(page, element_id):
    return page.locator(f'#problem-list li[data-element-id="{element_id}"]')


def check(page):
    before = int(page.get_attribute("body", "data-checked") or 0)
    page.click("#check-diagram")
    page.wait_for_selector(f"body[data-checked='{before + 1}']")


def test_edit_publish_run_diff_and_dry_run_in_the_browser(page, live_server, gov):
    base = live_server
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    old = gov.start(PID, "alice", raise_data())  # runs on version 1

    open_draft_as_analyst(page, base, PID)
    page.click("#edit-diagram")
    page.wait_for_selector("body[data-modeler-ready='true']", timeout=20000)
    assert page.locator("#canvas .djs-element[data-element-id='validate']").count() == 1

    created = page.evaluate(ADD_TASK)
    page.wait_for_selector("#properties-form:not([hidden])")
    page.fill("#prop-id", "check_duplicates")
    page.press("#prop-id", "Tab")
    page.fill("#prop-name", "Check for duplicates")
    page.press("#prop-name", "Tab")
    assert page.evaluate("!!window.govflowModeler.get('elementRegistry').get('check_duplicates')"), created

    check(page)  # no lane, no form: the lint complains, on the element and in the list
    reasons = " ".join(problems_for(page, "check_duplicates").all_inner_texts())
    assert "form" in reasons, page.inner_text("#problem-list")
    assert page.locator(".djs-element.govflow-problem[data-element-id='check_duplicates']").count() == 1
    assert page.locator(".govflow-problem-badge").count() >= 1
    lane_now = page.eval_on_selector("#prop-lane", "s => s.value")
    if lane_now:  # the modeler put it in the lane it was drawn in: take it out to see the lint complain
        page.select_option("#prop-lane", "")
        check(page)
        reasons = " ".join(problems_for(page, "check_duplicates").all_inner_texts())
    assert "lane" in reasons, reasons

    page.select_option("#prop-lane", label="Change Control Manager")
    check(page)
    reasons = " ".join(problems_for(page, "check_duplicates").all_inner_texts())
    assert "lane" not in reasons and "form" in reasons, reasons
    page.select_option("#prop-form", "change_control/triage.schema.json")
    check(page)
    assert page.locator("#no-problems").count() == 1, page.inner_text("#problem-list")
    assert page.locator(".govflow-problem").count() == 0

    page.click("#to-publish")
    page.wait_for_url("**/library/change_control/publish")
    expect(page.locator("main")).to_contain_text("check_duplicates")  # waits for the page, unlike inner_text
    page.fill("#note", "Check for duplicates before validation")
    page.click("#publish")
    page.wait_for_selector("#version-2")
    assert "Check for duplicates before validation" in page.inner_text("#versions")

    # a new instance runs on version 2 and reaches the new task; the old one continues on version 1
    new = gov.start(PID, "bob", raise_data())
    assert ready_elements(gov, new.instance_id) == ["check_duplicates"]
    task_id = next(t.id for t in gov.tasks("carol") if t.instance_id == old.instance_id)
    gov.complete(task_id, "carol", _validate_answers(gov, task_id))
    with gov.db.read() as session:
        versions = {i.id: i.process_version_id for i in session.scalars(select(Instance))}
    assert versions[old.instance_id] != versions[new.instance_id]
    assert "check_duplicates" not in ready_elements(gov, old.instance_id)

    # the diff shows the added task, in the table and on the diagram
    page.click("#compare-button")
    page.wait_for_selector("body[data-diff-drawn]", timeout=20000)
    assert page.get_attribute("body", "data-diff-drawn") == "true"
    assert page.locator('tr[data-change="added"][data-element-id="check_duplicates"]').count() == 1
    assert page.locator("#diagram-after .govflow-diff-added[data-element-id='check_duplicates']").count() == 1

    # a dry-run migration report: the version 1 instance can move to version 2
    page.goto(f"{base}/library/{PID}#migrate")
    page.check(f"#instance-{old.instance_id}")
    page.select_option("#to-version", label="Version 2")
    page.click("#dry-run")
    row = page.locator(f'#migration-report tr[data-instance="{old.instance_id}"]')
    assert row.get_attribute("data-ok") == "yes", row.inner_text()
    assert re.search(r"Dry run", page.inner_text("h1"))
    with gov.db.read() as session:
        assert session.get(Instance, old.instance_id).process_version_id == versions[old.instance_id]
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors


def test_decision_table_and_form_editors_open_under_the_csp(page, live_server):
    base = live_server
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    open_draft_as_analyst(page, base, PID)
    page.goto(f"{base}/library/{PID}/draft/decisions/ofgem_threshold.dmn")
    page.wait_for_selector("body[data-modeler-ready='true']", timeout=20000)
    assert page.locator("#dmn-canvas .tjs-table").count() == 1
    page.click("#save-decision")
    page.wait_for_selector("#no-problems", timeout=20000)

    page.goto(f"{base}/library/{PID}/draft/forms/forms/change_control/triage.schema.json")
    page.fill("#schema", '{"type": "object", "title": "T", "properties": {"why": {"type": "string", '
                         '"title": "Why is this a duplicate?", "x-govflow-widget": "textarea"}}}')
    page.wait_for_selector("#form-preview textarea#f-why", timeout=10000)
    assert "Why is this a duplicate?" in page.inner_text("#form-preview")
    assert not [e for e in errors if "Content Security Policy" in e], errors
