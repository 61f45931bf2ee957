"""JSON log lines: the request id from the web request reaches the engine's command and the after-commit delivery
on the worker thread; the person, instance and task are on the lines; secrets are masked."""
from __future__ import annotations

import io
import json
import logging

import pytest

from engine.observability import context, logs
from engine.store.models import HumanTask
from tests.conftest import TEST_PASSWORD
from tests.scenarios.change_control_driver import RAISE
from tests.web.conftest import csrf_of, sign_in


@pytest.fixture
def lines():
    """Every log record from here on, as the parsed JSON lines a deployment writes."""
    stream = io.StringIO()
    levels = {name: logging.getLogger(name).level for name in ["", *logs.QUIET]}
    handler = logs.configure("INFO", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logging.getLogger().removeHandler(handler)
    for name, level in levels.items():  # the rest of the suite logs as it did
        logging.getLogger(name).setLevel(level)


def test_a_request_id_reaches_the_command_and_the_person_and_task_are_logged(client, gov, lines):
    instance_id = gov.start("change_control", "alice", RAISE).instance_id
    gov.effects.wait_idle()
    with gov.db.read() as session:
        task_id = session.query(HumanTask).filter_by(instance_id=instance_id, status="ready").one().id
    sign_in(client, "carol", TEST_PASSWORD)
    token = csrf_of(client.get(f"/tasks/{task_id}").data)
    response = client.post(f"/tasks/{task_id}/claim", data={"csrf_token": token},
                           headers={"X-Request-Id": "req-0123456789"})
    assert response.headers["X-Request-Id"] == "req-0123456789"
    claimed = [line for line in lines() if line.get("command") == "task.claimed"]
    assert len(claimed) == 1, lines()
    line = claimed[0]
    assert line["request_id"] == "req-0123456789" and line["user"] == "carol" and line["task_id"] == task_id
    assert line["instance_id"] == instance_id and line["level"] == "INFO" and line["outcome"] == "committed"
    assert {"time", "logger", "message", "duration_ms"} <= set(line)


def test_an_unusable_request_id_is_replaced_by_a_fresh_one(client):
    response = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert response.headers["X-Request-Id"] != "<script>" and len(response.headers["X-Request-Id"]) == 32


def test_after_commit_deliveries_on_the_worker_carry_the_commands_request_id(gov, lines):
    assert gov.effects.background  # announcements are delivered on the effects worker thread
    with context.bound(request_id="req-deliveries-1"):
        instance_id = gov.start("change_control", "alice", RAISE).instance_id
    gov.effects.wait_idle()
    delivered = [line for line in lines() if line["logger"] == "engine.services.effects"]
    assert delivered, lines()
    assert all(line["request_id"] == "req-deliveries-1" and line["instance_id"] == instance_id
               for line in delivered)


def test_the_scheduler_sweep_logs_an_effect_with_the_request_that_wrote_it(gov, lines):
    gov.effects.inline = False  # every effect left to the scheduler's sweep
    with context.bound(request_id="req-swept-0001"):
        gov.start("change_control", "alice", RAISE)
    assert gov.deliver_effects() >= 1
    delivered = [line for line in lines() if line["logger"] == "engine.services.effects"]
    assert delivered and all(line["request_id"] == "req-swept-0001" for line in delivered)


def test_passwords_tokens_and_database_urls_are_masked(lines):
    log = logging.getLogger("govflow.test")
    log.info("connecting to postgresql+psycopg://govflow:hunter2@db/govflow")
    log.info("retrying with password=hunter2 and token: abc.def")
    log.info("signed in", extra={"password": "hunter2", "api_token": "abc", "url": "smtp://u:hunter2@mail"})
    text = json.dumps(lines())
    assert "hunter2" not in text and "abc.def" not in text
    first, second, third = lines()
    assert first["message"] == "connecting to postgresql+psycopg://govflow:***@db/govflow"
    assert third["password"] == "***" and third["api_token"] == "***" and third["url"] == "smtp://u:***@mail"


def test_mask_url_leaves_urls_without_a_password_alone():
    assert logs.mask_url("sqlite:////var/lib/govflow/govflow.db") == "sqlite:////var/lib/govflow/govflow.db"
    assert logs.mask_url("postgresql+psycopg://govflow@db/govflow") == "postgresql+psycopg://govflow@db/govflow"
    assert logs.mask_url("postgresql://u:p%40ss@h:5432/d") == "postgresql://u:***@h:5432/d"
