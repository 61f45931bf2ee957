"""Is this deployment healthy? The checks behind /readyz and `govflow doctor`, the scheduler heartbeats they read,
and the figures /metrics reads from the database at scrape time.

Heartbeats are on the wall clock (a frozen engine clock must not make a live scheduler look dead); a beat is fresh
for three of its scheduler's intervals. A scheduler that stops cleanly forgets its row; a killed one's row stays,
reported as missing, until an hour without a beat, when the next beat of any scheduler prunes it.
"""
from __future__ import annotations

import os
import smtplib
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select, text

from engine.clock import Clock
from engine.config import Config
from engine.delivery import outbox
from engine.delivery.mailer import Mailer
from engine.store import schema
from engine.store.db import Database
from engine.store.models import HumanTask, Incident, SchedulerHeartbeat, Timer

FRESH_BEATS = 3  # a beat is fresh for this many of its scheduler's intervals
FORGET_AFTER = timedelta(hours=1)
OUTBOX_STUCK_AFTER = timedelta(minutes=15)  # longer than every retry's backoff together (7.5 minutes)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    data: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, **self.data}


def _wall() -> datetime:
    return datetime.now(timezone.utc)


class Health:
    """Readiness checks, scheduler heartbeats and the database's figures for /metrics."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    # --- heartbeats ------------------------------------------------------------------------------------------------

    @staticmethod
    def process_name() -> str:
        return f"{socket.gethostname()}:{os.getpid()}"

    def beat(self, name: str, every_seconds: float, started_at: datetime) -> None:
        """Record that the scheduler `name` is alive (and prune schedulers silent for an hour)."""
        now = _wall()
        with self.db.write() as session:
            row = session.get(SchedulerHeartbeat, name)
            if row is None:
                host, _, pid = name.rpartition(":")
                session.add(SchedulerHeartbeat(name=name, host=host, pid=int(pid or 0), every_seconds=every_seconds,
                                               started_at=started_at, beat_at=now))
            else:
                row.beat_at, row.every_seconds = now, every_seconds
            session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.beat_at < now - FORGET_AFTER))

    def forget(self, name: str) -> None:
        """A scheduler stopping cleanly: no longer expected."""
        with self.db.write() as session:
            session.execute(delete(SchedulerHeartbeat).where(SchedulerHeartbeat.name == name))

    def schedulers(self) -> list[dict]:
        now = _wall()
        with self.db.read() as session:
            rows = session.scalars(select(SchedulerHeartbeat).order_by(SchedulerHeartbeat.name)).all()
        return [{"name": r.name, "host": r.host, "pid": r.pid, "started_at": r.started_at.isoformat(),
                 "beat_at": r.beat_at.isoformat(), "seconds_since_beat": round((now - r.beat_at).total_seconds(), 1),
                 "fresh": now - r.beat_at <= timedelta(seconds=FRESH_BEATS * r.every_seconds)} for r in rows]

    # --- checks ------------------------------------------------------------------------------------------------

    def check_config(self, config: Config) -> Check:
        """The folders govflow reads its rules from, and the settings a deployment must not leave out."""
        problems = []
        if not (config.processes_dir / "roles.yaml").is_file():
            problems.append(f"no roles.yaml in the processes folder {config.processes_dir} (GOVFLOW_PROCESSES_DIR)")
        if not config.forms_dir.is_dir():
            problems.append(f"no forms folder at {config.forms_dir} (GOVFLOW_FORMS_DIR)")
        if not os.environ.get("GOVFLOW_SECRET_KEY") and not (config.instance_dir / "secret_key").is_file():
            problems.append("GOVFLOW_SECRET_KEY is not set and no secret_key was made in the instance folder yet")
        data = {"processes_dir": str(config.processes_dir), "forms_dir": str(config.forms_dir),
                "instance_dir": str(config.instance_dir)}
        return Check("config", not problems, "; ".join(problems) or "folders found, secret key set", data)

    def check_smtp(self, mailer: Mailer) -> Check:
        """Connect to the SMTP server and greet it (STARTTLS when configured); no message is sent."""
        if not mailer.enabled:
            return Check("smtp", True, "e-mail is off (GOVFLOW_SMTP_HOST is not set)")
        where = f"{mailer.host}:{mailer.port}"
        try:
            with smtplib.SMTP(mailer.host, mailer.port, timeout=5) as smtp:
                code, _ = smtp.ehlo()
                if mailer.starttls:
                    smtp.starttls()
                    code, _ = smtp.ehlo()
        except (OSError, smtplib.SMTPException) as err:
            return Check("smtp", False, f"{where} unreachable: {type(err).__name__}: {err}")
        return Check("smtp", code == 250, f"{where} answered {code}" + (" after STARTTLS" if mailer.starttls else ""))

    def check_database(self) -> Check:
        try:
            with self.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as err:
            return Check("database", False, f"unreachable: {type(err).__name__}")
        return Check("database", True, "reachable")

    def check_migrations(self) -> Check:
        try:
            current, head = schema.revisions(self.db)
        except Exception as err:
            return Check("migrations", False, f"cannot read the schema's revision: {type(err).__name__}")
        if current != head:
            return Check("migrations", False, f"the database is at {current or 'nothing'}, the code needs {head}: "
                                              "run `govflow init`", {"current": current, "head": head})
        return Check("migrations", True, f"current ({head})", {"current": current, "head": head})

    def check_schedulers(self) -> Check:
        try:
            schedulers = self.schedulers()
        except Exception as err:
            return Check("scheduler", False, f"cannot read the heartbeats: {type(err).__name__}")
        fresh = [s["name"] for s in schedulers if s["fresh"]]
        missing = [s["name"] for s in schedulers if not s["fresh"]]
        detail = f"{len(fresh)} running" + (f", {len(missing)} missing: {', '.join(missing)}" if missing else "")
        if not fresh:
            detail = "no scheduler has beaten recently: timers and e-mails are not running" + (
                f" (missing: {', '.join(missing)})" if missing else "")
        return Check("scheduler", bool(fresh), detail, {"running": fresh, "missing": missing})

    def check_outbox(self) -> Check:
        try:
            with self.db.read() as session:
                depth, oldest = outbox.depth(session)
        except Exception as err:
            return Check("outbox", False, f"cannot read the outbox: {type(err).__name__}")
        age = (self.clock.now() - oldest).total_seconds() if oldest else 0.0
        data = {"depth": depth, "oldest_seconds": round(age, 1)}
        if oldest and age > OUTBOX_STUCK_AFTER.total_seconds():
            return Check("outbox", False, f"stuck: {depth} pending, the oldest for {age:.0f} s", data)
        return Check("outbox", True, f"{depth} pending", data)

    def readiness(self) -> dict:
        """Every check; `ready` when all pass. The later checks need the database, so they wait for it."""
        database = self.check_database()
        checks = [database]
        if database.ok:
            checks += [self.check_migrations(), self.check_schedulers(), self.check_outbox()]
        return {"ready": all(c.ok for c in checks), "checks": [c.as_dict() for c in checks]}

    # --- figures for /metrics --------------------------------------------------------------------------------------

    def figures(self) -> dict:
        """What /metrics reads from the database: outbox depth and age, timer lag, open incidents by kind, open and
        overdue tasks by group (a task without a group counts under its role)."""
        now = self.clock.now()
        with self.db.read() as session:
            depth, oldest = outbox.depth(session)
            oldest_due = session.scalar(select(func.min(Timer.due_at)).where(Timer.status == "waiting",
                                                                             Timer.due_at <= now))
            incidents = dict(session.execute(select(Incident.kind, func.count()).where(
                Incident.resolved_at.is_(None)).group_by(Incident.kind)).all())
            group = func.coalesce(HumanTask.group_id, HumanTask.role_id, "")
            open_tasks = dict(session.execute(select(group, func.count()).where(
                HumanTask.status == "ready").group_by(group)).all())
            overdue = dict(session.execute(select(group, func.count()).where(
                HumanTask.status == "ready", HumanTask.due_at < now).group_by(group)).all())
        if oldest_due is not None and oldest_due.tzinfo is None:
            oldest_due = oldest_due.replace(tzinfo=timezone.utc)
        return {"outbox_depth": depth,
                "outbox_oldest_seconds": (now - oldest).total_seconds() if oldest else 0.0,
                "timer_lag_seconds": max((now - oldest_due).total_seconds(), 0.0) if oldest_due else 0.0,
                "incidents_open": incidents, "tasks_open": open_tasks, "tasks_overdue": overdue}
