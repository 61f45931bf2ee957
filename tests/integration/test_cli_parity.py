"""The CLI does what the API does: every operation of the live OpenAPI document has a `govflow` command
(cli/parity.yaml), and the commands added for it act `--as` a person under the API's policy, on each backend."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import click
import yaml
from click.testing import CliRunner

from cli.commands import govflow
from engine.clock import Clock
from tests.conftest import make_govflow
from tests.integration.conftest import AT
from tests.sample_files import PDF

PARITY = Path(__file__).resolve().parents[2] / "cli" / "parity.yaml"


def _api_operations(tmp_path) -> set[str]:
    from web.app import create_app
    app = create_app(make_govflow(f"sqlite:///{tmp_path / 'spec.db'}", tmp_path, Clock()))
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return {f"{method.upper()} {path}" for path, operations in spec["paths"].items() for method in operations}


def _command(words: str) -> click.Command | None:
    found: click.Command | None = govflow
    for word in words.split():
        found = found.get_command(click.Context(found), word) if isinstance(found, click.Group) else None
        if found is None:
            return None
    return found


def test_every_api_operation_has_a_cli_command(tmp_path):
    mapped = yaml.safe_load(PARITY.read_text())["operations"]
    operations = _api_operations(tmp_path)
    assert len(operations) >= 49
    assert sorted(operations - set(mapped)) == [], "API operations without a CLI command in cli/parity.yaml"
    assert sorted(set(mapped) - operations) == [], "cli/parity.yaml names operations the API no longer has"
    runner = CliRunner()
    for operation, commands in mapped.items():
        for words in commands.split(","):
            assert _command(words) is not None, f"{operation}: there is no `govflow {words.strip()}`"
            shown = runner.invoke(govflow, [*words.split(), "--help"])
            assert shown.exit_code == 0 and "Usage: govflow" in shown.output, (operation, shown.output)


def test_tasks_comments_and_instances_as_each_person_may(run):
    started = run.json("start", "loop", "--as", "alice", "--data", '{"title": "Parity"}', "--at", AT)
    instance_id = started["instance_id"]
    task_id = run.json("tasks", "--as", "carol")[0]["id"]
    shown = run("task", "show", task_id, "--as", "carol").stdout
    assert "you may act on it" in shown and "valid (required): Is it valid? [boolean]" in shown
    refused = run("task", "show", task_id, "--as", "alice", ok=False)
    assert refused.exit_code == 1 and "You cannot see 'Review': it needs the Change Control Manager role" \
        in refused.stderr
    run("task", "save-draft", task_id, "--as", "carol", "--data", '{"issues": "half done"}')
    assert run.json("task", "show", task_id, "--as", "carol")["draft"] == {"issues": "half done"}

    not_pmo = run("task", "reassign", task_id, "--to", "dora", "--as", "carol", ok=False)
    assert not_pmo.exit_code == 1 and "Your roles do not allow this (reassign)" in not_pmo.stderr
    run("users", "add", "dora", "--name", "Dora D", "--role", "change_control_manager", "--password", "x" * 12)
    moved = run.json("task", "reassign", task_id, "--to", "dora", "--as", "pat", "--at", AT)
    assert moved["task"]["claimed_by"] == "dora"
    assert [t["id"] for t in run.json("tasks", "--as", "dora")] == [task_id]
    assert [t["id"] for t in run.json("tasks", "--as", "dora", "--tab", "mine")] == [task_id]
    assert run.json("tasks", "--as", "dora", "--tab", "completed") == []
    told = run.json("notifications", "list", "--as", "dora", "--unread")
    assert [n["subject"] for n in told] == ["Assigned to you: Review — Parity"]
    assert run.json("notifications", "read", "--as", "dora")["count"] == 1
    assert run.json("notifications", "list", "--as", "dora", "--unread") == []

    run("comments", "add", instance_id, "Please check the title", "--as", "alice", "--at", AT)
    assert [(c["author"], c["body"]) for c in run.json("comments", "list", instance_id, "--as", "carol")] == \
        [("alice", "Please check the title")]
    observer = run("comments", "add", instance_id, "Noted", "--as", "olive", ok=False)
    assert observer.exit_code == 1 and "Observers can read but not act" in observer.stderr
    stranger = run("instances", "history", instance_id, "--as", "bob", ok=False)
    assert "You cannot see this instance" in stranger.stderr
    ghost = run("instances", "list", "--as", "ghost", "--json", ok=False)
    assert json.loads(ghost.stderr) == {"error": "NotFound", "message": "There is no active user called 'ghost'"}
    listed = run.json("instances", "list", "--as", "alice")
    assert [i["id"] for i in listed["items"]] == [instance_id] and listed["total"] == 1
    history = [e["action"] for e in run.json("instances", "history", instance_id, "--as", "alice")]
    assert {"task.draft_saved", "task.reassigned", "comment.added", "access.denied"} <= set(history)


def test_administration_files_and_the_register(run, tmp_path, monkeypatch):
    raise_data = Path(__file__).resolve().parents[2] / "bench" / "change_request.json"
    evidence = tmp_path / "evidence.pdf"
    evidence.write_bytes(PDF)
    started = run.json("start", "change_control", "--as", "alice", "--data", f"@{raise_data}",
                       "--file", f"supporting_documents={evidence}", "--at", AT)
    instance_id = started["instance_id"]

    assert "withdraw" in [m["message"] for m in run.json("show", instance_id, "--as", "alice")["open_messages"]]
    assert "You cannot see this instance" in run("show", instance_id, "--as", "bob", ok=False).stderr
    participant = run("instances", "suspend", instance_id, "--as", "alice", "--reason", "Mine", ok=False)
    assert participant.exit_code == 1 and "Your roles do not allow this (administer)" in participant.stderr
    assert run.json("instances", "suspend", instance_id, "--as", "admin", "--reason", "Checking")["status"] \
        == "suspended"
    assert run.json("show", instance_id)["status"] == "suspended"
    again = run("instances", "suspend", instance_id, "--as", "admin", "--reason", "Twice", ok=False)
    assert again.exit_code == 1 and "it cannot be suspended" in again.stderr
    run("instances", "resume", instance_id, "--as", "admin", "--reason", "Checked")
    assert run.json("show", instance_id)["status"] == "running"

    [document] = run.json("attachments", "list", instance_id, "--as", "carol")
    assert document["name"] == "evidence.pdf" and document["field"] == "supporting_documents"
    monkeypatch.chdir(tmp_path)
    saved = run.json("attachments", "download", instance_id, document["id"], "--as", "carol",
                     "--output", "copy.pdf")
    assert (tmp_path / "copy.pdf").read_bytes() == PDF and saved["path"] == "copy.pdf"
    hidden = run("attachments", "list", instance_id, "--as", "bob", ok=False)
    assert "You cannot see this instance" in hidden.stderr

    refused = run("register", "export", "--as", "alice", "--output", "register.csv", ok=False)
    assert "Your roles do not allow this (manage)" in refused.stderr and not (tmp_path / "register.csv").exists()
    run("register", "export", "--as", "pat", "--process", "change_control", "--output", "register.csv")
    rows = list(csv.reader((tmp_path / "register.csv").open(encoding="utf-8")))
    assert rows[0][:3] == ["Number", "Title", "Process"]
    title = json.loads(raise_data.read_text())["title"]
    assert [(r[1], r[2], r[-1]) for r in rows[1:]] == [(title, "change_control", str(instance_id))]
    kept = run("register", "export", "--as", "pat", "--output", "register.csv", ok=False)
    assert kept.exit_code != 0 and "exists" in kept.output + kept.stderr
    page = run.json("register", "query", "--as", "pat", "--status", "running")
    assert page["total"] == 1 and page["items"][0]["id"] == instance_id
    trail = run.json("instances", "history", instance_id, "--as", "admin")
    assert [(e["actor"], e["action"]) for e in trail if e["action"].startswith("instance.")] == [
        ("alice", "instance.started"), ("admin", "instance.suspended"), ("admin", "instance.resumed")]
