"""Webhooks: a command's audit events that active subscriptions want become `webhook` effects in the command's own
transaction; delivering one POSTs it as JSON, signed with HMAC-SHA256, and logs every attempt.

The request: `X-Govflow-Event` (the action), `X-Govflow-Delivery` (the effect's id: the same on every retry, for a
receiver to drop duplicates), `X-Govflow-Timestamp` (Unix seconds) and `X-Govflow-Signature: sha256=<hex>`, the
HMAC-SHA256 under the subscription's secret of `<timestamp>.<body>`. A response other than 2xx, or none within
TIMEOUT, fails the attempt; the outbox retries with backoff and opens an incident after its last try. Form answers
(`data`) are never sent: a receiver reads what it may through the API, under the policy.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from datetime import datetime
from fnmatch import fnmatchcase

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.delivery import outbox
from engine.store import audit
from engine.store.models import Webhook

KIND = "webhook"
TIMEOUT = 10  # seconds
SUBSCRIPTIONS_TTL = 2.0  # seconds a worker reuses the active subscriptions it read (one query saved per command)
_subscriptions: dict[str, tuple[float, list[tuple[int, list[str]]]]] = {}
WITHHELD = {"data", "answers", "password"}  # never sent in a payload
TEST_EVENT = "webhook.test"
# The events commands publish (what a subscription may name, besides `area.*` and `*`), each in plain words.
EVENTS = {
    "instance.started": "A request or other process is started",
    "instance.completed": "A process reaches its end",
    "instance.suspended": "A manager suspends a process",
    "instance.resumed": "A manager resumes a suspended process",
    "instance.terminated": "A manager stops a process for good",
    "instance.moved_back": "A manager moves a process back to an earlier step",
    "task.created": "A task is waiting for someone",
    "task.claimed": "Someone picks up a task",
    "task.unclaimed": "Someone hands a task back",
    "task.reassigned": "A task is given to someone else",
    "task.completed": "A task's form is sent",
    "task.cancelled": "A task is no longer needed",
    "message.received": "A process receives a message",
    "signal.received": "A process receives a signal",
    "timer.fired": "A deadline or timer is reached",
    "timer.cancelled": "A timer is no longer needed",
    "timer.retried": "An admin retries a failed timer",
    "effect.retried": "An admin retries a delivery that failed",
    "incident.resolved": "An admin closes an incident",
    "webhook.test_sent": "An admin sends a test event to a webhook",
}


def known_pattern(pattern: str) -> bool:
    """A name of EVENTS, or a pattern (`task.*`, `*`) that matches at least one of them."""
    return pattern in EVENTS or ("*" in pattern and any(fnmatchcase(name, pattern) for name in EVENTS))


def event_areas() -> dict[str, list[str]]:
    """EVENTS by their area (`instance`, `task`, …), in catalogue order."""
    areas: dict[str, list[str]] = {}
    for name in EVENTS:
        areas.setdefault(name.split(".")[0], []).append(name)
    return areas


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def wants(patterns: list[str], action: str) -> bool:
    """`task.completed`, `task.*` or `*` (every event)."""
    return any(fnmatchcase(action, p) for p in patterns)


def enqueue_for_events(session: Session, now: datetime, actor: str) -> int:
    """In a command's transaction: one `webhook` effect per (subscription, queued audit event) it wants."""
    events = audit.pending(session)
    if not events:
        return 0
    hooks = _active_subscriptions(session)
    count = 0
    for hook_id, patterns in hooks:
        for event in events:
            if wants(patterns or [], event["action"]):
                details = {k: v for k, v in (event["details"] or {}).items() if k not in WITHHELD}
                outbox.enqueue(session, now, KIND, {
                    "webhook_id": hook_id,
                    "event": {"event": event["action"], "at": event["at"], "actor": event["actor"],
                              "instance_id": event["instance_id"], "task_id": event["task_id"],
                              "element_id": event["element_id"], "details": details}},
                    instance_id=event["instance_id"], actor=actor)
                count += 1
    return count


def _active_subscriptions(session: Session) -> list[tuple[int, list[str]]]:
    """The active subscriptions, read at most every SUBSCRIPTIONS_TTL seconds per database by this process (a
    subscription added or removed elsewhere applies here within that time; here, at once: `forget_subscriptions`)."""
    key = str(session.get_bind().url)
    cached = _subscriptions.get(key)
    if cached is not None and time.monotonic() - cached[0] < SUBSCRIPTIONS_TTL:
        return cached[1]
    rows = [(hook_id, list(events or [])) for hook_id, events in
            session.execute(select(Webhook.id, Webhook.events).where(Webhook.active.is_(True)))]
    _subscriptions[key] = (time.monotonic(), rows)
    return rows


def forget_subscriptions() -> None:
    """Read the subscriptions again on the next command (after this process added or removed one)."""
    _subscriptions.clear()


def post(url: str, secret: str, effect_id: int, event: dict) -> tuple[int, int]:
    """POST one event; returns (HTTP status, milliseconds). Raises on no answer, a redirect or a status not 2xx."""
    body = json.dumps({"delivery": effect_id, **event}, sort_keys=True).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "govflow-webhooks",
        "X-Govflow-Event": event["event"], "X-Govflow-Delivery": str(effect_id),
        "X-Govflow-Timestamp": str(timestamp), "X-Govflow-Signature": sign(secret, timestamp, body)})
    started = time.perf_counter()
    try:
        with _OPENER.open(request, timeout=TIMEOUT) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        raise DeliveryFailed(f"{url} answered {err.code}", err.code,
                             int((time.perf_counter() - started) * 1000)) from None
    except (urllib.error.URLError, OSError) as err:
        raise DeliveryFailed(f"{url} did not answer: {getattr(err, 'reason', err)}", None,
                             int((time.perf_counter() - started) * 1000)) from None
    elapsed = int((time.perf_counter() - started) * 1000)
    if not 200 <= status < 300:
        raise DeliveryFailed(f"{url} answered {status}", status, elapsed)
    return status, elapsed


class DeliveryFailed(Exception):
    def __init__(self, message: str, status: int | None, duration_ms: int):
        super().__init__(message)
        self.status, self.duration_ms = status, duration_ms


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a redirect is an answer other than 2xx: the attempt fails
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())  # direct, never redirected
