"""The API's library, notifications, register, logs and meetings: the same services and capabilities as the web."""
from __future__ import annotations

from tests.library.helpers import LOOP_BPMN, loop_with_extra_task
from tests.web.cc_answers import RAISE


def test_validate_deploy_and_publish_processes(client, bearer, gov):
    ann, carol = bearer("ann", "read", "library"), bearer("carol", "read", "library")
    checked = client.post("/api/v1/processes/validate", headers=ann, json={"files": {"loop.bpmn": "<nope"}})
    assert checked.status_code == 200 and checked.json["valid"] is False and checked.json["problems"]
    alone = client.post("/api/v1/processes/validate", headers=ann, json={"files": {"loop.bpmn": LOOP_BPMN.decode()}})
    assert alone.json["valid"] is False  # its forms and settings were not sent: each missing one is named
    assert {p["element_id"] for p in alone.json["problems"]} >= {"start"}
    before = client.get("/api/v1/processes/loop", headers=ann).json["latest"]["version"]
    assert client.post("/api/v1/processes/loop/deploy", headers=carol,  # a CCM may not publish
                       json={"files": {"loop.bpmn": loop_with_extra_task().decode()}, "note": "x"}).status_code == 403
    made = client.post("/api/v1/processes/loop/deploy", headers=ann,
                       json={"files": {"loop.bpmn": loop_with_extra_task().decode()}, "note": "An extra check"})
    assert made.status_code == 201, made.json
    assert made.json["version"] == before + 1
    broken = client.post("/api/v1/processes/loop/deploy", headers=ann,
                         json={"files": {"loop.bpmn": "<bpmn:definitions"}, "note": "Broken"})
    assert broken.status_code == 422 and broken.json["errors"][0]["field"].startswith("files.")
    assert client.get("/api/v1/processes/loop", headers=ann).json["draft"] is None  # the refused draft is gone
    assert client.post("/api/v1/processes/loop/publish", headers=ann, json={"note": "Nothing"}).status_code == 404


def test_notifications_are_read_and_marked(client, bearer, gov):
    alice, carol = bearer("alice"), bearer("carol")
    client.post("/api/v1/instances", headers=alice, json={"process_id": "change_control", "data": RAISE})
    gov.effects.wait_idle()
    mine = client.get("/api/v1/notifications?unread=true", headers=carol).json["items"]
    assert mine, "the CCM is told of the new validation task"
    marked = client.post("/api/v1/notifications/read", headers=carol, json={"ids": [mine[0]["id"]]})
    assert marked.status_code == 200 and marked.json["count"] == 1
    assert len(client.get("/api/v1/notifications?unread=true", headers=carol).json["items"]) == len(mine) - 1


def test_register_logs_and_meetings(client, bearer, gov):
    alice, pat = bearer("alice"), bearer("pat", "read")
    made = client.post("/api/v1/instances", headers=alice, json={"process_id": "change_control", "data": RAISE}).json
    rows = client.get("/api/v1/register?q=M10", headers=pat).json
    assert [r["id"] for r in rows["items"]] == [made["instance_id"]] and rows["total"] == 1
    export = client.get("/api/v1/register/export", headers=pat)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.data.decode().splitlines()[0].startswith("Number,Title")
    assert client.get("/api/v1/logs/decisions", headers=pat).status_code == 200
    assert client.get("/api/v1/logs/nonsense", headers=pat).status_code == 404
    assert client.get("/api/v1/logs/meetings?group=PSG", headers=pat).status_code == 200
    assert client.get("/api/v1/logs/meetings?start=not-a-day", headers=pat).status_code == 422
