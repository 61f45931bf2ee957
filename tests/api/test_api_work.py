"""The JSON API over the same services and policy as the web: a change request raised and its first task done with
tokens, per-field problems, If-Match, cursors, what each role may do, CSRF for browser sessions."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from engine.services.identity import NewUser
from tests.conftest import TEST_PASSWORD
from tests.web.cc_answers import ANSWERS, RAISE


def raise_cr(client, header) -> dict:
    made = client.post("/api/v1/instances", headers=header, json={"process_id": "change_control", "data": RAISE})
    assert made.status_code == 201, made.json
    assert made.headers["Location"].endswith(f"/api/v1/instances/{made.json['instance_id']}")
    return made.json


def validate_task(client, header, instance_id: int) -> dict:
    found = client.get("/api/v1/tasks?tab=groups", headers=header).json["items"]
    return next(t for t in found if t["instance_id"] == instance_id)


def test_raise_a_change_request_and_complete_its_first_task(client, bearer):
    alice, carol = bearer("alice"), bearer("carol")
    made = raise_cr(client, alice)
    task = validate_task(client, carol, made["instance_id"])
    shown = client.get(f"/api/v1/tasks/{task['id']}", headers=carol)
    assert shown.status_code == 200 and shown.json["may_act"] is True
    assert shown.json["form"]["type"] == "object" and "valid" in shown.json["form"]["properties"]
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=carol, json={"data": ANSWERS["validate"]})
    assert done.status_code == 200, done.json
    assert done.json["instance_id"] == made["instance_id"]
    record = client.get(f"/api/v1/instances/{made['instance_id']}", headers=alice).json
    assert any(t["id"] == task["id"] and t["status"] == "completed" for t in record["tasks"])
    history = client.get(f"/api/v1/instances/{made['instance_id']}/history", headers=alice).json
    assert "task.completed" in [e["action"] for e in history["items"]]


def test_invalid_data_gets_a_problem_with_each_fields_error(client, bearer):
    alice = bearer("alice")
    refused = client.post("/api/v1/instances", headers=alice,
                          json={"process_id": "change_control", "data": {**RAISE, "urgency": "whenever"}})
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in refused.json["errors"]] == ["urgency"]
    assert refused.json["type"].endswith("/invalid") and refused.json["instance"] == "/api/v1/instances"
    shape = client.post("/api/v1/instances", headers=alice, json={"process": "change_control", "data": []})
    assert shape.status_code == 422
    assert {e["field"] for e in shape.json["errors"]} >= {"process_id", "data"}
    not_json = client.post("/api/v1/instances", headers={**alice, "Content-Type": "application/json"},
                           data="{not json")
    assert 400 <= not_json.status_code < 500


def test_a_stale_write_gets_412(client, bearer):
    alice, carol = bearer("alice"), bearer("carol")
    made = raise_cr(client, alice)
    task = validate_task(client, carol, made["instance_id"])
    etag = client.get(f"/api/v1/tasks/{task['id']}", headers=carol).headers["ETag"]
    claimed = client.post(f"/api/v1/tasks/{task['id']}/claim", headers={**carol, "If-Match": etag}, json={})
    assert claimed.status_code == 200 and claimed.headers["ETag"] != etag
    stale = client.post(f"/api/v1/tasks/{task['id']}/complete", headers={**carol, "If-Match": etag},
                        json={"data": ANSWERS["validate"]})
    assert stale.status_code == 412 and stale.json["type"].endswith("/stale")
    fresh = client.post(f"/api/v1/tasks/{task['id']}/complete", headers={**carol, "If-Match": claimed.headers["ETag"]},
                        json={"data": ANSWERS["validate"]})
    assert fresh.status_code == 200
    old = client.get(f"/api/v1/instances/{made['instance_id']}", headers=alice).headers["ETag"]
    client.post(f"/api/v1/instances/{made['instance_id']}/comments", headers=alice, json={"body": "A note"})
    now = client.get(f"/api/v1/instances/{made['instance_id']}", headers=alice).headers["ETag"]
    assert now != old  # the comment's audit event moved the instance's revision
    withdrawn = client.post(f"/api/v1/instances/{made['instance_id']}/withdraw",
                            headers={**alice, "If-Match": old}, json={"reason": "No longer needed"})
    assert withdrawn.status_code == 412
    assert client.get(f"/api/v1/instances/{made['instance_id']}", headers=alice).headers["ETag"] == now


def elsewhere(call, *args) -> None:
    """`call` made by someone else: in another thread (another request's context), committed before this returns."""
    with ThreadPoolExecutor(1) as other:
        other.submit(call, *args).result(timeout=30)


def test_a_change_committed_between_the_read_and_the_write_gets_412(client, bearer, gov, monkeypatch):
    """If-Match is checked in the write's own transaction: someone else's change committed after the caller read
    the version — however shortly before the write — refuses it instead of being overwritten. Here it is committed
    just as the write starts (the engine call made to do it first)."""
    alice, carol, pat = bearer("alice"), bearer("carol"), bearer("pat")
    made = raise_cr(client, alice)
    task = validate_task(client, carol, made["instance_id"])
    gov.claim(task["id"], "carol")
    etag = client.get(f"/api/v1/tasks/{task['id']}", headers=carol).headers["ETag"]  # claimed by carol (a version
    # is the same whoever reads it; the PMO releases it as she last saw it)
    unclaim = gov.unclaim

    def reassigned_first(task_id, username):
        elsewhere(gov.runtime.reassign, task_id, "admin", "carol2")  # committed after pat's read, before her write
        return unclaim(task_id, username)

    gov.add_user(NewUser("carol2", "Carol Two", "carol2@example.org", TEST_PASSWORD, ("change_control_manager",)))
    monkeypatch.setattr(gov, "unclaim", reassigned_first)
    released = client.post(f"/api/v1/tasks/{task['id']}/unclaim", headers={**pat, "If-Match": etag}, json={})
    assert released.status_code == 412, released.json
    assert gov.task(task["id"]).claimed_by == "carol2"  # not silently released

    instance_id = made["instance_id"]
    old = client.get(f"/api/v1/instances/{instance_id}", headers=alice).headers["ETag"]
    withdraw = gov.withdraw

    def completed_first(instance, username, reason=""):
        elsewhere(gov.complete, task["id"], "carol2", ANSWERS["validate"])  # the instance moves on after her read
        return withdraw(instance, username, reason)

    monkeypatch.setattr(gov, "withdraw", completed_first)
    withdrawn = client.post(f"/api/v1/instances/{instance_id}/withdraw", headers={**alice, "If-Match": old},
                            json={"reason": "No longer needed"})
    assert withdrawn.status_code == 412, withdrawn.json
    assert gov.show(instance_id)["status"] == "running"


def test_lists_page_with_cursors(client, bearer):
    alice = bearer("alice")
    ids = [raise_cr(client, alice)["instance_id"] for _ in range(3)]
    first = client.get("/api/v1/instances?limit=2", headers=alice).json
    assert len(first["items"]) == 2 and first["total"] == 3 and first["next_cursor"]
    second = client.get(f"/api/v1/instances?limit=2&cursor={first['next_cursor']}", headers=alice).json
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert sorted(i["id"] for i in first["items"] + second["items"]) == sorted(ids)
    bad = client.get("/api/v1/instances?cursor=nonsense", headers=alice)
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "cursor"


def test_the_policy_decides_as_for_the_web(client, bearer, gov):
    alice, bob, olive, carol = bearer("alice"), bearer("bob"), bearer("olive"), bearer("carol")
    made = raise_cr(client, alice)
    instance_id = made["instance_id"]
    # a participant reads neither another's unissued request, nor the register, logs or library
    assert client.get(f"/api/v1/instances/{instance_id}", headers=bob).status_code == 403
    for path in ("/api/v1/register", "/api/v1/logs/decisions", "/api/v1/processes", "/api/v1/incidents"):
        assert client.get(path, headers=bob).status_code == 403, path
    # staff and observers read them
    assert client.get(f"/api/v1/instances/{instance_id}", headers=olive).status_code == 200
    assert client.get("/api/v1/register", headers=olive).status_code == 200
    # an observer acts on nothing; a participant cannot do a CCM's task
    task = validate_task(client, carol, instance_id)
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=olive, json={}).status_code == 403
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=bob, json={}).status_code == 403
    # only who may administer suspends, and only with the admin scope
    assert client.post(f"/api/v1/instances/{instance_id}/suspend", headers=carol,
                       json={"reason": "Checking"}).status_code == 403  # no admin scope on the token
    admin_scoped = bearer("carol", "read", "admin")
    assert client.post(f"/api/v1/instances/{instance_id}/suspend", headers=admin_scoped,
                       json={"reason": "Checking"}).json["status"] == "suspended"
    assert client.post(f"/api/v1/instances/{instance_id}/resume", headers=bearer("ida", "admin"),
                       json={"reason": "Checking"}).status_code == 403  # the IPA never administers
    denials = [e for e in gov.show(instance_id)["history"] if e["action"] == "access.denied"]
    assert denials, "refusals are audited as the web's are"


def test_browser_sessions_need_their_csrf_token_and_tokens_do_not(client, browser_session, bearer):
    csrf = browser_session("alice")
    assert client.get("/api/v1/tasks").status_code == 200  # the signed-in session reads
    body = {"process_id": "change_control", "data": RAISE}
    assert client.post("/api/v1/instances", json=body).status_code == 403
    assert client.post("/api/v1/instances", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert client.post("/api/v1/instances", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    other = client.application.test_client()  # no cookie: a token alone, no CSRF token needed
    assert other.post("/api/v1/instances", json=body, headers=bearer("alice")).status_code == 201


def test_the_openapi_document_and_its_reference_page(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"] == "3.1.0" and spec["servers"] == [{"url": "/api/v1"}]
    for path in ("/tasks", "/tasks/{task_id}/complete", "/instances", "/instances/{instance_id}/withdraw",
                 "/processes/{process_id}/deploy", "/notifications", "/register/export", "/logs/meetings",
                 "/instances/{instance_id}/move-back", "/timers/{timer_id}/retry"):
        assert path in spec["paths"], path
    operations = [op for item in spec["paths"].values() for method, op in item.items()
                  if method in ("get", "post", "put", "patch", "delete")]
    declared = [tag["name"] for tag in spec["tags"]]
    assert {"Tasks", "Instances", "Processes", "Register", "Administration", "Webhooks"} <= set(declared)
    assert all(len(op["tags"]) == 1 and op["tags"][0] in declared for op in operations), "grouped on the page"
    ids = [op["operationId"] for op in operations]
    assert len(set(ids)) == len(ids) == len(operations)
    page = client.get("/api/v1/docs")
    assert page.status_code == 200 and b"/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.data
    assert client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js").status_code == 200


def test_a_browser_session_ended_elsewhere_no_longer_reads_the_api(client, browser_session, gov):
    browser_session("alice")
    assert client.get("/api/v1/tasks").status_code == 200
    gov.accounts.end_sessions("alice", "admin", "lost laptop")
    assert client.get("/api/v1/tasks").status_code == 401


def test_a_consultation_response_is_withdrawn_by_its_sender_only(client, bearer, gov, clock):
    from tests.scenarios.change_control_driver import ChangeRequest
    cr = ChangeRequest(gov, clock).to_consultation()
    bob, url = bearer("bob"), f"/api/v1/instances/{cr.id}/messages/consultation_response_withdrawn"
    refused = client.post(url, headers=bob, json={"data": {}})
    assert refused.status_code == 409 and "You have not responded" in refused.json["detail"], refused.json
    cr.respond("bob")
    offered = client.get(f"/api/v1/instances/{cr.id}", headers=bob).json["open_messages"]
    assert "consultation_response_withdrawn" in [m["message"] for m in offered]
    done = client.post(url, headers=bob, json={"data": {"reason": "Sent too early."}})
    assert done.status_code == 200, done.json
    assert cr.data["consultation_responses"] == []
