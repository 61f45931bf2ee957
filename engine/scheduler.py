"""APScheduler drives the BPMN timers: the timer table is the truth, the jobs are derived from it.

One `date` job waits for the earliest due timer; a periodic sweep catches timers created by other processes and
anything missed. Each wake-up fires every due timer, oldest first, each instance in its own transaction that
claims its timers atomically — so several scheduler processes on one PostgreSQL fire each timer exactly once.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import func, select

from .models import Timer, UtcDateTime
from .runtime import Change, Runtime

log = logging.getLogger(__name__)

NEXT_JOB = "govflow-next-timer"
SWEEP_JOB = "govflow-sweep"


class TimerScheduler:
    """Fires due timers on time. `start()` rebuilds its jobs from the timer table (timers that fell due while
    everything was down fire at once, oldest first)."""

    def __init__(self, runtime: Runtime, sweep_seconds: float = 15.0, batch: int = 500):
        self.runtime = runtime
        self.sweep_seconds = sweep_seconds
        self.batch = batch
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone="UTC",
        )
        self.fired_count = 0

    def start(self) -> None:
        self.runtime.listeners.append(self._on_change)
        self._scheduler.start()
        self._scheduler.add_job(self.wake, "interval", seconds=self.sweep_seconds, id=SWEEP_JOB,
                                replace_existing=True)
        self._scheduler.add_job(self.wake, "date", run_date=self._utcnow(), id=NEXT_JOB, replace_existing=True)

    def shutdown(self) -> None:
        if self._on_change in self.runtime.listeners:
            self.runtime.listeners.remove(self._on_change)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def _utcnow(self) -> datetime:
        return self.runtime.clock.now()

    def _on_change(self, change: Change) -> None:
        if change.timers_changed:
            self.schedule_next()

    def wake(self) -> int:
        """Fire everything due now; then wait for the next due time. Returns how many instances ran."""
        ran = 0
        with self._lock:
            while True:
                now = self._utcnow()
                due = self.runtime.due_timers(now, self.batch)
                if not due:
                    break
                seen = set()
                for _timer_id, instance_id, _due_at in due:
                    if instance_id in seen:
                        continue
                    seen.add(instance_id)
                    try:
                        if self.runtime.fire_instance_timers(instance_id, now):
                            ran += 1
                    except Exception:  # recorded on the timer by the runtime; keep going with the others
                        log.exception("timer of instance %s failed", instance_id)
                if len(due) < self.batch:
                    break
            self.fired_count += ran
        self.schedule_next()
        return ran

    def next_due(self) -> datetime | None:
        with self.runtime.db.read() as session:
            return session.scalar(select(func.min(func.coalesce(Timer.next_attempt_at, Timer.due_at), type_=UtcDateTime()))
                                  .where(Timer.status == "waiting"))

    def schedule_next(self) -> None:
        """Point the date job at the earliest waiting timer (or retry)."""
        if not self._scheduler.running:
            return
        due = self.next_due()
        if due is None:
            job = self._scheduler.get_job(NEXT_JOB)
            if job is not None:
                job.remove()
            return
        run_at = max(due, self._utcnow()) + timedelta(milliseconds=1)
        self._scheduler.add_job(self.wake, "date", run_date=run_at, id=NEXT_JOB, replace_existing=True)
