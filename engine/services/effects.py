"""Delivering the outbox: each effect by its kind, exactly once, retried with backoff, an incident after the last
try; then the e-mails of pending notices.

Who delivers: the process that ran the command, at once after its commit (on a worker thread, so the command
returns at once; synchronously when `background` is off), and every scheduler's sweep for whatever is left — an
effect whose process died after the commit, or one waiting for its next attempt. A web request `hold`s its commands'
background deliveries and `release`s them once its response is sent (web/after_response.py), so they do not compete
with the request for the interpreter.
"""
from __future__ import annotations

import contextvars
import logging
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import datetime
from typing import Callable

from engine.clock import Clock
from engine.delivery import outbox
from engine.delivery.outbox import Effect
from engine.observability import context
from engine.services import incidents
from engine.services.commands import Change
from engine.services.notifications import Notifier
from engine.services.runtime import Runtime
from engine.store.db import Database

log = logging.getLogger(__name__)

AT_ONCE = {"start_process"}  # delivered in the committing command's thread; the rest on the worker


class _Held:
    """The background deliveries a context holds until `release` (a web request's, until its response is sent)."""
    __slots__ = ("entries", "__weakref__")

    def __init__(self):
        self.entries: list[tuple[dict, Callable, tuple]] = []  # the log fields of the command that asked, the call


_held: ContextVar[_Held | None] = ContextVar("govflow_held_deliveries", default=None)


def _as_asked(fields: dict, fn: Callable, args: tuple) -> None:
    """Make a released delivery with the log fields of the command that asked for it."""
    context.bind(**fields)
    fn(*args)


class Effects:
    """The outbox's deliverer."""

    def __init__(self, db: Database, clock: Clock, runtime: Runtime, notifier: Notifier, background: bool = True,
                 inline: bool = True):
        self.db = db
        self.clock = clock
        self.runtime = runtime
        self.notifier = notifier
        self.background = background  # deliver after a commit on a worker thread, not in the command's thread
        self.inline = inline  # deliver a command's effects in its own process at once (else: the scheduler only)
        self.handlers: dict[str, Callable[[Effect, datetime], object]] = {
            "start_process": lambda effect, _now: self.runtime.start_followup(effect),
            "announce_tasks": self._announce_tasks,
            "announce_assignment": self._announce_assignment,
        }  # and `webhook`, added by whoever delivers them (the platform: engine/services/webhooks.py)
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._pending = 0

    def attach(self) -> None:
        """Deliver each committed command's effects at once."""
        self.runtime.listeners.append(self.after_commit)

    # --- delivering ----------------------------------------------------------------------------------------------

    def deliver_due(self, now: datetime | None = None, limit: int = 200, send_mail: bool = True) -> int:
        """Deliver the pending effects due now, oldest first (and those their delivery wrote: a follow-up's
        announcements); then send pending e-mails. Returns how many effects were delivered by this call."""
        delivered, seen = 0, set()
        while True:
            moment = now or self.clock.now()
            with self.db.read() as session:
                effects = [e for e in outbox.due(session, moment, limit) if e.id not in seen]
            if not effects:
                break
            seen.update(e.id for e in effects)
            delivered += sum(1 for effect in effects if self._deliver(effect, moment))
        if send_mail:
            self.notifier.send_pending(now or self.clock.now())
        return delivered

    def _deliver(self, effect: Effect, now: datetime) -> bool:
        with context.bound(effect_id=effect.id, instance_id=effect.instance_id,
                           request_id=effect.request_id or context.current().get("request_id")):
            return self._deliver_bound(effect, now)

    def _deliver_bound(self, effect: Effect, now: datetime) -> bool:
        handler = self.handlers.get(effect.kind)
        try:
            if handler is None:
                raise LookupError(f"no deliverer for effects of kind '{effect.kind}'")
            done = handler(effect, now) is not None
            if done:
                log.info("effect %s (%s) delivered", effect.id, effect.kind, extra={"effect_kind": effect.kind})
            return done
        except Exception as err:  # rolled back with the effect's own transaction: count it, back off, or give up
            log.warning("effect %s (%s) failed: %s", effect.id, effect.kind, err)
            with self.db.write() as session:
                if outbox.record_failure(session, effect.id, now, f"{type(err).__name__}: {err}"):
                    incidents.open_incident(
                        session, now, "delivery_failed",
                        f"The effect '{effect.kind.replace('_', ' ')}' failed {outbox.MAX_ATTEMPTS} times and "
                        f"stopped: {type(err).__name__}: {err}. Fix the cause, then retry it.",
                        instance_id=effect.instance_id, command=effect.kind, actor=effect.actor,
                        effect_id=effect.id, payload=effect.payload)
            return False

    def _announce_tasks(self, effect: Effect, now: datetime) -> int | None:
        with self.db.write() as session:
            if not outbox.claim(session, effect.id, now):
                return None
            return self.notifier.announce_tasks_in(session, effect.payload.get("task_ids"), effect.actor, now)

    def _announce_assignment(self, effect: Effect, now: datetime) -> int | None:
        with self.db.write() as session:
            if not outbox.claim(session, effect.id, now):
                return None
            return self.notifier.announce_assignment_in(session, effect.instance_id, effect.payload["username"],
                                                        effect.payload.get("task_id"), effect.actor, now)

    # --- after a command -------------------------------------------------------------------------------------------

    def after_commit(self, change: Change) -> None:
        """Deliver what the command wrote to the outbox (and any e-mails it queued): a follow-up start at once, in
        the command's thread (the person sees the process it started), the rest soon, on the worker. The effects
        are delivered as the command wrote them, not read back; each delivery claims its row, so it is still made
        exactly once."""
        if not self.inline:
            return
        at_once = [e for e in change.effects if e.kind in AT_ONCE]
        later = [e for e in change.effects if e.kind not in AT_ONCE]
        if at_once:
            self._deliver_safely(at_once, send_mail=False)
        if not later and not self.notifier.email_on:
            return
        if self.background:
            self._submit(self._deliver_safely, later)
        else:
            self.deliver(later)

    def deliver(self, effects: list[Effect], send_mail: bool = True) -> int:
        """Deliver these effects now (those a command just wrote), then send pending e-mails; how many were
        delivered."""
        delivered = sum(1 for effect in effects if self._deliver(effect, self.clock.now()))
        if send_mail:
            self.notifier.send_pending(self.clock.now())
        return delivered

    def _deliver_safely(self, effects: list[Effect], send_mail: bool = True) -> None:
        try:
            self.deliver(effects, send_mail=send_mail)
        except Exception:  # the rows are still there: the scheduler's sweep delivers them
            log.exception("delivering effects %s after their commit failed", [e.id for e in effects])

    def hold(self) -> None:
        """From now on in this context, keep the background deliveries until `release` instead of starting them."""
        self.release()  # an earlier request's in this thread that its server never closed: made now
        held = _Held()
        # a context dropped while holding (its thread ended, the response never finished): its deliveries are left
        # to the scheduler's sweep, and no longer counted as pending
        weakref.finalize(held, self._dropped, held.entries)
        _held.set(held)

    @property
    def holding(self) -> bool:
        """Whether this context holds any delivery."""
        held = _held.get()
        return bool(held and held.entries)

    def release(self) -> int:
        """Stop holding, and make the held deliveries now, in this thread, each in a copy of this context with the
        log fields of the command that asked for it (what they leave for the background is not held again); how
        many there were."""
        held = _held.get()
        if held is None:
            return 0
        _held.set(None)
        entries = list(held.entries)
        held.entries.clear()  # made here: nothing left for its finalizer to count
        for fields, fn, args in entries:
            try:
                contextvars.copy_context().run(_as_asked, fields, fn, args)
            finally:
                self._done(None)
        return len(entries)

    def _dropped(self, entries: list) -> None:
        if entries:
            log.warning("%d deliveries held for a response that never finished are left to the scheduler's sweep",
                        len(entries))
        for _entry in entries:
            self._done(None)

    def _submit(self, fn, *args) -> None:
        with self._idle:  # counted from now, held or not: `wait_idle` waits for a held delivery too
            self._pending += 1
        held = _held.get()
        if held is not None:
            held.entries.append((context.current(), fn, args))
            return
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix="govflow-effects")
            # the worker runs in the command's context: its request id reaches the delivery's log lines
            future = self._executor.submit(contextvars.copy_context().run, fn, *args)
        future.add_done_callback(self._done)

    def _done(self, _future) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Block until the worker has nothing queued or running, and no request holds a delivery (tests,
        shutdown)."""
        with self._idle:
            if not self._idle.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError("the effects worker is still busy")

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    # --- for admins ------------------------------------------------------------------------------------------------

    def listing(self, status: str | None = None) -> list[dict]:
        with self.db.read() as session:
            return outbox.listing(session, status)

    def depth(self) -> tuple[int, datetime | None]:
        with self.db.read() as session:
            return outbox.depth(session)
