"""Webhook subscriptions, managed by whoever may `integrate` (admins): add (the signing secret shown once), list,
disable and enable, remove, send a test event, and each one's delivery log; and delivering a `webhook` effect of the
outbox."""
from __future__ import annotations

import secrets
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select

from engine.clock import Clock
from engine.delivery import outbox
from engine.delivery import webhooks as sending
from engine.delivery.outbox import Effect
from engine.errors import Conflict, Forbidden, FormInvalid, NotFound
from engine.governance.policy import INTEGRATE, policy_of
from engine.services.commands import Commands
from engine.services.identity import require_user
from engine.store import audit
from engine.store.db import Database
from engine.store.models import OutboxEffect, Webhook, WebhookDelivery

LOOPBACK = {"localhost", "127.0.0.1", "::1"}
MAX_EVENTS = 50


class Webhooks:
    """The subscriptions over one database and clock."""

    def __init__(self, db: Database, clock: Clock, commands: Commands | None = None):
        self.db = db
        self.clock = clock
        self.commands = commands or Commands(db, clock)  # the runtime's, so a test event is delivered at once

    def _require(self, session, username: str) -> None:
        if not policy_of(session).allows(require_user(session, username), INTEGRATE):
            raise Forbidden("Only whoever may integrate (an admin) manages webhooks")

    def add(self, username: str, url: str, events: list[str]) -> tuple[str, dict]:
        """Subscribe `url` to `events`; returns (the signing secret, shown only now; the subscription)."""
        problems = {}
        url = (url or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2000:
            problems["url"] = "Enter the receiver's full address, starting https://"
        elif parts.scheme == "http" and parts.hostname not in LOOPBACK:
            problems["url"] = "Use https (plain http only to this machine, for testing)"
        events = sorted({(e or "").strip() for e in events} - {""})
        unknown = [e for e in events if not sending.known_pattern(e)]
        if not events:
            problems["events"] = "Choose at least one event to send"
        elif len(events) > MAX_EVENTS or any(len(e) > 60 for e in events):
            problems["events"] = f"Choose at most {MAX_EVENTS} events"
        elif unknown:
            problems["events"] = (f"govflow sends no event called ‘{unknown[0][:60]}’: choose from the known events, "
                                  "e.g. task.completed, instance.* or *")
        if problems:
            raise FormInvalid(problems)
        now, secret = self.clock.now(), "whsec_" + secrets.token_urlsafe(32)
        with self.db.write() as session:
            self._require(session, username)
            row = Webhook(url=url, events=events, secret=secret, active=True, created_by=username, created_at=now)
            session.add(row)
            session.flush()
            audit.record(session, now, username, "webhook.added", webhook_id=row.id, url=url, events=events)
            listed = _listed(row)
        sending.forget_subscriptions()
        return secret, listed

    def listing(self, username: str) -> list[dict]:
        """Every subscription, removed ones too (never a secret), each with its latest delivery attempt."""
        with self.db.read() as session:
            self._require(session, username)
            latest_ids = select(func.max(WebhookDelivery.id)).group_by(WebhookDelivery.webhook_id)
            latest = {d.webhook_id: _attempt(d) for d in
                      session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(latest_ids)))}
            return [dict(_listed(r), last_delivery=latest.get(r.id))
                    for r in session.scalars(select(Webhook).order_by(Webhook.id))]

    def get(self, webhook_id: int, username: str) -> dict:
        with self.db.read() as session:
            self._require(session, username)
            return _listed(self._row(session, webhook_id))

    def disable(self, webhook_id: int, username: str) -> dict:
        """Stop sending to a subscription for now (events meanwhile are not kept for it); enable sends again."""
        return self._set_active(webhook_id, username, False)

    def enable(self, webhook_id: int, username: str) -> dict:
        return self._set_active(webhook_id, username, True)

    def _set_active(self, webhook_id: int, username: str, active: bool) -> dict:
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username)
            row = self._row(session, webhook_id)
            if row.removed_at is not None:
                raise Conflict(f"Webhook {webhook_id} is removed: add a new one instead")
            if row.active != active:
                row.active = active
                audit.record(session, now, username, "webhook.enabled" if active else "webhook.disabled",
                             webhook_id=row.id, url=row.url)
            listed = _listed(row)
        sending.forget_subscriptions()
        return listed

    def remove(self, webhook_id: int, username: str) -> dict:
        """Remove a subscription for good (its log is kept; effects already queued are dropped when their turn
        comes)."""
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username)
            row = self._row(session, webhook_id)
            if row.removed_at is None:
                row.active, row.removed_at, row.removed_by = False, now, username
                audit.record(session, now, username, "webhook.removed", webhook_id=row.id, url=row.url)
            listed = _listed(row)
        sending.forget_subscriptions()
        return listed

    def send_test(self, webhook_id: int, username: str) -> int:
        """Queue a signed `webhook.test` event for this subscription alone (one command: delivered at once after
        it, retried like any other); returns the effect's id. Audited as `webhook.test_sent`."""
        with self.commands.scope("webhook.test_sent", username) as (session, change):
            self._require(session, username)
            row = self._row(session, webhook_id)
            if not row.active:
                raise Conflict(f"Webhook {webhook_id} is {'removed' if row.removed_at else 'disabled'}: "
                               "enable it before testing it")
            now = change.at
            effect_id = outbox.enqueue(session, now, sending.KIND, {"webhook_id": row.id, "event": {
                "event": sending.TEST_EVENT, "at": now.isoformat(), "actor": username, "instance_id": None,
                "task_id": None, "element_id": None,
                "details": {"webhook_id": row.id, "note": "A test event: nothing happened in govflow"}}},
                actor=username)
            audit.record(session, now, username, "webhook.test_sent", webhook_id=row.id, url=row.url)
            return effect_id

    @staticmethod
    def _row(session, webhook_id: int) -> Webhook:
        row = session.get(Webhook, webhook_id)
        if row is None:
            raise NotFound(f"There is no webhook {webhook_id}")
        return row

    def deliveries(self, webhook_id: int, username: str, limit: int = 200) -> list[dict]:
        """The delivery log, newest first: each attempt, its answer, how long it took, and for the latest failed
        attempt of an event still being retried, when the next try is due (`gave_up` once the outbox stopped)."""
        with self.db.read() as session:
            self._require(session, username)
            self._row(session, webhook_id)
            rows = session.execute(
                select(WebhookDelivery, OutboxEffect.status, OutboxEffect.due_at, OutboxEffect.attempts)
                .outerjoin(OutboxEffect, OutboxEffect.id == WebhookDelivery.effect_id)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(WebhookDelivery.id.desc()).limit(limit)).all()
            found = []
            for r, status, due_at, attempts in rows:
                last_try = not r.ok and attempts == r.attempt
                found.append(dict(_attempt(r), id=r.id, effect_id=r.effect_id,
                                  next_retry_at=due_at.isoformat() if last_try and status == "pending" else None,
                                  gave_up=bool(last_try and status == "failed")))
            return found

    # --- delivering (the outbox's `webhook` effects) ---------------------------------------------------------------

    def deliver(self, effect: Effect, now: datetime) -> int | None:
        """POST the effect's event; log the attempt; mark the effect delivered on a 2xx. A failure is logged and
        raised (the outbox backs off and retries). None when another deliverer got there first."""
        with self.db.read() as session:
            hook = session.get(Webhook, effect.payload.get("webhook_id"))
            url, secret, active = (hook.url, hook.secret, hook.active) if hook else (None, None, False)
        event = effect.payload.get("event") or {}
        if not active:  # removed since: nothing to send
            with self.db.write() as session:
                return 0 if outbox.claim(session, effect.id, now) else None
        try:
            status, elapsed = sending.post(url, secret, effect.id, event)
        except sending.DeliveryFailed as err:
            self._log(effect, event, now, False, err.status, str(err), err.duration_ms)
            raise
        with self.db.write() as session:
            if not outbox.claim(session, effect.id, now):
                return None
            self._log_in(session, effect, event, now, True, status, None, elapsed)
            return status

    def _log(self, effect: Effect, event: dict, now: datetime, ok: bool, status, error, elapsed) -> None:
        with self.db.write() as session:
            self._log_in(session, effect, event, now, ok, status, error, elapsed)

    @staticmethod
    def _log_in(session, effect: Effect, event: dict, now: datetime, ok: bool, status, error, elapsed) -> None:
        session.add(WebhookDelivery(webhook_id=effect.payload["webhook_id"], effect_id=effect.id,
                                    event=str(event.get("event", ""))[:60], attempt=effect.attempts + 1, at=now,
                                    ok=ok, status_code=status, error=error, duration_ms=elapsed))


def _attempt(r: WebhookDelivery) -> dict:
    return {"event": r.event, "attempt": r.attempt, "at": r.at.isoformat(), "ok": r.ok,
            "status_code": r.status_code, "error": r.error, "duration_ms": r.duration_ms}


def _listed(row: Webhook) -> dict:
    return {"id": row.id, "url": row.url, "events": list(row.events), "active": row.active,
            "created_by": row.created_by, "created_at": row.created_at.isoformat(),
            "removed_at": row.removed_at.isoformat() if row.removed_at else None,
            "status": "removed" if row.removed_at else "active" if row.active else "disabled"}
