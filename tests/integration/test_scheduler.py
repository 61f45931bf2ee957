"""The timer scheduler: on time, exactly once (also with three scheduler processes), catching up after downtime
oldest first, retrying a failing step with backoff and then raising an incident an admin can retry."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.commands import govflow as govflow_cli
from engine.clock import Clock
from engine.errors import Conflict, Forbidden
from engine.store.models import AuditEvent, Instance, Timer
from engine.services.scheduler import NEXT_JOB

from ..conftest import FIXTURES, T0, make_govflow

UTC = timezone.utc
WORKS = "2000-01-01"  # the tick's script works from this date on (a later date makes it fail until then)


@pytest.fixture
def tgov(gov):
    gov.deploy([FIXTURES / "timing"], forms_dir=FIXTURES / "timing_forms", note="timing fixtures")
    return gov


def start_tick(gov, fire_at: datetime, works_from: str = WORKS, username: str = "alice") -> int:
    return gov.start("tick", username, {"fire_at": fire_at.isoformat(), "works_from": works_from}).instance_id


def fired_order(gov) -> list[int]:
    with gov.db.read() as session:
        return list(session.scalars(select(AuditEvent.instance_id).where(AuditEvent.action == "timer.fired")
                                    .order_by(AuditEvent.id)))


def wait_for(condition, timeout: float = 15.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out waiting")


def timer_statuses(gov) -> dict[str, int]:
    with gov.db.read() as session:
        return dict(session.execute(select(Timer.status, func.count()).group_by(Timer.status)).all())


def test_timers_due_while_down_fire_at_the_next_start_oldest_first(tgov, clock):
    dues = [T0 + timedelta(hours=h) for h in (5, 1, 4, 2, 3)]  # created out of order
    ids = [start_tick(tgov, due) for due in dues]
    assert timer_statuses(tgov) == {"waiting": 5}
    clock.set(T0 + timedelta(days=2))  # everything was down past every due time
    scheduler = tgov.scheduler(sweep_seconds=3600)
    scheduler.start()
    try:
        wait_for(lambda: timer_statuses(tgov) == {"fired": 5})
    finally:
        scheduler.shutdown()
    by_due = [i for _, i in sorted(zip(dues, ids))]
    assert fired_order(tgov) == by_due
    with tgov.db.read() as session:
        assert set(session.scalars(select(Instance.state).where(Instance.id.in_(ids)))) == {"ticked"}
    assert scheduler.fired_count == 5


def test_start_rebuilds_the_next_due_job_from_the_timer_table(tgov, clock):
    start_tick(tgov, T0 + timedelta(days=3))
    start_tick(tgov, T0 + timedelta(hours=2))
    scheduler = tgov.scheduler(sweep_seconds=3600)
    scheduler.start()
    try:
        wait_for(lambda: scheduler._scheduler.get_job(NEXT_JOB) is not None
                 and scheduler._scheduler.get_job(NEXT_JOB).next_run_time.astimezone(UTC)
                 > datetime.now(UTC) + timedelta(minutes=30))
        run_at = scheduler._scheduler.get_job(NEXT_JOB).next_run_time.astimezone(UTC)
        assert abs(run_at - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(seconds=5)
        start_tick(tgov, T0 + timedelta(minutes=10))  # a new, earlier timer moves the job (listener)
        run_at = scheduler._scheduler.get_job(NEXT_JOB).next_run_time.astimezone(UTC)
        assert abs(run_at - (datetime.now(UTC) + timedelta(minutes=10))) < timedelta(seconds=5)
    finally:
        scheduler.shutdown()


def test_a_timer_fires_on_time_on_the_real_clock(database_url, tmp_path, tgov):
    live = make_govflow(database_url, tmp_path, Clock())  # same database, wall clock
    scheduler = live.scheduler(sweep_seconds=3600)
    scheduler.start()
    try:
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        instance_id = start_tick(live, due)
        wait_for(lambda: timer_statuses(live).get("fired") == 1, timeout=10)
        with live.db.read() as session:
            fired_at = session.scalar(select(AuditEvent.at).where(AuditEvent.instance_id == instance_id,
                                                                  AuditEvent.action == "timer.fired"))
        assert timedelta(0) <= fired_at - due < timedelta(seconds=1)
    finally:
        scheduler.shutdown()
        live.db.dispose()


def test_a_failing_step_is_retried_with_backoff_then_becomes_an_incident_and_can_be_retried(tgov, clock):
    due = T0 + timedelta(hours=1)
    instance_id = start_tick(tgov, due, works_from="2026-12-03")  # the step fails before 3 December
    scheduler = tgov.scheduler()  # not started: wake() is the job's body
    clock.set(due)
    expected_backoff = [30, 60, 120, 240]
    for attempt, backoff in enumerate(expected_backoff, start=1):
        assert scheduler.wake() == 0
        with tgov.db.read() as session:
            timer = session.scalars(select(Timer).where(Timer.instance_id == instance_id)).one()
        assert (timer.status, timer.attempts) == ("waiting", attempt)
        assert "ZeroDivisionError" in timer.last_error or "division by zero" in timer.last_error
        assert timer.next_attempt_at == clock.now() + timedelta(seconds=backoff)
        assert tgov.runtime.due_timers(clock.now() + timedelta(seconds=backoff - 1)) == []  # backing off
        assert scheduler.next_due() == timer.next_attempt_at
        clock.set(timer.next_attempt_at)
    assert scheduler.wake() == 0
    incidents = tgov.incidents()
    assert [(i["kind"], i["instance_id"], i["details"]["attempts"]) for i in incidents] == [
        ("timer_failed", instance_id, 5)]
    assert "division by zero" in incidents[0]["message"]
    timer_id = incidents[0]["details"]["timer_id"]
    assert [t["id"] for t in tgov.timers("failed")] == [timer_id]
    assert scheduler.next_due() is None and tgov.runtime.due_timers(clock.now() + timedelta(days=9)) == []
    actions = [e["action"] for e in tgov.show(instance_id)["history"]]
    assert actions.count("timer.retrying") == 4 and actions.count("timer.failed") == 1
    assert tgov.show(instance_id)["state"] != "ticked"

    with pytest.raises(Forbidden):
        tgov.retry_timer(timer_id, "alice", "I think it works now")
    clock.set(datetime(2026, 12, 3, 9, tzinfo=UTC))  # the cause is gone
    tgov.retry_timer(timer_id, "admin", "The works_from date has passed")
    with pytest.raises(Conflict):
        tgov.retry_timer(timer_id, "admin", "again")  # no longer failed
    assert tgov.incidents() == []
    closed = tgov.incidents(include_closed=True)
    assert [(i["resolved_by"], i["resolution"]) for i in closed] == [("admin", "The works_from date has passed")]
    assert scheduler.wake() == 1
    record = tgov.show(instance_id)
    assert record["status"] == "completed" and record["state"] == "ticked"
    assert [e["action"] for e in record["history"]].count("timer.retried") == 1


def test_cli_lists_incidents_and_retries_them(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(govflow_cli, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("init", "--demo", "--at", "2026-12-01T09:00")
    run("deploy", FIXTURES / "timing", "--forms", FIXTURES / "timing_forms", "--at", "2026-12-01T09:00")
    run("start", "tick", "--as", "alice", "--data",
        json.dumps({"fire_at": "2026-12-01T10:00:00+00:00", "works_from": "2026-12-05"}), "--at", "2026-12-01T09:00")
    assert "Wait for fire_at" in run("timers", "list")
    for minutes in (0, 1, 2, 4, 8):  # five attempts, each after the backoff
        run("timers", "run-due", "--at", f"2026-12-01T{10 + minutes // 60:02d}:{minutes % 60:02d}:00+00:00")
    incidents = json.loads(run("incidents", "--json"))
    assert len(incidents) == 1 and incidents[0]["details"]["attempts"] == 5
    assert "division by zero" in run("incidents")
    assert "is waiting again" in run("timers", "retry", incidents[0]["details"]["timer_id"], "--as", "admin",
                                     "--reason", "works_from has passed")
    assert run("incidents") == "No incidents.\n"
    out = run("timers", "run-due", "--at", "2026-12-05T09:00")
    assert "state 'ticked'" in out


WORKER = textwrap.dedent("""
    import json, os, sys, time
    from datetime import datetime
    from engine.clock import Clock
    from engine.config import Config
    from engine.platform import Govflow
    from engine.services.scheduler import TimerScheduler

    url, at, go_file = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    gov = Govflow(Config(database_url=url, instance_dir=os.path.dirname(go_file)), Clock(at))
    scheduler = gov.scheduler()
    print("ready", flush=True)
    while not os.path.exists(go_file):
        time.sleep(0.01)
    ran, idle = 0, 0
    while idle < 3:  # stop once three wake-ups in a row found nothing
        n = scheduler.wake()
        ran += n
        idle = idle + 1 if n == 0 and not gov.runtime.due_timers(at) else 0
    print(json.dumps({"ran": ran}), flush=True)
""")


def test_three_scheduler_processes_fire_each_timer_exactly_once(tgov, clock, database_url, tmp_path):
    count = 240
    dues = [T0 + timedelta(minutes=1 + (i * 7919) % count) for i in range(count)]  # shuffled due times
    for due in dues:
        start_tick(tgov, due)
    assert timer_statuses(tgov) == {"waiting": count}
    at = T0 + timedelta(days=1)
    go_file = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, database_url, at.isoformat(), str(go_file)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for _ in range(3)]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready"
        go_file.write_text("go")
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1])["ran"])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
    assert sum(results) == count, results
    assert timer_statuses(tgov) == {"fired": count}
    with tgov.db.read() as session:
        per_timer = session.execute(select(AuditEvent.task_id, func.count()).where(AuditEvent.action == "timer.fired")
                                    .group_by(AuditEvent.task_id)).all()
        states = session.execute(select(Instance.state, func.count()).where(Instance.process_id == "tick")
                                 .group_by(Instance.state)).all()
    assert len(per_timer) == count and {n for _, n in per_timer} == {1}
    assert dict(states) == {"ticked": count}
    print(f"\nper-process instances fired: {results}")
