"""The `govflow` command line end to end, on a database never initialised (each backend), acting as of `--at`."""
from __future__ import annotations

import json

from click.testing import CliRunner

from cli.commands import govflow
from tests.conftest import FIXTURES
from tests.integration.conftest import AT


def test_init_is_idempotent(run):
    again = run.json("init", "--at", AT)
    assert all(not p["created"] for p in again["deployment"]["processes"])
    assert again["demo_users"] == []


def test_users_add_and_list(run):
    run("users", "add", "dora", "--name", "Dora D", "--role", "workstream", "--password", "a-long-password")
    users = {u["username"]: u for u in run.json("users", "list")}
    assert users["dora"]["roles"] == ["workstream"]
    failed = run("users", "add", "eve", "--name", "Eve", "--role", "no_such_role", "--password", "x" * 10, ok=False)
    assert failed.exit_code == 1 and "Unknown role(s): no_such_role" in failed.stderr


def test_a_request_driven_from_the_command_line(run):
    started = run.json("start", "loop", "--as", "alice", "--data", '{"title": "From the CLI"}', "--at", AT)
    instance_id = started["instance_id"]
    tasks = run.json("tasks", "--as", "carol")
    assert [t["element_id"] for t in tasks] == ["review"]
    task_id = tasks[0]["id"]
    run("claim", task_id, "--as", "carol", "--at", AT)
    bad = run("complete", task_id, "--as", "carol", "--data", '{"valid": "maybe"}', ok=False)
    assert bad.exit_code == 1 and "valid: Is it valid? must be yes or no" in bad.stderr
    run("complete", task_id, "--as", "carol", "--data", '{"valid": false}', "--at", AT)
    fix = run.json("tasks", "--as", "alice")[0]
    assert fix["element_id"] == "fix" and fix["assignee"] == "alice"
    timers = run.json("timers", "list")
    assert timers[0]["due_at"] == "2026-12-31T09:00:00+00:00"
    assert run.json("timers", "run-due", "--at", "2026-12-30T17:00") == []
    fired = run.json("timers", "run-due", "--at", "2026-12-31T12:00")
    assert fired[0]["instance_id"] == instance_id
    shown = run.json("show", instance_id)
    assert shown["status"] == "completed"
    assert "timer.fired" in [e["action"] for e in shown["history"]]
    text = run("show", instance_id).stdout
    assert "status completed" in text


def test_errors_go_to_stderr_with_a_non_zero_exit(run):
    missing = run("start", "nope", "--as", "alice", ok=False)
    assert missing.exit_code == 1 and "No process 'nope' is deployed" in missing.stderr
    started = run.json("start", "loop", "--as", "alice", "--data", '{"title": "No withdrawal here"}')
    refused = run("withdraw", started["instance_id"], "--as", "alice", "--reason", "Not needed", ok=False)
    assert refused.exit_code == 1 and "is not accepting 'withdraw' now" in refused.stderr
    forbidden = run("tasks", "--as", "ghost", ok=False)
    assert "no active user called 'ghost'" in forbidden.stderr


def test_validate_refuses_unsafe_xml_with_file_and_line(run, tmp_path):
    bad = tmp_path / "bad.bpmn"
    bad.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname">]>\n<x>&e;</x>\n')
    result = run("validate", bad, ok=False)
    assert result.exit_code == 1
    assert "bad.bpmn line 2" in result.stderr and "DOCTYPE" in result.stderr
    as_json = json.loads(run("validate", bad, "--json", ok=False).stderr)
    assert as_json["problems"][0]["line"] == 2
    good = run.json("validate", FIXTURES / "processes", "--forms", FIXTURES / "forms")
    assert good == {"valid": True, "processes": ["loop"]}


def test_validate_works_before_init(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    result = CliRunner().invoke(govflow, ["validate", "processes", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "change_control" in json.loads(result.stdout)["processes"]


from tests.sample_files import PDF


def test_files_are_attached_from_the_command_line_as_from_the_browser(run, tmp_path):
    from pathlib import Path
    raise_data = Path(__file__).resolve().parents[2] / "bench" / "change_request.json"
    evidence, program = tmp_path / "evidence.pdf", tmp_path / "evidence.exe"
    evidence.write_bytes(PDF)
    program.write_bytes(b"MZ\x90\x00" + bytes(60))
    refused = run("start", "change_control", "--as", "alice", "--data", f"@{raise_data}",
                  "--file", f"supporting_documents={program}", "--at", AT, ok=False)
    assert refused.exit_code == 1 and "supporting_documents:" in refused.stderr
    wrong = run("start", "change_control", "--as", "alice", "--data", f"@{raise_data}",
                "--file", f"title={evidence}", "--at", AT, ok=False)
    assert "title: is not a file field of this form (its file fields: supporting_documents)" in wrong.stderr
    started = run.json("start", "change_control", "--as", "alice", "--data", f"@{raise_data}",
                       "--file", f"supporting_documents={evidence}", "--at", AT)
    shown = run.json("show", started["instance_id"])
    [document] = shown["data"]["supporting_documents"]
    assert (document["name"], document["size"], document["type"]) == ("evidence.pdf", len(PDF), "application/pdf")
    assert any(e["action"] == "attachment.attached" for e in shown["history"])


def test_demo_work_takes_requests_to_their_stages_once(run):
    # the fixture's database holds no instance yet: demo work goes in
    work = run.json("demo-work", "--at", AT)
    assert work == {"requests": 5, "meetings": work["meetings"]} and work["meetings"] >= 6
    states = sorted((r["state"], r["started_by"]) for r in (run.json("show", n) for n in range(1, 6)))
    assert states == [("impact assessment", "alice"), ("in consultation", "bob"), ("returned to raiser", "bob"),
                      ("submitted", "alice"), ("with SITAG", "pat")]
    assert [t["element_id"] for t in run.json("tasks", "--as", "chris")] == ["consider_at_group"]  # SITAG's chair
    assert [t["element_id"] for t in run.json("tasks", "--as", "bob")] == ["resolve_issues"]
    assert run.json("demo-work", "--at", AT) == {"requests": 0, "meetings": 0}  # never into a database with work
