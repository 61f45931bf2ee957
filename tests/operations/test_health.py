"""/healthz and /readyz over a real database: what makes govflow not ready, and a missing scheduler reported."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from engine.delivery import outbox


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def test_healthz_answers_without_a_login_or_the_database(client, gov):
    gov.db.dispose()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_not_ready_until_a_scheduler_beats_then_ready_and_clean_stop_forgets_it(client, gov):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "no scheduler" in _check(response.json, "scheduler")["detail"]
    assert _check(response.json, "migrations")["ok"] and _check(response.json, "database")["ok"]

    scheduler = gov.scheduler(heartbeat_seconds=0.2)
    scheduler.start()
    try:
        response = client.get("/readyz")
        assert response.status_code == 200, response.json
        assert _check(response.json, "scheduler")["running"] == [scheduler.name]
    finally:
        scheduler.shutdown()
    assert gov.health.schedulers() == []  # a clean stop is not a missing scheduler


def test_a_scheduler_that_stopped_beating_is_reported_missing(client, gov):
    started = datetime.now(timezone.utc)
    gov.health.beat("host-a:1", 0.05, started)
    gov.health.beat("host-b:2", 30, started)
    time.sleep(0.3)  # three of host-a's intervals and more
    response = client.get("/readyz")
    assert response.status_code == 200  # one scheduler is still enough
    scheduler = _check(response.json, "scheduler")
    assert scheduler["running"] == ["host-b:2"] and scheduler["missing"] == ["host-a:1"]
    assert "1 missing: host-a:1" in scheduler["detail"]


def test_a_stuck_outbox_makes_it_not_ready(client, gov, clock):
    gov.health.beat("host:1", 30, datetime.now(timezone.utc))
    with gov.db.write() as session:
        outbox.enqueue(session, clock.now() - timedelta(minutes=20), "announce_tasks", {"task_ids": []})
    response = client.get("/readyz")
    assert response.status_code == 503
    check = _check(response.json, "outbox")
    assert not check["ok"] and check["depth"] == 1 and "stuck" in check["detail"]


def test_migrations_behind_are_not_ready(empty_database_url, tmp_path, clock):
    from tests.conftest import make_govflow
    from web.app import create_app
    gov = make_govflow(empty_database_url, tmp_path, clock)
    try:
        response = create_app(gov, TESTING=True, SECRET_KEY="k").test_client().get("/readyz")
    finally:
        gov.db.dispose()
    assert response.status_code == 503
    migrations = _check(response.json, "migrations")
    assert not migrations["ok"] and "govflow init" in migrations["detail"]
