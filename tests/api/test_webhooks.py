"""Webhooks against a real HTTP receiver on 127.0.0.1: signed deliveries through the outbox, retries with backoff,
the delivery log, an incident after the last try, managed by admins (service, API and CLI)."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from click.testing import CliRunner

from engine.delivery import outbox
from engine.errors import Conflict, Forbidden, FormInvalid
from tests.web.cc_answers import ANSWERS, RAISE
from tests.webhook_receiver import Receiver


def deliver(gov) -> None:
    gov.effects.wait_idle()
    gov.deliver_effects()


def verified(secret: str, request: dict) -> bool:
    headers = request["headers"]
    expected = "sha256=" + hmac.new(secret.encode(), headers["X-Govflow-Timestamp"].encode() + b"." + request["body"],
                                    hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Govflow-Signature"])


def test_events_are_signed_and_delivered_through_the_outbox(gov, receiver):
    secret, hook = gov.webhooks.add("admin", receiver.url, ["instance.started", "task.completed"])
    result = gov.start("change_control", "alice", RAISE)
    gov.complete(result.new_task_ids[0], "carol", ANSWERS["validate"])
    deliver(gov)
    assert receiver.events() == ["instance.started", "task.completed"]
    first = receiver.received[0]
    assert verified(secret, first) and not verified("whsec_wrong", first)
    sent = json.loads(receiver.received[1]["body"])
    assert sent["instance_id"] == result.instance_id and sent["actor"] == "carol"
    assert "data" not in sent["details"]  # form answers stay behind the API's policy
    log = gov.webhooks.deliveries(hook["id"], "admin")
    assert [(d["event"], d["ok"], d["status_code"]) for d in reversed(log)] == [
        ("instance.started", True, 204), ("task.completed", True, 204)]


def test_a_failing_receiver_is_retried_with_backoff_then_an_incident(gov, receiver, clock):
    gov.webhooks.add("admin", receiver.url, ["instance.*"])
    receiver.answers = [500, 503]
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    assert len(receiver.received) == 1
    deliver(gov)  # not due again yet: backing off
    assert len(receiver.received) == 1
    clock.advance(seconds=31)
    deliver(gov)
    clock.advance(seconds=61)
    deliver(gov)
    assert len(receiver.received) == 3  # 500, 503, then 204
    assert len({r["headers"]["X-Govflow-Delivery"] for r in receiver.received}) == 1  # one delivery id throughout
    assert [e["status"] for e in gov.effects_list() if e["kind"] == "webhook"] == ["delivered"]
    receiver.answers = [500] * outbox.MAX_ATTEMPTS
    gov.start("change_control", "alice", RAISE)
    for _ in range(outbox.MAX_ATTEMPTS):
        deliver(gov)
        clock.advance(minutes=10)
    failed = [e for e in gov.effects_list() if e["kind"] == "webhook" and e["status"] == "failed"]
    assert len(failed) == 1
    assert any(i["kind"] == "delivery_failed" for i in gov.incidents())


def test_a_receiver_that_does_not_answer_fails_the_attempt(gov):
    _secret, hook = gov.webhooks.add("admin", "http://127.0.0.1:9/nothing-listens", ["*"])
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    log = gov.webhooks.deliveries(hook["id"], "admin")
    assert log and not log[0]["ok"] and "did not answer" in log[0]["error"]


def test_only_admins_manage_webhooks_and_urls_are_checked(gov, receiver):
    with pytest.raises(Forbidden):
        gov.webhooks.add("pat", receiver.url, ["*"])
    with pytest.raises(FormInvalid) as refused:
        gov.webhooks.add("admin", "http://example.org/hook", [])
    assert set(refused.value.errors) == {"url", "events"}
    _secret, hook = gov.webhooks.add("admin", receiver.url, ["*"])
    gov.webhooks.remove(hook["id"], "admin")
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    assert receiver.received == []


def test_webhooks_through_the_api_and_the_cli(gov, client, bearer, receiver, monkeypatch):
    admin, pat = bearer("admin", "read", "admin"), bearer("pat", "read", "admin")
    assert client.post("/api/v1/webhooks", headers=pat, json={"url": receiver.url, "events": ["*"]}).status_code == 403
    made = client.post("/api/v1/webhooks", headers=admin, json={"url": receiver.url, "events": ["task.*"]})
    assert made.status_code == 201 and made.json["secret"].startswith("whsec_")
    listed = client.get("/api/v1/webhooks", headers=admin).json["items"]
    assert [w["id"] for w in listed] == [made.json["id"]] and "secret" not in listed[0]
    from cli.commands import govflow
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", gov.config.database_url)
    added = CliRunner().invoke(govflow, ["webhooks", "add", receiver.url, "--event", "instance.started",
                                         "--as", "admin", "--json"])
    assert added.exit_code == 0, added.output
    assert "whsec_" in added.output
    shown = CliRunner().invoke(govflow, ["webhooks", "list", "--as", "admin"])
    assert shown.output.count("active") == 2
    assert client.delete(f"/api/v1/webhooks/{made.json['id']}", headers=admin).json["status"] == "removed"
    assert client.get(f"/api/v1/webhooks/{made.json['id']}/deliveries", headers=admin).json["items"] == []


def test_a_subscription_added_by_another_worker_applies_here_once_the_cached_list_expires(gov, receiver,
                                                                                          monkeypatch):
    """Each worker reuses the active subscriptions it read for SUBSCRIPTIONS_TTL seconds (a command saves a query);
    one added elsewhere (here: written straight to the table, as another process's commit would be) applies after."""
    import time
    from engine.delivery import webhooks as sending
    from engine.store.models import Webhook
    monkeypatch.setattr(sending, "SUBSCRIPTIONS_TTL", 0.2)
    gov.start("change_control", "alice", RAISE)  # reads (and caches) the subscriptions: none
    with gov.db.write() as session:
        session.add(Webhook(url=receiver.url, events=["instance.started"], secret="whsec_elsewhere", active=True,
                            created_by="admin", created_at=gov.clock.now()))
    time.sleep(0.25)
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    assert receiver.events() == ["instance.started"]
    assert verified("whsec_elsewhere", receiver.received[0])


def test_a_disabled_webhook_gets_nothing_until_enabled_and_each_switch_is_audited(gov, receiver):
    _secret, hook = gov.webhooks.add("admin", receiver.url, ["instance.started"])
    assert gov.webhooks.disable(hook["id"], "admin")["status"] == "disabled"
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    assert receiver.received == []
    assert gov.webhooks.enable(hook["id"], "admin")["status"] == "active"
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    assert receiver.events() == ["instance.started"]
    assert [a for a in audit_actions(gov) if a.startswith("webhook.")] == [
        "webhook.added", "webhook.disabled", "webhook.enabled"]
    with pytest.raises(Forbidden):
        gov.webhooks.disable(hook["id"], "pat")
    gov.webhooks.remove(hook["id"], "admin")
    with pytest.raises(Conflict):
        gov.webhooks.enable(hook["id"], "admin")  # removed for good


def test_a_test_event_reaches_only_that_webhook_signed_and_logged(gov, receiver):
    secret, hook = gov.webhooks.add("admin", receiver.url, ["task.completed"])
    other = Receiver()
    try:
        gov.webhooks.add("admin", other.url, ["task.completed"])
        gov.webhooks.send_test(hook["id"], "admin")
        deliver(gov)
        assert receiver.events() == ["webhook.test"] and other.received == []
    finally:
        other.server.shutdown()
    assert verified(secret, receiver.received[0])
    assert gov.webhooks.deliveries(hook["id"], "admin")[0]["event"] == "webhook.test"
    assert gov.webhooks.listing("admin")[0]["last_delivery"]["status_code"] == 204
    assert "webhook.test_sent" in audit_actions(gov)
    gov.webhooks.disable(hook["id"], "admin")
    with pytest.raises(Conflict):
        gov.webhooks.send_test(hook["id"], "admin")


def test_the_log_says_when_a_failed_event_is_tried_next_and_when_it_was_given_up(gov, receiver, clock):
    _secret, hook = gov.webhooks.add("admin", receiver.url, ["instance.started"])
    receiver.answers = [500] * outbox.MAX_ATTEMPTS
    gov.start("change_control", "alice", RAISE)
    deliver(gov)
    first = gov.webhooks.deliveries(hook["id"], "admin")
    assert first[0]["status_code"] == 500 and not first[0]["gave_up"]
    assert first[0]["next_retry_at"] == (clock.now() + outbox.FIRST_BACKOFF).isoformat()
    for _ in range(outbox.MAX_ATTEMPTS - 1):
        clock.advance(minutes=10)
        deliver(gov)
    log = gov.webhooks.deliveries(hook["id"], "admin")
    assert [d["attempt"] for d in log] == list(range(outbox.MAX_ATTEMPTS, 0, -1))
    assert log[0]["gave_up"] and log[0]["next_retry_at"] is None
    assert not any(d["next_retry_at"] or d["gave_up"] for d in log[1:])  # only the latest attempt says what next


def test_only_known_events_may_be_named(gov, receiver):
    with pytest.raises(FormInvalid) as refused:
        gov.webhooks.add("admin", receiver.url, ["task.complete"])
    assert "task.complete" in refused.value.errors["events"]
    for patterns in (["*"], ["task.*", "instance.started"], ["timer.f*"]):
        assert gov.webhooks.add("admin", receiver.url, patterns)[1]["events"] == sorted(patterns)


def test_the_api_and_cli_disable_enable_and_test_a_webhook(gov, client, bearer, receiver, monkeypatch):
    secret, hook = gov.webhooks.add("admin", receiver.url, ["task.*"])
    admin, pat = bearer("admin", "read", "admin"), bearer("pat", "read", "admin")
    assert client.post(f"/api/v1/webhooks/{hook['id']}/disable", headers=pat).status_code == 403
    assert client.post(f"/api/v1/webhooks/{hook['id']}/disable", headers=admin).json["status"] == "disabled"
    assert client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin).status_code == 409  # disabled
    assert client.post(f"/api/v1/webhooks/{hook['id']}/enable", headers=admin).json["status"] == "enabled"
    assert client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=admin).status_code == 202
    deliver(gov)
    assert receiver.events() == ["webhook.test"] and verified(secret, receiver.received[0])
    from cli.commands import govflow
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", gov.config.database_url)
    assert CliRunner().invoke(govflow, ["webhooks", "disable", str(hook["id"]), "--as", "admin"]).exit_code == 0
    assert gov.webhooks.get(hook["id"], "admin")["status"] == "disabled"
    assert CliRunner().invoke(govflow, ["webhooks", "enable", str(hook["id"]), "--as", "admin"]).exit_code == 0
    tested = CliRunner().invoke(govflow, ["webhooks", "test", str(hook["id"]), "--as", "admin"])
    assert tested.exit_code == 0 and "queued" in tested.output, tested.output
    tests = [e for e in gov.effects_list() if e["kind"] == "webhook" and e["payload"]["event"]["event"] == "webhook.test"]
    assert len(tests) == 2  # the API's, delivered, and the CLI's


def audit_actions(gov) -> list[str]:
    from sqlalchemy import select

    from engine.store.models import AuditEvent
    with gov.db.read() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
