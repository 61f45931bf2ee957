"""The transactional outbox: a follow-up start written by a diagram's `start_process` is a row in the command's own
transaction, delivered after the commit exactly once — retried with backoff when it fails, an incident after the
last try — and a process that dies between the commit and the delivery loses nothing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.errors import Conflict, Forbidden, ProcessError
from engine.store.models import Instance

from ..conftest import FIXTURES

FOLLOWUP = FIXTURES / "outbox"
TARGET = FIXTURES / "outbox_target"
FORMS = FIXTURES / "outbox_forms"


@pytest.fixture
def ogov(gov):
    gov.deploy([FOLLOWUP], forms_dir=FORMS, note="outbox fixtures")
    gov.effects.background = False
    return gov


def deploy_target(gov) -> None:
    gov.deploy([TARGET], forms_dir=FORMS, note="the follow-up's process")


def decide(gov, note: str = "go ahead") -> int:
    """alice starts a `followup`, bob decides it: the decision's command writes the follow-up start."""
    instance_id = gov.start("followup", "alice").instance_id
    task = next(t for t in gov.tasks("bob") if t.instance_id == instance_id)
    gov.complete(task.id, "bob", {"note": note})
    return instance_id


def targets(gov) -> list[dict]:
    with gov.db.read() as session:
        ids = session.scalars(select(Instance.id).where(Instance.process_id == "target").order_by(Instance.id)).all()
    return [gov.show(i) for i in ids]


def starts(gov) -> list[dict]:
    return [e for e in gov.effects_list() if e["kind"] == "start_process"]


def test_a_follow_up_start_is_delivered_once_as_the_decider_on_behalf_of_the_raiser(ogov):
    deploy_target(ogov)
    source = decide(ogov)
    [started] = targets(ogov)
    assert started["started_by"] == "alice" and started["data"]["started_on_behalf_by"] == "bob"
    assert started["data"]["note"] == "go ahead" and started["title"] == f"Follow-up of {source}"
    assert [t["element_id"] for t in started["tasks"]] == ["work"]
    [effect] = starts(ogov)
    assert (effect["status"], effect["attempts"], effect["instance_id"], effect["actor"]) == (
        "delivered", 1, source, "bob")
    assert ogov.deliver_effects() == 0 and len(targets(ogov)) == 1, "delivered once, never again"


def test_a_command_that_rolls_back_leaves_no_effect(ogov):
    deploy_target(ogov)
    with pytest.raises(ProcessError):
        decide(ogov, note="fail after starting")  # the script fails after calling start_process
    assert starts(ogov) == [] and targets(ogov) == []


def test_a_follow_up_that_fails_is_retried_with_backoff_then_starts(ogov, clock):
    source = decide(ogov)  # `target` is not deployed yet: the delivery fails
    assert ogov.show(source)["status"] == "completed", "the decision itself committed"
    [effect] = starts(ogov)
    assert (effect["status"], effect["attempts"]) == ("pending", 1)
    assert "target" in effect["last_error"] and targets(ogov) == []
    assert ogov.incidents() == []
    deploy_target(ogov)
    clock.advance(seconds=29)
    assert ogov.deliver_effects() == 0, "backing off for 30 seconds"
    clock.advance(seconds=1)
    assert ogov.deliver_effects() == 1
    [started] = targets(ogov)
    assert started["started_by"] == "alice" and started["status"] == "running"
    assert [(e["status"], e["attempts"]) for e in starts(ogov)] == [("delivered", 2)]


def test_after_the_last_try_an_incident_opens_and_an_admin_retry_delivers(ogov, clock):
    decide(ogov)
    for backoff in (30, 60, 120, 240):  # attempts 2..5
        clock.advance(seconds=backoff)
        assert ogov.deliver_effects() == 0
    [effect] = starts(ogov)
    assert (effect["status"], effect["attempts"]) == ("failed", 5)
    [incident] = ogov.incidents()
    assert incident["kind"] == "delivery_failed" and incident["details"]["effect_id"] == effect["id"]
    assert any(n["kind"] == "incident" for n in ogov.notifications("admin"))
    with pytest.raises(Forbidden):
        ogov.retry_effect(effect["id"], "alice", "please")
    deploy_target(ogov)
    ogov.retry_effect(effect["id"], "admin", "Deployed the follow-up process")
    assert ogov.incidents() == [] and len(targets(ogov)) == 1
    with pytest.raises(Conflict):
        ogov.retry_effect(effect["id"], "admin", "again")


def test_an_upheld_appeal_reopens_the_change_request_even_when_the_first_start_fails(gov, clock, monkeypatch):
    """The SRO's enactment starts the reopened CR through the outbox; a transient failure is retried."""
    from ..scenarios.test_appeal import reopen_after_upheld_appeal
    gov.effects.background = False
    real = gov.runtime.start_followup
    calls = []

    def failing_once(effect):
        calls.append(effect.id)
        if len(calls) == 1:
            raise ConnectionError("the database went away for a moment")
        return real(effect)

    monkeypatch.setattr(gov.runtime, "start_followup", failing_once)
    with pytest.raises(Exception):  # the helper looks for the reopened CR, which the failed start did not make
        reopen_after_upheld_appeal(gov, clock)
    [effect] = starts(gov)
    assert (effect["status"], effect["attempts"]) == ("pending", 1)
    clock.advance(seconds=30)
    assert gov.deliver_effects() == 1
    with gov.db.read() as session:
        reopened = session.scalars(select(Instance).where(Instance.reference == "CR001")
                                   .order_by(Instance.id)).all()
    assert len(reopened) == 2 and reopened[1].state == "impact assessment" and reopened[1].started_by == "alice"


def test_a_process_gone_after_the_commit_leaves_the_effect_for_exactly_one_of_two_deliverers(database_url,
                                                                                              tmp_path):
    """The decision runs in a process that delivers nothing itself (GOVFLOW_DELIVER_EFFECTS=scheduler: as if it
    had been killed right after its commit); then two processes drain the outbox at the same moment."""
    env = dict(os.environ, GOVFLOW_DATABASE_URL=database_url, GOVFLOW_INSTANCE_DIR=str(tmp_path / "instance"),
               GOVFLOW_DELIVER_EFFECTS="scheduler")

    def govflow(*args):
        done = subprocess.run([sys.executable, "-m", "cli.commands", *map(str, args)], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    govflow("init", "--demo")
    govflow("deploy", FOLLOWUP, TARGET, "--forms", FORMS)
    started = json.loads(govflow("start", "followup", "--as", "alice", "--json"))
    govflow("complete", started["new_task_ids"][0], "--as", "bob", "--data", '{"note": "go"}')
    pending = json.loads(govflow("outbox", "list", "--status", "pending", "--json"))
    assert "start_process" in [e["kind"] for e in pending], "nothing delivered by the process that committed"
    deliverers = [subprocess.Popen([sys.executable, "-m", "cli.commands", "outbox", "deliver", "--json"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in deliverers]
    assert all(p.returncode == 0 for p in deliverers), outputs
    effects = json.loads(govflow("outbox", "list", "--json"))
    assert [e["status"] for e in effects] == ["delivered"] * len(effects)
    assert [e["attempts"] for e in effects if e["kind"] == "start_process"] == [1]
    listed = json.loads(govflow("tasks", "--as", "alice", "--json"))
    assert [t["element_id"] for t in listed if t["process_id"] == "target"] == ["work"], "started exactly once"
