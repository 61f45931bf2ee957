"""/metrics: only with the configured bearer token; request latency and SQL statements by route, command durations
by kind, and the database's figures (outbox, timer lag, incidents, open and overdue tasks by group, schedulers)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.store.models import HumanTask
from tests.scenarios.change_control_driver import RAISE

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def scrape(client, monkeypatch):
    monkeypatch.setenv("GOVFLOW_METRICS_TOKEN", TOKEN)

    def _scrape() -> dict:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(response.data.decode()) for s in family.samples}
    return _scrape


def _value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _by(samples: dict, name: str, label: str) -> dict:
    return {dict(key[1])[label]: value for key, value in samples.items() if key[0] == name}


def test_metrics_does_not_exist_without_a_token_setting(client, monkeypatch):
    monkeypatch.delenv("GOVFLOW_METRICS_TOKEN", raising=False)
    assert client.get("/metrics").status_code == 404


def test_metrics_refuses_a_wrong_or_missing_token(client, monkeypatch):
    monkeypatch.setenv("GOVFLOW_METRICS_TOKEN", TOKEN)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_request_latency_and_sql_statements_by_route(client, scrape):
    before = scrape()
    client.get("/sign-in")
    client.get("/readyz")
    client.get("/no/such/page")
    after = scrape()
    for route in ("/sign-in", "/readyz"):
        assert _value(after, "govflow_request_seconds_count", route=route, method="GET") == \
            _value(before, "govflow_request_seconds_count", route=route, method="GET") + 1
    assert _value(after, "govflow_request_seconds_count", route="(no route)", method="GET") >= 1  # no path labels
    statements = (_value(after, "govflow_sql_statements_per_request_sum", route="/readyz")
                  - _value(before, "govflow_sql_statements_per_request_sum", route="/readyz"))
    assert statements >= 4  # SELECT 1, the schema's revision, the heartbeats, the outbox


def test_command_durations_by_kind_and_tasks_by_group(gov, scrape, clock):
    before = scrape()
    instance_id = gov.start("change_control", "alice", RAISE).instance_id
    after = scrape()
    assert _value(after, "govflow_command_seconds_count", kind="instance.started") == \
        _value(before, "govflow_command_seconds_count", kind="instance.started") + 1
    with gov.db.read() as session:
        task = session.query(HumanTask).filter_by(instance_id=instance_id, status="ready").one()
    group = task.group_id or task.role_id
    assert _by(after, "govflow_tasks_open", "group")[group] == 1
    assert _by(after, "govflow_tasks_overdue", "group").get(group, 0) == 0
    with gov.db.write() as session:  # the first task has no deadline: give it one that has passed
        session.get(HumanTask, task.id).due_at = clock.now() - timedelta(hours=1)
    later = scrape()
    assert _by(later, "govflow_tasks_overdue", "group")[group] == 1
    assert _value(later, "govflow_schedulers", state="running") == 0
    assert ("govflow_timer_lag_seconds", ()) in later and ("govflow_outbox_depth", ()) in later
