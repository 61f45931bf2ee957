"""APScheduler drives the BPMN timers and the task deadlines: the database is the truth, the jobs are derived from it.

One `date` job waits for the earliest due timer and another for the next reminder or overdue moment; a periodic
sweep catches timers created by other processes and anything missed, a daily job at 07:00 London sends the
e-mail digests, and a daily job on working days (08:00 London unless the deployed setting `action_reminder_time` or
the `reminders_at` argument says otherwise) plans the groups' usual meetings ahead, reminds the owners of overdue actions and puts those actions on their
group's next agenda — each action at most once a day however many schedulers run (engine/governance/logs.py claims it). Each wake-up fires every due timer, oldest first, each instance in its own transaction that claims
its timers atomically — so several scheduler processes on one PostgreSQL fire each timer exactly once. Nothing is
kept in the scheduler that the database does not hold: `start()` rebuilds every job, and timers that fell due while
everything was down fire at once, oldest first.

Jobs run on the wall clock; due times are read on the runtime's clock (injected in tests and simulations), so a
due time is turned into "this long from now" before it becomes a job.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from engine.calendar import ENGLAND_AND_WALES
from engine.errors import NotFound
from engine.observability import context
from engine.governance.logs import remind_overdue_actions
from engine.governance.meetings import generate_usual_meetings
from engine.services.meeting_calendar import PLANNED_AHEAD_DAYS
from engine.store.models import Timer, UtcDateTime
from engine.services.audit_trail import AuditTrail
from engine.services.commands import Change
from engine.services.runtime import Runtime

log = logging.getLogger(__name__)

NEXT_JOB = "govflow-next-timer"
SWEEP_JOB = "govflow-sweep"
NEXT_DEADLINE_JOB = "govflow-next-deadline"
DEADLINE_JOB = "govflow-deadlines"
DIGEST_JOB = "govflow-digest"
DIGEST_HOUR = 7  # Europe/London
ANCHOR_JOB = "govflow-audit-anchor"  # daily, 00:30 London: anchor the audit chains (engine/store/audit.py)
HEARTBEAT_JOB = "govflow-heartbeat"
REMINDER_JOB = "govflow-action-reminders"
CATCH_UP_REMINDER_JOB = "govflow-action-reminders-catch-up"
REMINDER_TIME = "08:00"  # Europe/London, unless settings.yaml's action_reminder_time says otherwise
SETTINGS_PROCESS = "meeting"  # the deployed process whose settings.yaml the reminders read
STILL_DUE_RETRY = timedelta(seconds=1)
BURST_SECONDS = 0.25


class TimerScheduler:
    """Fires due timers on time, and (when the runtime has a notifier) deadline reminders, overdue notices,
    pending e-mails and the daily digests."""

    def __init__(self, runtime: Runtime, sweep_seconds: float = 15.0, batch: int = 500,
                 deadline_seconds: float = 60.0, notifier=None, reminders_at: str | None = None, effects=None,
                 health=None, heartbeat_seconds: float = 10.0):
        self.runtime = runtime
        self.notifier = notifier
        self.effects = effects
        self.sweep_seconds = sweep_seconds
        self.deadline_seconds = deadline_seconds
        self.batch = batch
        self.reminders_at = reminders_at
        self.health = health  # where this scheduler's heartbeat is written (readiness reads it)
        self.heartbeat_seconds = heartbeat_seconds
        self.name = health.process_name() if health is not None else ""
        self._beat_lock = threading.Lock()
        self._stopped = False
        self._lock = threading.Lock()
        self._deadline_lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1), "deadlines": ThreadPoolExecutor(1),
                       "heartbeat": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self.fired_count = 0
        self._waking: int | None = None
        self.started_at: datetime | None = None

    # --- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Derive every job from the database: wake at once (catch up, oldest first), then at each next due time."""
        self.runtime.listeners.append(self._on_change)
        self._scheduler.start()
        self.started_at = datetime.now(timezone.utc)
        if self.health is not None:  # beats on its own thread: a long wake never makes a live scheduler look dead
            self.beat()
            self._scheduler.add_job(self.beat, "interval", seconds=self.heartbeat_seconds, id=HEARTBEAT_JOB,
                                    executor="heartbeat", replace_existing=True)
        self._scheduler.add_job(self.sweep, "interval", seconds=self.sweep_seconds, id=SWEEP_JOB,
                                replace_existing=True)
        self._scheduler.add_job(self.wake, "date", run_date=self.started_at, id=NEXT_JOB, replace_existing=True)
        if self.notifier is not None:
            self._scheduler.add_job(self.check_deadlines, "interval", seconds=self.deadline_seconds,
                                    id=DEADLINE_JOB, executor="deadlines", replace_existing=True)
            self._scheduler.add_job(self.check_deadlines, "date", run_date=self.started_at,
                                    id=NEXT_DEADLINE_JOB, executor="deadlines", replace_existing=True)
            self._scheduler.add_job(self.send_digests, "cron", hour=DIGEST_HOUR, minute=0,
                                    timezone="Europe/London", id=DIGEST_JOB, executor="deadlines",
                                    replace_existing=True)
        self._scheduler.add_job(self.anchor_audit, "cron", hour=0, minute=30, timezone="Europe/London",
                                id=ANCHOR_JOB, executor="deadlines", replace_existing=True)
        hour, minute = self.reminder_time()
        self._scheduler.add_job(self.send_action_reminders, "cron", day_of_week="mon-fri", hour=hour, minute=minute,
                                timezone="Europe/London", id=REMINDER_JOB, executor="deadlines",
                                replace_existing=True)
        local = self._utcnow().astimezone(ENGLAND_AND_WALES.tz)
        if (local.hour, local.minute) >= (hour, minute):  # started after today's time: catch up (once a day anyway)
            self._scheduler.add_job(self.send_action_reminders, "date", run_date=self.started_at,
                                    id=CATCH_UP_REMINDER_JOB, executor="deadlines", replace_existing=True)

    def shutdown(self) -> None:
        """Stop taking work, then let a wake or deadline check that is running finish. (APScheduler's own
        shutdown(wait=True) holds its job-store lock while it waits, and a running job that reschedules would
        need that lock: a deadlock.)"""
        if self._on_change in self.runtime.listeners:
            self.runtime.listeners.remove(self._on_change)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        with self._lock, self._deadline_lock:
            pass
        if self.health is not None and self.started_at is not None:
            with self._beat_lock:  # a beat still running cannot write the row back after it is forgotten
                self._stopped = True
                try:
                    self.health.forget(self.name)
                except Exception:
                    log.exception("could not remove this scheduler's heartbeat")

    def beat(self) -> None:
        """Tell readiness this scheduler is alive."""
        with self._beat_lock:
            if self._stopped:
                return
            try:
                self.health.beat(self.name, self.heartbeat_seconds, self.started_at)
            except Exception:
                log.exception("scheduler heartbeat failed")

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def _utcnow(self) -> datetime:
        return self.runtime.clock.now()

    def _wall(self, moment: datetime) -> datetime:
        """The wall-clock moment at which the runtime's clock will read `moment` (the same on a real clock)."""
        wall_now = datetime.now(timezone.utc)
        return wall_now + max(moment - self._utcnow(), timedelta(0))

    def _on_change(self, change: Change) -> None:
        if change.timers_changed and self._waking != threading.get_ident():  # a wake reschedules once, at its end
            self.schedule_next()
        if change.new_task_ids and self.notifier is not None:
            self.schedule_next_deadline()

    # --- timers ----------------------------------------------------------------------------------------------------

    def wake(self) -> int:
        """Fire everything due now, oldest first; then wait for the next due time. Returns how many instances ran."""
        ran = 0
        with self._lock:
            self._waking = threading.get_ident()
            try:
                ran = self._fire_due()
            finally:
                self._waking = None
            self.fired_count += ran
        self.schedule_next()
        return ran

    def _fire_due(self) -> int:
        ran = 0
        while True:
            now = self._utcnow()
            due = self.runtime.due_timers(now, self.batch)
            if not due:
                break
            seen, progressed = set(), False
            for _timer_id, instance_id, _due_at in due:
                if instance_id in seen:
                    continue
                seen.add(instance_id)
                try:
                    with context.bound(request_id=context.new_request_id()):  # its lines and deliveries, together
                        outcome = self.runtime.fire_instance_timers(instance_id, now)
                except Exception:  # recorded on the timer by the runtime; keep going with the others
                    log.exception("timer of instance %s failed", instance_id)
                    continue
                if outcome:
                    progressed = True
                    ran += "error" not in outcome
            if not progressed:  # all taken by other schedulers (or stuck): the date job looks again later
                break
            if len(due) < self.batch and not self._next_is_imminent():
                break
        return ran

    def _next_is_imminent(self) -> bool:
        """In a burst (timers a moment apart) wait here for the next one instead of going through a new job."""
        if self.runtime.clock.frozen:
            return False
        due = self.next_due()
        if due is None:
            return False
        wait = (due - self._utcnow()).total_seconds()
        if wait > BURST_SECONDS:
            return False
        if wait > 0:
            time.sleep(wait)
        return True

    def sweep(self) -> None:
        """The safety net: timers other processes created, effects left in the outbox (a process that died after
        its commit, or one waiting for its next attempt), e-mails not yet sent, tasks not yet announced."""
        self.wake()
        if self.effects is not None:
            try:
                self.effects.deliver_due(self._utcnow())
            except Exception:
                log.exception("outbox sweep failed")
        if self.notifier is not None:
            try:
                self.notifier.announce_tasks()
                self.notifier.send_pending()
            except Exception:
                log.exception("notification sweep failed")

    def next_due(self) -> datetime | None:
        with self.runtime.db.read() as session:
            return session.scalar(select(func.min(func.coalesce(Timer.next_attempt_at, Timer.due_at),
                                                  type_=UtcDateTime()))
                                  .where(Timer.status == "waiting"))

    def schedule_next(self) -> None:
        """Point the date job at the earliest waiting timer (or retry)."""
        if not self._scheduler.running:
            return
        due = self.next_due()
        if due is None:
            self._remove(NEXT_JOB)
            return
        if due <= self._utcnow():  # still due right after a wake: another process has it, or it is stuck
            run_at = datetime.now(timezone.utc) + STILL_DUE_RETRY
        else:
            run_at = self._wall(due) + timedelta(milliseconds=1)
        self._scheduler.add_job(self.wake, "date", run_date=run_at, id=NEXT_JOB, replace_existing=True)

    # --- deadlines and notifications -----------------------------------------------------------------------------

    def check_deadlines(self) -> dict[str, int]:
        """Send the reminders and overdue notices that have fallen due (each once), then wait for the next one."""
        if self.notifier is None:
            return {}
        with self._deadline_lock:
            try:
                counts = self.notifier.check_deadlines(self._utcnow())
                self.notifier.send_pending()
            except Exception:
                log.exception("deadline check failed")
                counts = {}
        self.schedule_next_deadline()
        return counts

    def schedule_next_deadline(self) -> None:
        if not self._scheduler.running or self.notifier is None:
            return
        moment = self.notifier.next_deadline(self._utcnow())
        if moment is None:
            self._remove(NEXT_DEADLINE_JOB)
            return
        self._scheduler.add_job(self.check_deadlines, "date", run_date=self._wall(moment) + timedelta(seconds=1),
                                id=NEXT_DEADLINE_JOB, executor="deadlines", replace_existing=True)

    def send_digests(self) -> int:
        if self.notifier is None:
            return 0
        try:
            return self.notifier.send_digests(self._utcnow())
        except Exception:
            log.exception("daily digest failed")
            return 0

    def anchor_audit(self) -> dict | None:
        """Anchor the audit chains' heads (daily)."""
        try:
            return AuditTrail(self.runtime.db, self.runtime.clock).anchor()
        except Exception:
            log.exception("audit anchor failed")
            return None

    # --- overdue actions ------------------------------------------------------------------------------------------

    def _settings(self, session) -> dict:
        """The settings.yaml deployed with the meeting process (empty, so defaults, before anything is deployed)."""
        try:
            version = self.runtime.repository.latest(session, SETTINGS_PROCESS)
            return dict(self.runtime.repository.compiled(session, version.id).settings or {})
        except NotFound:  # nothing deployed yet
            return {}

    def reminder_time(self) -> tuple[int, int]:
        """(hour, minute), Europe/London: the constructor's `reminders_at`, else the deployed `action_reminder_time`,
        else 08:00."""
        text = self.reminders_at
        if text is None:
            with self.runtime.db.read() as session:
                text = str(self._settings(session).get("action_reminder_time") or REMINDER_TIME)
        try:
            hour, minute = (int(part) for part in str(text).split(":")[:2])
            if not (0 <= hour < 24 and 0 <= minute < 60):
                raise ValueError
        except ValueError:
            log.error("action reminder time %r is not HH:MM; using %s", text, REMINDER_TIME)
            hour, minute = (int(part) for part in REMINDER_TIME.split(":"))
        return hour, minute

    def send_action_reminders(self) -> list[dict]:
        """On a working day, remind the owners of overdue actions and put them on their group's next agenda (each
        action once a day, across every scheduler); then send the e-mails. Returns what this process reminded."""
        now = self._utcnow()
        today = now.astimezone(ENGLAND_AND_WALES.tz).date()
        if not ENGLAND_AND_WALES.is_working_day(today):
            return []
        with self._deadline_lock:
            self.plan_meetings_ahead(now, today)
            try:
                with self.runtime.db.write() as session:
                    done = remind_overdue_actions(session, now, today, self._settings(session))
            except Exception:
                log.exception("overdue action reminders failed")
                return []
            if self.notifier is not None and done:
                try:
                    self.notifier.send_pending()
                except Exception:
                    log.exception("sending the action reminders failed")
        return done

    def plan_meetings_ahead(self, now: datetime, today) -> int:
        """Plan every group's usual meetings `meetings_planned_ahead_days` ahead (those planned already are kept; a
        second scheduler doing the same at the same moment loses its transaction, harmlessly). Returns how many."""
        try:
            with self.runtime.db.write() as session:
                settings = self._settings(session)
                days = int(settings.get("meetings_planned_ahead_days") or PLANNED_AHEAD_DAYS)
                return len(generate_usual_meetings(session, today, today + timedelta(days=days), "system", now,
                                                   settings))
        except Exception:
            log.exception("planning the usual meetings ahead failed")
            return 0

    def _remove(self, job_id: str) -> None:
        try:
            self._scheduler.remove_job(job_id)
        except JobLookupError:
            pass
