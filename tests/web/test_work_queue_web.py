"""The PMO's and admins' work queue: every open task, filtered, with its age and deadline; claim or give several
at once; one task's reassign page reachable without the task page; the inbox opens on the groups' tasks when
nothing is mine."""
from __future__ import annotations

from tests.scenarios.change_control_driver import ChangeRequest
from tests.web.page_text import text_of


def test_the_work_queue_lists_every_open_task_for_the_pmo_only(signed_in, web_gov, clock):
    first = ChangeRequest(web_gov, clock, title="Publish run timetables earlier")
    second = ChangeRequest(web_gov, clock, title="Bulk-appoint agents")
    second.do("validate")
    pat = signed_in("pat")
    page = pat.get("/queue").data.decode()
    queue = text_of(page, "queue")
    assert "Validate the change request" in queue and "Triage CR001" in queue
    assert "Nobody yet 0 No deadline" in queue
    assert 'id="queue-link"' in page
    only = text_of(pat.get("/queue?q=Bulk").data.decode(), "queue")
    assert "Triage" in only and "Validate" not in only
    held = text_of(pat.get("/queue?holder=nobody&group=Change+Control+Manager").data.decode(), "queue")
    assert "Validate" in held
    for user in ("alice", "carol", "olive"):
        assert signed_in(user).get("/queue").status_code == 403, user
    assert first.id != second.id


def test_bulk_give_and_claim_say_what_did_not_move(signed_in, web_gov, clock, csrf_of):
    one = ChangeRequest(web_gov, clock, title="First request")
    two = ChangeRequest(web_gov, clock, title="Second request")
    [a] = one.tasks_of("carol", "validate")
    [b] = two.tasks_of("carol", "validate")
    admin = signed_in("admin")
    page = admin.get("/queue").data.decode()
    done = admin.post("/queue", data={"task": [a.id, b.id], "action": "assign", "to": "carol",
                                      "csrf_token": csrf_of(page)}, follow_redirects=True).data.decode()
    assert "2 tasks now with Carol Clarke." in done
    assert {web_gov.task(a.id).claimed_by, web_gov.task(b.id).claimed_by} == {"carol"}
    refused = admin.post("/queue", data={"task": [a.id], "action": "assign", "to": "alice",
                                         "csrf_token": csrf_of(page)}, follow_redirects=True).data.decode()
    assert "Not moved:" in refused and "Alice Archer cannot do" in refused
    assert web_gov.task(a.id).claimed_by == "carol"


def test_the_reassign_page_is_reachable_by_the_pmo(signed_in, web_gov, clock, csrf_of):
    cr = ChangeRequest(web_gov, clock)
    [task] = cr.tasks_of("carol", "validate")
    pat = signed_in("pat")
    assert pat.get(f"/tasks/{task.id}").status_code == 403  # not a task the PMO may do or see
    page = pat.get(f"/tasks/{task.id}/reassign")
    assert page.status_code == 200 and "Carol Clarke" in text_of(page.data, "reassign-to")
    moved = pat.post(f"/tasks/{task.id}/reassign", data={"to": "carol", "csrf_token": csrf_of(page.data)})
    assert moved.status_code == 302 and moved.headers["Location"].endswith("/queue")
    assert web_gov.task(task.id).claimed_by == "carol"
    assert signed_in("alice").get(f"/tasks/{task.id}/reassign").status_code == 403


def test_the_inbox_opens_on_my_groups_when_nothing_is_mine(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock)
    carol = signed_in("carol")
    page = carol.get("/").data.decode()
    assert 'id="tab-groups" href="/?tab=groups" aria-current="page"' in page
    assert "Validate the change request" in text_of(page, "tasks")
    assert 'id="tab-mine" href="/?tab=mine" aria-current="page"' in carol.get("/?tab=mine").data.decode()
    [task] = cr.tasks_of("carol", "validate")
    web_gov.claim(task.id, "carol")
    assert 'id="tab-mine" href="/?tab=mine" aria-current="page"' in carol.get("/").data.decode()
