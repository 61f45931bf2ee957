"""Governance beyond change requests in a real headless Chromium: the seat register (an admin assigns a DAG seat, a
non-admin cannot), an escalation raised for a working group and passed up by each level's chair until PSG has it
(processes/escalation.bpmn), and an appeal upheld by the IPA and enacted by the SRO reopening the change request
(processes/appeal.bpmn). axe-core finds no serious or critical problem on any page visited."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.store.models import Instance
from engine.governance.seats import assign_seat, seat_register
from tests.scenarios.test_appeal import CR_RAISE, change_request_to_decision, decide_change_request
from web.form_fields import to_raw

from .test_change_control_browser import fill, form_schema, submit
from .test_inbox_browser import check_accessibility, sign_in, sign_out, visit

pytestmark = pytest.mark.browser


def start_schema(gov, process_id: str) -> dict:
    with gov.db.read() as db:
        compiled = gov.repository.compiled(db, gov.repository.latest(db, process_id).id)
        return compiled.form_schema(compiled.start_form)


def raise_in_browser(page, base: str, gov, process_id: str, answers: dict) -> int:
    """Fill the process's start form at /requests/new/<process_id>; returns the new instance's id."""
    visit(page, f"{base}/requests/new/{process_id}")
    fill(page, to_raw(start_schema(gov, process_id), answers))
    submit(page)  # to check the answers
    submit(page)  # raise it
    assert re.search(r"/requests/\d+$", page.url), page.url
    return int(page.url.rsplit("/", 1)[1])


def group_row(page, base: str, text: str, task_name: str):
    """The row of 'My groups' for this request and task (the locator may match nothing)."""
    visit(page, base + "/?tab=groups")
    return page.locator("#tasks tr", has_text=text).filter(has=page.get_by_role("link", name=task_name))


def open_task(page, base: str, gov, username: str, instance_id: int, element_id: str) -> str:
    """Open this person's task of the instance from their inbox (mine or my groups); returns its id."""
    [task] = [t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == element_id]
    visit(page, base + "/?tab=groups")
    link = page.locator(f'#tasks a[href$="/tasks/{task.id}"]')
    if not link.count():
        visit(page, base + "/")
    with page.expect_navigation():
        link.first.click()
    check_accessibility(page)
    assert page.url.endswith(f"/tasks/{task.id}")
    return task.id


def complete(page, gov, task_id: str, answers: dict) -> None:
    fill(page, to_raw(form_schema(gov, task_id), answers))
    submit(page)
    assert "You completed" in page.inner_text(".govuk-notification-banner"), page.inner_text("main")[:1000]


# ---- (1) the seat register ------------------------------------------------------------------------------------------

def test_an_admin_assigns_a_dag_seat_and_others_cannot(page, live_server, web_gov, password):
    base, gov = live_server, web_gov
    sign_in(page, base, "admin", password)
    visit(page, base + "/admin/seats/")
    with page.expect_navigation():
        page.locator("#group-DAG").get_by_role("link").click()
    check_accessibility(page)
    assert page.url.endswith("/admin/seats/DAG")
    chair = page.locator("#seat-0")
    assert "SRO_CHAIR" in chair.inner_text()
    page.select_option("#holder-0", "chris")
    page.select_option("#alternate-0", "sam")
    with page.expect_navigation():
        chair.get_by_role("button", name=re.compile("Save")).click()
    check_accessibility(page)
    assert "Chris Chen" in page.inner_text(".govuk-notification-banner")
    assert page.input_value("#holder-0") == "chris" and page.input_value("#alternate-0") == "sam"
    # the register shows DAG's new chair and the change
    visit(page, base + "/admin/seats/")
    assert "Chris Chen" in page.inner_text("#group-DAG")
    assert "admin set DAG SRO_CHAIR to chris (alternate sam)" in page.inner_text("#seat-history")
    [dag] = [grp for grp in seat_register(gov) if grp.id == "DAG"]
    assert (dag.seats[0].holder, dag.seats[0].alternate) == ("chris", "sam")
    sign_out(page, base)

    # programme staff read the register but cannot change it; the POST is refused and nothing changes
    sign_in(page, base, "pat", password)
    visit(page, base + "/admin/seats/DAG")
    assert page.locator("select").count() == 0 and page.locator("#seats button").count() == 0
    assert "Chris Chen" in page.inner_text("#seat-0")
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    refused = page.request.post(base + "/admin/seats/DAG/0", form={"csrf_token": token, "holder": "pat"})
    assert refused.status == 403
    sign_out(page, base)

    # a participant may not even read it
    sign_in(page, base, "alice", password)
    response = visit(page, base + "/admin/seats/")
    assert response.status == 403 and "You do not have access" in page.inner_text("h1")
    sign_out(page, base)
    [dag] = [grp for grp in seat_register(gov) if grp.id == "DAG"]
    assert dag.seats[0].holder == "chris"


# ---- (2) an escalation from a working group up to PSG ----------------------------------------------------------------

ESCALATION = {"title": "Test environment booking rules", "concern": "SIT environment slots are allocated unfairly.",
              "desired_outcome": "A published, fair booking rule.", "route": "group", "origin_group": "TWG",
              "raiser_organisation": "Lead Delivery Partner", "cost_impact_gbp": 0, "tom_impact": False,
              "consumer_competition_impact": False, "level1_milestone_change": False}


def test_a_working_group_escalation_is_passed_up_to_psg(page, live_server, web_gov, password):
    base, gov = live_server, web_gov
    assign_seat(gov, "SITAG", "SRO_CHAIR", by="admin", holder="chris")
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")

    # TWG (an open working group) raises it: it goes to its parent, SITAG
    sign_in(page, base, "will", password)
    iid = raise_in_browser(page, base, gov, "escalation", ESCALATION)
    assert "Test environment booking rules" in page.inner_text("h1")
    assert gov.show(iid)["state"] == "with SITAG"
    sign_out(page, base)

    # SITAG's chair passes it up
    sign_in(page, base, "chris", password)
    task_id = open_task(page, base, gov, "chris", iid, "consider_at_group")
    assert "SITAG" in page.inner_text("#instructions")
    complete(page, gov, task_id, {"group_decision": "escalate", "group_outcome": "SITAG cannot agree a rule.",
                                  "group_views": "No consensus.", "decided_on": "2026-12-01"})
    assert gov.show(iid)["state"] == "with PSG"
    # PSG's task is not his: he holds no PSG seat, so his inbox does not list it, its page refuses him and so does
    # a claim
    assert [t for t in gov.tasks("chris") if t.instance_id == iid] == []
    assert not group_row(page, base, "Test environment booking rules", "Consider the escalation").count()
    [psg_task] = [t for t in gov.tasks("sam") if t.instance_id == iid]
    assert psg_task.group_id == "PSG"
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    response = visit(page, f"{base}/tasks/{psg_task.id}")
    assert response.status == 403 and "You do not have access" in page.inner_text("h1")
    refused = page.request.post(f"{base}/tasks/{psg_task.id}/claim", form={"csrf_token": token})
    assert refused.status == 403
    assert gov.task(psg_task.id).claimed_by is None
    sign_out(page, base)

    # PSG's chair (its seat holder) has it in the inbox, for PSG
    sign_in(page, base, "sam", password)
    row = group_row(page, base, "Test environment booking rules", "Consider the escalation")
    assert row.count() == 1 and "ESC001" in row.inner_text()
    assert "With PSG" in row.inner_text() and "PSG · Chair" in row.inner_text()  # stage, and the group of the task
    with page.expect_navigation():
        row.get_by_role("link", name="Consider the escalation").click()
    check_accessibility(page)
    assert "PSG" in page.inner_text("#instructions") and page.locator("#task-form").is_visible()
    sign_out(page, base)
    levels = gov.show(iid)["data"]["levels"]
    assert [(lv["level"], lv["result"]) for lv in levels] == [("TWG", "escalated"), ("SITAG", "escalated")]


# ---- (3) an appeal upheld and enacted: the change request reopens ---------------------------------------------------

def test_an_upheld_appeal_is_enacted_and_the_change_request_reopens(page, live_server, web_gov, password, clock):
    base, gov = live_server, web_gov
    cr, meeting = change_request_to_decision(gov, clock)  # through the engine: decided and communicated
    decide_change_request(gov, clock, cr, meeting, "reject")
    assert gov.show(cr)["reference"] == "CR001" and gov.show(cr)["state"] == "closed"
    communicated = clock.now().date()
    clock.set(clock.now() + timedelta(days=2))
    gov.fire_due_timers()

    # bob, a participant, lodges the appeal
    sign_in(page, base, "bob", password)
    appeal = raise_in_browser(page, base, gov, "appeal", {
        "decision_reference": "CR001", "decision_summary": "PSG rejected CR001 (move the M10 milestone).",
        "decision_date": meeting.isoformat(), "decision_communicated_on": communicated.isoformat(),
        "grounds": "The consultation responses of small suppliers were not put to PSG.",
        "desired_outcome": "Reconsider CR001 with every response.", "appellant_organisation": "Small Energy Co"})
    assert gov.show(appeal)["state"] == "under assessment"
    sign_out(page, base)

    # the IPA assesses and upholds it, recommending the change request is reopened
    today = clock.now().date().isoformat()
    sign_in(page, base, "ida", password)
    task_id = open_task(page, base, gov, "ida", appeal, "assess_appeal")
    assert "CR001" in page.inner_text("#instructions")
    complete(page, gov, task_id, {"criteria_assessment": "Procedural fairness criterion engaged.",
                                  "assessed_on": today})
    task_id = open_task(page, base, gov, "ida", appeal, "decide_appeal")
    complete(page, gov, task_id, {"appeal_outcome": "upheld", "decision_reasons": "Responses were omitted.",
                                  "recommend_reopen": True, "appeal_decided_on": today})
    assert gov.show(appeal)["state"] == "upheld"
    sign_out(page, base)

    # the SRO enacts it by reopening CR001
    sign_in(page, base, "sam", password)
    task_id = open_task(page, base, gov, "sam", appeal, "enact")
    assert "Reopening a change request is recommended" in page.inner_text("#instructions")
    complete(page, gov, task_id, {"enactment_summary": "CR001 reopened for a fresh assessment.",
                                  "reopen_change_request": True, "enacted_on": today})
    shown = gov.show(appeal)
    assert shown["status"] == "completed" and shown["state"] == "enacted"
    assert shown["data"]["reopened_change_request"] == "CR001"
    with gov.db.read() as db:
        ids = db.scalars(select(Instance.id).where(Instance.process_id == "change_control",
                                                   Instance.reference == "CR001").order_by(Instance.id)).all()
    assert len(ids) == 2 and ids[0] == cr
    reopened = ids[1]
    # the SRO sees the reopened CR001 among all requests, at the impact assessment
    visit(page, base + "/requests/?scope=all")
    rows = page.locator("#my-requests tr", has_text=CR_RAISE["title"])
    assert rows.count() == 2
    assert page.locator(f'#my-requests a[href$="/requests/{reopened}"]').count() == 1
    visit(page, f"{base}/requests/{reopened}")
    body = page.inner_text("main")
    assert "CR001" in body and "impact assessment" in body.lower()
    sign_out(page, base)
    assert gov.show(reopened)["status"] == "running" and gov.show(reopened)["state"] == "impact assessment"
