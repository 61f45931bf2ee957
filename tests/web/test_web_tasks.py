"""Raising a request, the inbox, claiming, completing with errors and without, drafts and authorisation."""
from __future__ import annotations

import re

from sqlalchemy import select

from engine.store.models import AuditEvent


def _token(client, path):
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).data.decode())
    return found.group(1)


def raise_loop(client, title="Fix the MPAN format"):
    token = _token(client, "/requests/new/loop")
    return client.post("/requests/new/loop", data={"title": title, "csrf_token": token})


def review_task(gov):
    [task] = [t for t in gov.tasks("carol") if t.element_id == "review"]
    return task


def test_raise_a_request_and_see_it_in_my_requests(signed_in, web_gov):
    client = signed_in("alice")
    response = raise_loop(client)
    assert response.status_code == 302 and "/requests/" in response.headers["Location"]
    page = client.get(response.headers["Location"])
    assert b"Fix the MPAN format" in page.data and b"Review" in page.data
    mine = client.get("/requests/")
    assert b"Fix the MPAN format" in mine.data


def test_start_form_errors_keep_input(signed_in, web_gov, token_from):
    client = signed_in("alice")
    token = token_from(client, "/requests/new/loop")
    response = client.post("/requests/new/loop", data={"title": "ab", "csrf_token": token})
    assert response.status_code == 422
    html = response.data.decode()
    assert "govuk-error-summary" in html and 'href="#f-title"' in html
    assert "Title must be at least 3 characters" in html and 'value="ab"' in html


def test_inbox_tabs_claim_and_counts(signed_in, web_gov, csrf_of):
    raise_loop(signed_in("alice"))
    client = signed_in("carol")
    groups = client.get("/?tab=groups").data.decode()
    assert "Fix the MPAN format" in groups and 'id="count-groups">1<' in groups
    assert "5 working days left" in groups
    task = review_task(web_gov)
    response = client.post(f"/tasks/{task.id}/claim", data={"csrf_token": csrf_of(groups), "next": "/?tab=groups"})
    assert response.status_code == 302
    mine = client.get("/").data.decode()
    assert 'id="count-mine">1<' in mine and 'id="count-groups">0<' in mine and "Fix the MPAN format" in mine
    assert web_gov.task(task.id).claimed_by == "carol"
    client.post(f"/tasks/{task.id}/unclaim", data={"csrf_token": csrf_of(mine)})
    assert web_gov.task(task.id).claimed_by is None


def test_inbox_filters_and_overdue(signed_in, web_gov, clock):
    from datetime import timedelta
    for title in ("Alpha change", "Beta change"):
        web_gov.start("loop", "alice", {"title": title})
    client = signed_in("carol")
    page = client.get("/?tab=groups&q=beta").data.decode()
    assert "Beta change" in page and "Alpha change" not in page
    assert "Alpha change" in client.get("/?tab=groups&process=loop").data.decode()
    assert "Alpha change" not in client.get("/?tab=groups&process=other").data.decode()
    assert "Alpha change" in client.get("/?tab=groups&group=Change+Control+Manager").data.decode()
    assert "Alpha change" not in client.get("/?tab=groups&overdue=1").data.decode()
    assert "Alpha change" not in client.get("/?tab=groups&due_before=2026-12-08").data.decode()
    assert "Alpha change" in client.get("/?tab=groups&due_before=2026-12-09").data.decode()
    clock.advance(days=10)
    overdue = client.get("/?tab=groups&overdue=1").data.decode()
    assert "Alpha change" in overdue and "Overdue" in overdue and "govuk-tag--red" in overdue
    assert client.get("/?tab=groups&due_before=nonsense").status_code == 200


def test_inbox_paginates(signed_in, web_gov, app):
    app.config["INBOX_PAGE_SIZE"] = 2
    for n in range(5):
        web_gov.start("loop", "alice", {"title": f"Request {n}"})
    client = signed_in("carol")
    first = client.get("/?tab=groups").data.decode()
    assert first.count('data-task-id=') == 2 and "govuk-pagination" in first
    last = client.get("/?tab=groups&page=3").data.decode()
    assert last.count('data-task-id=') == 1


def test_complete_with_errors_then_valid_round_trip(signed_in, web_gov, csrf_of):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    client = signed_in("carol")
    page = client.get(f"/tasks/{task.id}")
    html = page.data.decode()
    assert page.status_code == 200 and "Review <strong>Fix the MPAN format</strong>" in html
    assert "History" in html and "Alice Archer started it" in html
    response = client.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(html), "_action": "complete",
                                                      "issues": "Needs an impact note"})
    assert response.status_code == 422
    html = response.data.decode()
    assert "There is a problem" in html and 'href="#f-valid"' in html and "Choose an answer to ‘Is it valid?’" in html
    assert "Needs an impact note" in html  # the user's input is kept
    assert web_gov.task(task.id).claimed_by == "carol"  # the first save claimed it
    response = client.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(html), "_action": "complete",
                                                      "valid": "false", "issues": "Needs an impact note"})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "You completed" in client.get("/").data.decode()
    # the fix task went to the raiser, who fixes it and is sent back to the inbox
    [fix] = web_gov.tasks("alice")
    assert fix.element_id == "fix"
    alice = signed_in("alice")
    fix_page = alice.get(f"/tasks/{fix.id}").data.decode()
    assert 'value="Fix the MPAN format"' in fix_page  # prefilled from the record
    alice.post(f"/tasks/{fix.id}", data={"csrf_token": csrf_of(fix_page), "_action": "complete",
                                         "title": "Fix the MPAN format, properly"})
    task = review_task(web_gov)
    client = signed_in("carol")
    html = client.get(f"/tasks/{task.id}").data.decode()
    response = client.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(html), "_action": "complete",
                                                      "valid": "true"})
    assert response.status_code == 302
    record = web_gov.show(task.instance_id)
    assert record["status"] == "completed" and record["reference"].startswith("LP")


def test_draft_is_kept_and_claims(signed_in, web_gov, csrf_of):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    client = signed_in("carol")
    html = client.get(f"/tasks/{task.id}").data.decode()
    response = client.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(html), "_action": "draft",
                                                      "issues": "half a thought"})
    assert response.status_code == 302
    page = client.get(f"/tasks/{task.id}").data.decode()
    assert "half a thought" in page and "saved draft" in page
    assert web_gov.task(task.id).claimed_by == "carol"


def test_another_role_gets_403_and_an_audit_event(signed_in, web_gov, token_from):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    client = signed_in("bob")
    response = client.get(f"/tasks/{task.id}")
    assert response.status_code == 403 and b"You do not have access" in response.data
    token = token_from(client)
    assert client.post(f"/tasks/{task.id}/claim", data={"csrf_token": token}).status_code == 403
    assert client.post(f"/tasks/{task.id}", data={"csrf_token": token, "valid": "true"}).status_code == 403
    with web_gov.db.read() as db:
        denials = db.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied",
                                                      AuditEvent.actor == "bob")).all()
    assert len(denials) >= 2
    # and bob cannot read alice's request either
    assert client.get(f"/requests/{task.instance_id}").status_code == 403


def test_observer_reads_but_never_acts(signed_in, web_gov, token_from):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    client = signed_in("olive")
    record = client.get(f"/requests/{task.instance_id}").data.decode()
    assert "Fix the MPAN format" in record
    assert record.count('type="submit"') == 2  # only "Sign out" and the header's search: no action buttons
    page = client.get(f"/tasks/{task.id}").data.decode()
    assert "Observers do not act" in page and 'id="task-form"' not in page and 'id="claim"' not in page
    assert "Raise a change request" not in client.get("/").data.decode()
    token = token_from(client)
    assert client.post(f"/tasks/{task.id}/claim", data={"csrf_token": token}).status_code == 403
    assert client.get("/requests/new/loop").status_code == 403


def test_claimed_by_someone_else_is_a_409_on_claim(signed_in, web_gov, token_from):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    from engine.services.identity import NewUser
    web_gov.add_user(NewUser("cara", "Cara Second", "cara@example.org", "pw-cara-123456",
                             ("change_control_manager",)))
    web_gov.claim(task.id, "cara")
    client = signed_in("carol")
    response = client.post(f"/tasks/{task.id}/claim", data={"csrf_token": token_from(client)})
    assert response.status_code == 409 and b"claimed by cara first" in response.data
    page = client.get(f"/tasks/{task.id}").data.decode()
    assert "cara is doing this task" in page and 'id="task-form"' not in page


def test_pmo_can_reassign(signed_in, web_gov, token_from):
    raise_loop(signed_in("alice"))
    task = review_task(web_gov)
    client = signed_in("admin")
    page = client.get(f"/tasks/{task.id}")
    assert page.status_code == 403  # an admin without the role cannot open the task page...
    response = client.post(f"/tasks/{task.id}/reassign", data={"csrf_token": token_from(client), "to": "carol"})
    assert response.status_code == 302  # ...but can give it to someone who holds the role
    assert web_gov.task(task.id).claimed_by == "carol"


def test_unknown_task_is_404(signed_in):
    response = signed_in("carol").get("/tasks/no-such-task")
    assert response.status_code == 404 and b"There is no task" in response.data


def test_comments_are_seen_by_everyone_who_can_see_the_request(signed_in, web_gov, csrf_of):
    alice = signed_in("alice")
    location = raise_loop(alice).headers["Location"]
    page = alice.get(location).data.decode()
    response = alice.post(f"{location}/comments", data={"csrf_token": csrf_of(page), "next": location,
                                                        "comment": "Urgent <script>alert(1)</script>\nsee note"})
    assert response.status_code == 302
    task = review_task(web_gov)
    carol_page = signed_in("carol").get(f"/tasks/{task.id}").data.decode()
    assert "Urgent &lt;script&gt;alert(1)&lt;/script&gt;" in carol_page
    olive_page = signed_in("olive").get(location).data.decode()
    assert "Urgent &lt;script&gt;" in olive_page and 'id="add-comment"' not in olive_page
    bob = signed_in("bob")
    refused = bob.post(f"{location}/comments", data={"csrf_token": _token(bob, "/"), "comment": "hi"})
    assert refused.status_code == 403


def test_staff_and_observers_list_every_request_participants_only_theirs(signed_in, web_gov):
    web_gov.start("loop", "alice", {"title": "Alice's request"})
    assert "Alice&#39;s request" in signed_in("olive").get("/requests/?scope=all").data.decode()
    assert "Alice&#39;s request" in signed_in("carol").get("/requests/?scope=all").data.decode()
    assert "Alice&#39;s request" not in signed_in("bob").get("/requests/?scope=all").data.decode()


def test_days_read_as_people_write_them_whether_dates_or_moments():
    from datetime import date, datetime, timezone
    from web.display import day_text
    assert day_text(date(2026, 11, 25)) == day_text("2026-11-25") == "25 November 2026"
    # 23:30 UTC on a June evening is already the next day in London
    assert day_text(datetime(2026, 6, 16, 23, 30, tzinfo=timezone.utc)) == "17 June 2026"
    assert day_text(None) == "" and day_text("") == ""
