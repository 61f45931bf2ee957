"""The management pages through the Flask test client: access, dashboard, register filters and exports, the instance
page with its diagram data, administrative actions with reasons, and the heatmap."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from engine.store.models import AuditEvent, HumanTask, Instance, Timer

MANAGERS = ["sam", "pat", "ida", "olive", "admin", "carol"]


def start_loop(gov, title="Fix the MPAN format", by="alice"):
    return gov.start("loop", by, {"title": title}).instance_id


def json_block(html: str, element_id: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{element_id}"[^>]*>(.*?)</script>', html, re.S)
    assert found, f"no #{element_id}"
    return json.loads(found.group(1))


@pytest.mark.parametrize("username", MANAGERS)
def test_managers_see_the_dashboard(signed_in, web_gov, username):
    start_loop(web_gov)
    client = signed_in(username)
    page = client.get("/manage/")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'id="card-open">1<' in html
    assert "Management" in html
    data = json_block(html, "chart-data")
    assert data["throughput"]["started"] == [1]


@pytest.mark.parametrize("username", ["alice", "bob", "will", "chris", "ann"])
def test_others_are_refused_and_the_refusal_is_audited(signed_in, web_gov, username):
    instance_id = start_loop(web_gov)
    client = signed_in(username)
    for path in ("/manage/", "/manage/instances", f"/manage/instances/{instance_id}",
                 "/manage/instances?format=csv"):
        assert client.get(path).status_code == 403, path
    with web_gov.db.read() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                  AuditEvent.actor == username)) is not None
    assert b"Management" not in client.get("/").data


def test_signed_out_people_go_to_sign_in(client):
    response = client.get("/manage/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_register_filters_sorts_pages_and_searches(signed_in, web_gov):
    for n in range(30):
        start_loop(web_gov, f"Request number {n:02d}", by="alice" if n % 2 else "bob")
    client = signed_in("pat")
    html = client.get("/manage/instances?size=25").data.decode()
    assert "30 instances" in html and html.count('data-instance-id=') == 25
    second = client.get("/manage/instances?size=25&page=2").data.decode()
    assert second.count('data-instance-id=') == 5
    found = client.get("/manage/instances?q=number+07").data.decode()
    assert "1 instance<" in found and "Request number 07" in found
    small = client.get("/manage/instances?organisation=Small+Energy+Co").data.decode()
    assert "15 instances" in small
    constituency = client.get("/manage/instances?constituency=SUPPLIER_LARGE").data.decode()
    assert "15 instances" in constituency
    ordered = client.get("/manage/instances?sort=title&dir=asc&size=25").data.decode()
    titles = re.findall(r"Request number (\d\d)", ordered)
    assert titles == sorted(titles) and titles[0] == "00"
    assert "0 instances" in client.get("/manage/instances?status=completed").data.decode()
    bad = client.get("/manage/instances?started_from=yesterday").data.decode()
    assert "Enter the date as year-month-day" in bad


def test_overdue_filter_and_decision_body(signed_in, web_gov, clock):
    first = start_loop(web_gov, "Will be late")
    clock.advance(days=10)
    start_loop(web_gov, "On time")
    client = signed_in("sam")
    html = client.get("/manage/instances?overdue=1").data.decode()
    assert "1 instance<" in html and "Will be late" in html and "On time" not in html
    dashboard = client.get("/manage/").data.decode()
    assert 'id="card-overdue">1<' in dashboard
    with web_gov.db.write() as db:
        row = db.get(Instance, first)
        row.facts = {**row.facts, "decision_body": "DAG", "outcome_label": "Accept"}
    only_dag = client.get("/manage/instances?group=DAG").data.decode()
    assert "1 instance<" in only_dag and "Accept" in only_dag


def test_csv_and_xlsx_exports_hold_the_filtered_register(signed_in, web_gov):
    start_loop(web_gov, "=HYPERLINK(\"http://evil\")")
    start_loop(web_gov, "Second", by="bob")
    client = signed_in("ida")
    response = client.get("/manage/instances?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.data.decode())))
    assert rows[0][:4] == ["Number", "Title", "Process", "Raised by"]
    assert len(rows) == 3
    assert any(r[1] == "'=HYPERLINK(\"http://evil\")" for r in rows[1:])  # never a live formula
    filtered = list(csv.reader(io.StringIO(client.get("/manage/instances?format=csv&organisation=Small+Energy+Co")
                                           .data.decode())))
    assert len(filtered) == 2 and filtered[1][1] == "Second"
    book = load_workbook(io.BytesIO(client.get("/manage/instances?format=xlsx").data), read_only=True)
    sheet = book.active
    values = list(sheet.values)
    assert values[0][0] == "Number" and len(values) == 3
    with web_gov.db.read() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "register.exported")) is not None


def test_instance_page_shows_the_trail_tasks_timeline_and_data(signed_in, web_gov):
    instance_id = start_loop(web_gov)
    review = next(t for t in web_gov.tasks("carol") if t.instance_id == instance_id)
    web_gov.complete(review.id, "carol", {"valid": False, "issues": "No justification"})
    client = signed_in("olive")
    html = client.get(f"/manage/instances/{instance_id}").data.decode()
    data = json_block(html, "diagram-data")
    assert data["active"] == ["fix", "lapse_timer"]
    assert {"start", "review", "valid_gw"} <= set(data["completed"])
    assert {"f1", "f2", "f4"} <= set(data["taken_flows"]) and "f3" not in data["taken_flows"]
    assert "Fix the request" in html and "Raiser silent" in html  # open task and waiting timer
    assert "No justification" in html  # the data of the timeline and the record
    assert 'id="admin"' not in html  # an Ofgem observer never sees administrative actions
    xml = client.get(data["url"])
    assert xml.status_code == 200 and b"<bpmn:definitions" in xml.data


def test_observers_cannot_post_admin_actions(signed_in, web_gov, token_from):
    instance_id = start_loop(web_gov)
    client = signed_in("olive")
    token = token_from(client, "/manage/")
    response = client.post(f"/manage/instances/{instance_id}/suspend", data={"csrf_token": token, "reason": "x"})
    assert response.status_code == 403
    with web_gov.db.read() as db:
        assert db.get(Instance, instance_id).status == "running"


def test_suspend_resume_terminate_with_reasons(signed_in, web_gov, token_from):
    instance_id = start_loop(web_gov)
    client = signed_in("admin")
    page = f"/manage/instances/{instance_id}"
    token = token_from(client, page)
    missing = client.post(page + "/suspend", data={"csrf_token": token, "reason": " "}, follow_redirects=True)
    assert b"Give a reason" in missing.data
    client.post(page + "/suspend", data={"csrf_token": token, "reason": "Waiting for Ofgem"})
    with web_gov.db.read() as db:
        assert db.get(Instance, instance_id).status == "suspended"
        assert {t.status for t in db.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id))} == \
            {"suspended"}
    assert web_gov.tasks("carol") == []  # a suspended instance's tasks leave the inbox
    html = client.get(page).data.decode()
    assert 'id="resume"' in html
    client.post(page + "/resume", data={"csrf_token": token, "reason": "Ofgem answered"})
    assert len(web_gov.tasks("carol")) == 1
    # terminating asks first: what it cancels, and a reason; nothing happens until it is confirmed
    asked = client.post(page + "/terminate", data={"csrf_token": token, "reason": "Duplicate of CR007"})
    html = asked.data.decode()
    assert asked.status_code == 200 and "Terminating cannot be undone" in html and 'id="terminate-confirm"' in html
    assert "Duplicate of CR007</textarea>" in html
    with web_gov.db.read() as db:
        assert db.get(Instance, instance_id).status == "running"
    blank = client.post(page + "/terminate", data={"csrf_token": token, "reason": " ", "confirmed": "yes"})
    assert blank.status_code == 422 and b"Say why you are terminating it" in blank.data
    client.post(page + "/terminate", data={"csrf_token": token, "reason": "Duplicate of CR007", "confirmed": "yes"})
    with web_gov.db.read() as db:
        assert db.get(Instance, instance_id).status == "terminated"
        reasons = [e.details.get("reason") for e in db.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.action.like("instance.%")))]
    assert reasons[-3:] == ["Waiting for Ofgem", "Ofgem answered", "Duplicate of CR007"]
    assert web_gov.tasks("carol") == []


def test_retry_a_failed_timer_from_the_page(signed_in, web_gov, token_from):
    instance_id = start_loop(web_gov)
    review = next(t for t in web_gov.tasks("carol") if t.instance_id == instance_id)
    web_gov.complete(review.id, "carol", {"valid": False})
    with web_gov.db.write() as db:
        timer = db.scalar(select(Timer).where(Timer.instance_id == instance_id))
        timer.status, timer.attempts, timer.last_error = "failed", 5, "ProcessError: boom"
        timer_id = timer.id
    client = signed_in("admin")
    page = f"/manage/instances/{instance_id}"
    html = client.get(page).data.decode()
    assert "boom" in html and json_block(html, "diagram-data")["failed"] == ["lapse_timer"]
    token = token_from(client, page)
    response = client.post(f"{page}/timers/{timer_id}/retry", data={"csrf_token": token, "reason": "fixed"})
    assert response.status_code == 302
    with web_gov.db.read() as db:
        assert db.get(Timer, timer_id).status == "waiting"


def test_move_a_token_back_from_the_instance_page(signed_in, web_gov, token_from):
    from html import unescape
    instance_id = start_loop(web_gov)
    review = next(t for t in web_gov.tasks("carol") if t.instance_id == instance_id)
    web_gov.complete(review.id, "carol", {"valid": False, "issues": "No justification"})
    page = f"/manage/instances/{instance_id}"
    assert 'id="move-targets"' not in signed_in("olive").get(page).data.decode()  # observers see no actions
    assert signed_in("ida").get(f"{page}/move?task={review.id}").status_code == 403
    client = signed_in("pat")
    html = client.get(page).data.decode()
    row = re.search(rf'<tr class="govuk-table__row" data-task-id="{review.id}">(.*?)</tr>', html, re.S)
    assert row and "Review" in row.group(1) and "carol" in row.group(1)  # who completed it, and a link
    assert f"/move?task={review.id}" in row.group(1)
    confirm = unescape(client.get(f"{page}/move?task={review.id}").data.decode())
    assert "Move the token back to ‘Review’?" in confirm
    assert re.search(r'id="move-cancels">\s*Fix the request', confirm)
    token = csrf_of_page(confirm)
    missing = client.post(f"{page}/move", data={"csrf_token": token, "task_id": review.id, "reason": "  "})
    assert missing.status_code == 422 and b"Give a reason" in missing.data and b'id="reason-move-error"' in missing.data
    with web_gov.db.read() as db:
        assert db.scalar(select(AuditEvent).where(AuditEvent.action == "instance.moved_back")) is None
    moved = client.post(f"{page}/move", data={"csrf_token": token, "task_id": review.id,
                                             "reason": "Reviewed the wrong paper"}, follow_redirects=True)
    assert b"the earlier task is open again" in moved.data
    assert [t.element_id for t in web_gov.tasks("carol") if t.instance_id == instance_id] == ["review"]
    with web_gov.db.read() as db:
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "instance.moved_back"))
        assert (event.actor, event.details["reason"]) == ("pat", "Reviewed the wrong paper")
    stale = client.get(f"{page}/move?task=not-a-task", follow_redirects=True)
    assert b"cannot be reopened" in stale.data


def csrf_of_page(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_heatmap_counts_instances_per_element(signed_in, web_gov):
    for n in range(3):
        instance_id = start_loop(web_gov, f"Request {n}")
        review = next(t for t in web_gov.tasks("carol") if t.instance_id == instance_id)
        web_gov.complete(review.id, "carol", {"valid": n != 0})
    with web_gov.db.read() as db:
        version_id = db.scalar(select(Instance.process_version_id).where(Instance.id == instance_id))
    client = signed_in("sam")
    html = client.get(f"/manage/versions/{version_id}/heatmap").data.decode()
    cells = json_block(html, "heatmap-data")["cells"]
    assert cells["review"]["passed"] == 3
    assert cells["fix"]["active"] == 1 and cells["fix"]["passed"] == 0
    assert cells["review"]["median_days"] == 0.0
    table = html.split('id="heatmap-table"', 1)[1]
    assert "Review <span" in table and "(review)" in table  # steps by name, with their id


def test_saved_views_are_shared_between_managers(signed_in, web_gov, token_from):
    start_loop(web_gov, "Alice's request")
    start_loop(web_gov, "Bob's request", by="bob")
    client = signed_in("pat")
    token = token_from(client, "/manage/instances")
    response = client.post("/manage/views", data={"csrf_token": token, "name": "Small suppliers",
                                                   "organisation": "Small Energy Co", "shared": "1",
                                                   "evil": "x"})
    assert response.status_code == 302 and "organisation=Small" in response.headers["Location"]
    client.post("/manage/views", data={"csrf_token": token, "name": "Mine only", "q": "Alice"})
    client = signed_in("sam")
    html = client.get("/manage/instances").data.decode()
    assert "Small suppliers" in html and "Mine only" not in html
    link = re.search(r'href="(/manage/instances\?[^"]*)">Small suppliers', html).group(1).replace("&amp;", "&")
    assert "1 instance<" in client.get(link).data.decode()
    with web_gov.db.read() as db:
        from engine.store.models import ManagerView
        view = db.scalar(select(ManagerView).where(ManagerView.name == "Small suppliers"))
        assert view.query == {"organisation": "Small Energy Co"}
    token = token_from(client, "/manage/instances")
    assert client.post(f"/manage/views/{view.id}/delete", data={"csrf_token": token}).status_code == 403


def test_the_spreadsheet_writer_keeps_types_and_escapes_text():
    from datetime import datetime
    from web.spreadsheet import write_xlsx
    content = write_xlsx("Register", ["Text", "Number", "When"],
                         [["a <b> & \"c\"\x01", 42, datetime(2026, 12, 1, 9, 30)], ["", None, None]])
    sheet = load_workbook(io.BytesIO(content)).active
    assert [c.value for c in sheet[1]] == ["Text", "Number", "When"]
    assert [c.value for c in sheet[2]] == ["a <b> & \"c\"", 42, datetime(2026, 12, 1, 9, 30)]
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm" and sheet["A1"].font.b
