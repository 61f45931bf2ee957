"""Nothing is silently stuck: a running instance left with nothing to wait for, or a task created already overdue,
opens an incident naming where and after which command; admins are told; an admin closes it with a reason."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.commands import govflow as govflow_cli
from engine.services.admin import ReasonMissing
from engine.errors import Conflict, Forbidden
from engine.store.models import Notification, User

from ..conftest import FIXTURES


@pytest.fixture
def igov(gov):
    gov.deploy([FIXTURES / "incidents"], forms_dir=FIXTURES / "incidents_forms", note="incident fixtures")
    return gov


def notices_for(gov, username: str, kind: str) -> list[Notification]:
    with gov.db.read() as session:
        return list(session.scalars(select(Notification).join(User, User.id == Notification.user_id)
                                    .where(User.username == username, Notification.kind == kind)))


def test_a_broken_join_strands_the_instance_and_opens_one_incident(igov):
    started = igov.start("stranded", "alice")
    task = next(t for t in igov.tasks("alice") if t.instance_id == started.instance_id)
    assert igov.incidents() == []  # waiting for a person is not stranded
    result = igov.complete(task.id, "alice", {"side": "left"})
    assert result.status == "running"
    [incident] = igov.incidents()
    assert incident["kind"] == "stranded" and incident["instance_id"] == started.instance_id
    assert incident["element_ids"] == ["join"], "where it stopped"
    assert incident["command"] == "task.completed" and incident["actor"] == "alice"
    assert "no open task, no waiting timer and no message or signal" in incident["message"]
    [notice] = notices_for(igov, "admin", "incident")
    assert notice.link == f"/manage/incidents#incident-{incident['id']}" and "stranded" in notice.subject
    assert notices_for(igov, "alice", "incident") == []
    actions = [e["action"] for e in igov.show(started.instance_id)["history"]]
    assert "incident.opened" in actions


def test_an_admin_closes_an_incident_with_a_reason_and_it_is_audited(igov):
    started = igov.start("stranded", "alice")
    task = next(t for t in igov.tasks("alice") if t.instance_id == started.instance_id)
    igov.complete(task.id, "alice", {"side": "right"})
    [incident] = igov.incidents()
    with pytest.raises(Forbidden):
        igov.resolve_incident(incident["id"], "alice", "not mine to close")
    with pytest.raises(ReasonMissing):
        igov.resolve_incident(incident["id"], "admin", "  ")
    closed = igov.resolve_incident(incident["id"], "admin", "Model fixed in version 2; instance terminated")
    assert closed["resolved_by"] == "admin" and igov.incidents() == []
    with pytest.raises(Conflict):
        igov.resolve_incident(incident["id"], "admin", "twice")
    assert [i["resolution"] for i in igov.incidents(include_closed=True)] == [
        "Model fixed in version 2; instance terminated"]
    assert "incident.resolved" in [e["action"] for e in igov.show(started.instance_id)["history"]]


def test_terminating_a_stranded_instance_closes_its_incident(igov):
    started = igov.start("stranded", "alice")
    task = next(t for t in igov.tasks("alice") if t.instance_id == started.instance_id)
    igov.complete(task.id, "alice", {"side": "left"})
    assert len(igov.incidents()) == 1
    igov.admin.terminate(started.instance_id, "admin", "Stranded at the broken join")
    assert igov.incidents() == []
    [closed] = igov.incidents(include_closed=True)
    assert closed["resolution"] == "Instance terminated: Stranded at the broken join"


def test_a_task_created_already_overdue_opens_an_incident_for_the_analyst(igov, clock):
    past = (clock.now() - timedelta(days=1)).isoformat()
    started = igov.start("overdue", "alice", {"due": past})
    [incident] = igov.incidents()
    assert incident["kind"] == "created_overdue" and incident["element_ids"] == ["ask"]
    assert incident["instance_id"] == started.instance_id and "created already overdue" in incident["message"]
    future = (clock.now() + timedelta(days=1)).isoformat()
    igov.start("overdue", "alice", {"due": future})
    assert len(igov.incidents()) == 1, "a task due later is not an incident"


def test_the_cli_lists_and_closes_incidents(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(govflow_cli, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("init", "--demo")
    run("deploy", FIXTURES / "incidents", "--forms", FIXTURES / "incidents_forms")
    started = json.loads(run("start", "stranded", "--as", "alice", "--json"))
    task_id = started["new_task_ids"][0]
    run("complete", task_id, "--as", "alice", "--data", '{"side": "left"}')
    listed = run("incidents")
    assert "Instance stranded" in listed and "at join" in listed
    [row] = json.loads(run("incidents", "--json"))
    assert "is closed" in run("incidents", "resolve", row["id"], "--as", "admin", "--reason", "Terminated by hand")
    assert run("incidents") == "No incidents.\n"
