"""Two web workers, two schedulers, one PostgreSQL, a local SMTP server: short change requests go through a timer
and e-mail while one scheduler and one web worker are killed; nothing is lost or done twice, /readyz reports the
missing scheduler, /metrics adds up both workers, and every process logs JSON lines that share request ids."""
from __future__ import annotations

import os
import re
import signal
from collections import Counter
from email import message_from_bytes
from email.policy import default as default_policy

from prometheus_client.parser import text_string_to_metric_families

from .conftest import DB_PASSWORD, METRICS_TOKEN, Browser, scheduler_name, wait_for

REQUESTS = 6


def _task(topology, instance_id: int, element_id: str) -> str | None:
    rows = topology.sql("SELECT id FROM human_task WHERE instance_id = %s AND element_id = %s AND status = 'ready'",
                        instance_id, element_id)
    return rows[0][0] if rows else None


def _links(envelope) -> set[str]:
    """The task pages an e-mail links to."""
    body = message_from_bytes(envelope.content, policy=default_policy).get_body(("plain",)).get_content()
    return set(re.findall(r"/tasks/([0-9a-f-]{36})", body))


def _complete(browser: Browser, task_id: str, request_id: str) -> None:
    status, page, _ = browser.post(f"/tasks/{task_id}", {"csrf_token": browser.csrf(f"/tasks/{task_id}"),
                                                         "notes": "Looked at it."},
                                   headers={"X-Request-Id": request_id})
    assert status == 200 and "You completed" in page, page[:500]


def test_scaled_out_topology_survives_a_killed_scheduler_and_worker(topology, smtp_server):
    assert DB_PASSWORD not in topology.init_output and "postgres:***@" in topology.init_output
    status, report = wait_for("both schedulers beating", lambda: (lambda r: r if r[0] == 200 and len(
        next(c for c in r[1]["checks"] if c["name"] == "scheduler")["running"]) == 2 else None)(topology.readyz()))
    first, second = topology.schedulers

    alice, carol = Browser(topology.base), Browser(topology.base)
    alice.sign_in("alice", topology.password)
    carol.sign_in("carol", topology.password)
    instances = []
    for number in range(REQUESTS):
        status, page, _ = alice.post("/requests/new/topology_cr", {
            "csrf_token": alice.csrf("/requests/new/topology_cr"), "title": f"Topology request {number}"})
        assert status == 200 and "You raised" in page, page[:500]
        instances.append(topology.sql("SELECT max(id) FROM instance")[0][0])
    assert len(set(instances)) == REQUESTS

    assess = {i: wait_for("the assess task", lambda i=i: _task(topology, i, "assess")) for i in instances}
    half = REQUESTS // 2
    for instance_id in instances[:half]:
        _complete(carol, assess[instance_id], f"req-assess-{instance_id:06d}")

    # mid-way: one scheduler and one web worker die without warning (their timers are still waiting)
    waiting = topology.sql("SELECT count(*) FROM timer WHERE status = 'waiting'")[0][0]
    assert waiting == half
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_worker = topology.workers()[0]
    os.kill(killed_worker, signal.SIGKILL)
    wait_for("gunicorn to replace the killed worker",
             lambda: len(topology.workers()) == 2 and killed_worker not in topology.workers())

    for instance_id in instances[half:]:
        _complete(carol, assess[instance_id], f"req-assess-{instance_id:06d}")

    decide = {i: wait_for("the timer to fire and open 'decide'", lambda i=i: _task(topology, i, "decide"))
              for i in instances}

    status, report = topology.readyz()
    scheduler = next(c for c in report["checks"] if c["name"] == "scheduler")
    assert status == 200 and scheduler["running"] == [scheduler_name(second)]
    assert scheduler["missing"] == [scheduler_name(first)] and "1 missing" in scheduler["detail"]

    for instance_id in instances:
        _complete(carol, decide[instance_id], f"req-decide-{instance_id:06d}")
    wait_for("every request to finish", lambda: topology.sql(
        "SELECT count(*) FROM instance WHERE id = ANY(%s) AND status = 'completed'", instances)[0][0] == REQUESTS)
    wait_for("the outbox to drain", lambda: topology.sql(
        "SELECT count(*) FROM outbox WHERE status <> 'delivered'")[0][0] == 0)

    # nothing lost, nothing twice: each timer fired once, each task completed once, each task e-mailed once
    fired = Counter(row[0] for row in topology.sql(
        "SELECT instance_id FROM audit_event WHERE action = 'timer.fired' AND instance_id = ANY(%s)", instances))
    assert fired == {i: 1 for i in instances}
    completed = Counter(row[0] for row in topology.sql(
        "SELECT task_id FROM audit_event WHERE action = 'task.completed' AND instance_id = ANY(%s)", instances))
    assert completed == {t: 1 for t in [*assess.values(), *decide.values()]}
    tasks = set(assess.values()) | set(decide.values())

    def mailed() -> Counter:
        return Counter(link for message in list(smtp_server.messages) for link in _links(message) if link in tasks)
    wait_for("an e-mail for every task", lambda: set(mailed()) == tasks)
    assert mailed() == {t: 1 for t in tasks}
    assert all(m.rcpt_tos == ["carol@example.org"] for m in smtp_server.messages if _links(m) & tasks)
    assert topology.sql("SELECT count(*) FROM incident WHERE resolved_at IS NULL")[0][0] == 0

    # /metrics adds up both workers (the killed one's figures included) and reads the database's figures
    status, body, _ = Browser(topology.base).get("/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    assert samples[("govflow_request_seconds_count", (("method", "POST"), ("route", "/tasks/<task_id>")))] \
        == 2 * REQUESTS
    assert samples[("govflow_command_seconds_count", (("kind", "task.completed"),))] == 2 * REQUESTS
    assert samples[("govflow_schedulers", (("state", "missing"),))] == 1
    assert samples[("govflow_outbox_depth", ())] == 0

    # JSON logs: the web's access line and the engine command it ran share the request id; nothing leaks
    web = topology.log_lines("web")
    request_id = f"req-decide-{instances[0]:06d}"
    access = [line for line in web if line.get("logger") == "gunicorn.access" and line.get("request_id") == request_id
              and line["method"] == "POST"]  # (urllib sends the id again with the redirect's GET)
    command = [line for line in web if line.get("command") == "task.completed" and line.get("request_id") == request_id]
    assert len(access) == 1 and access[0]["method"] == "POST" and access[0]["status"] == 302
    assert len(command) == 1 and command[0]["user"] == "carol" and command[0]["task_id"] == decide[instances[0]]
    assert command[0]["instance_id"] == instances[0]
    scheduler_lines = topology.log_lines("scheduler-1")
    fired_ids = {line["request_id"] for line in scheduler_lines if line.get("command") == "timer.fired"}
    assert len(fired_ids) >= REQUESTS - half  # each firing has its own id, carried into its deliveries
    assert any(line["logger"] == "engine.services.effects" and line.get("request_id") in fired_ids
               for line in scheduler_lines)
    for name, log in topology.logs.items():
        text = log.read_text()
        assert DB_PASSWORD not in text and topology.password not in text, name
