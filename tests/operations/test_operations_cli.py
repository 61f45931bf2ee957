"""`govflow backup`, `restore` and `doctor`, and the database URL masked in what the CLI prints."""
from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timezone

import pytest

from engine.config import Config
from engine.platform import Govflow

from ..cli_runner import cli_on


@pytest.fixture
def cli(empty_database_url, backend, tmp_path, monkeypatch):
    """The CLI on a database of the test's backend; on PostgreSQL the URL carries a password (the test cluster
    trusts every local connection, so any password is accepted) to show it is never printed."""
    url = empty_database_url.replace("postgres@", "postgres:s3cret-pw@") if backend == "postgres" \
        else empty_database_url
    return cli_on(url, tmp_path / "instance", monkeypatch, GOVFLOW_SECRET_KEY="a-secret-for-the-tests",
                  GOVFLOW_SMTP_HOST=None)


def test_init_prints_the_database_url_without_its_password(cli, backend):
    out = cli("init").stdout
    assert "s3cret-pw" not in out
    if backend == "postgres":
        assert "postgres:***@127.0.0.1" in out


def test_doctor_passes_with_a_scheduler_beating_and_fails_without(cli, monkeypatch, smtp_server):
    cli("init")
    failed = cli("doctor", "--json", ok=False)
    assert failed.exit_code == 1 and "s3cret-pw" not in failed.stderr
    report = json.loads(failed.stderr)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["database"]["ok"] and checks["migrations"]["ok"] and checks["config"]["ok"]
    assert not checks["scheduler"]["ok"] and checks["smtp"]["detail"].startswith("e-mail is off")

    gov = Govflow(Config.from_env())
    gov.health.beat(gov.health.process_name(), 30, datetime.now(timezone.utc))
    monkeypatch.setenv("GOVFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GOVFLOW_SMTP_PORT", str(smtp_server.port))
    passed = cli("doctor")
    assert re.search(r"ok\s+smtp\s+127\.0\.0\.1:\d+ answered 250", passed.stdout), passed.stdout
    assert re.search(r"ok\s+scheduler\s+1 running", passed.stdout)
    local = cli("doctor", "--local-scheduler").stdout
    assert re.search(r"ok\s+local\s+1 scheduler\(s\) beating on ", local) and "smtp" not in local
    gov.health.forget(gov.health.process_name())
    assert cli("doctor", "--local-scheduler", ok=False).exit_code == 1
    gov.db.dispose()


def test_doctor_reports_an_unreachable_smtp_server(cli, monkeypatch):
    cli("init")
    from tests.operations.conftest import free_port
    monkeypatch.setenv("GOVFLOW_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("GOVFLOW_SMTP_PORT", str(free_port()))  # nothing listens there
    result = cli("doctor", ok=False)
    assert re.search(r"FAIL\s+smtp\s+127\.0\.0\.1:\d+ unreachable: ConnectionRefusedError", result.stderr)


def test_doctor_reports_a_database_not_yet_migrated(cli):
    result = cli("doctor", ok=False)
    assert re.search(r"FAIL\s+migrations .*run `govflow init`", result.stderr), result.stderr


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL is backed up with pg_dump (next test)
def test_sqlite_backup_while_running_and_restore(cli, backend, tmp_path):
    cli("init")
    cli("users", "add", "dora", "--name", "Dora D", "--role", "workstream", "--password", "a-long-password")
    held = sqlite3.connect(cli.url.split(":///", 1)[1])  # another process's open connection, mid-read
    held.execute("BEGIN").execute("SELECT count(*) FROM user_role").fetchone()
    copy = tmp_path / "backups" / "govflow-1.db"
    report = json.loads(cli("backup", copy, "--json").stdout)
    held.rollback()
    held.close()
    assert report["revision"] and report["bytes"] == copy.stat().st_size > 0
    assert cli("backup", copy, ok=False).stderr.strip().endswith("exists already: choose a new file for the backup.")

    cli("users", "add", "eve", "--name", "Eve E", "--role", "workstream", "--password", "a-long-password")
    cli("restore", copy, "--yes")
    users = {u["username"] for u in json.loads(cli("users", "list", "--json").stdout)}
    assert "dora" in users and "eve" not in users

    not_db = tmp_path / "notes.txt"
    not_db.write_text("not a database")
    assert "is not an SQLite database" in cli("restore", not_db, "--yes", ok=False).stderr


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite is backed up by govflow itself (previous test)
def test_postgresql_backup_names_pg_dump_and_pg_restore(cli, backend, tmp_path):
    cli("init")
    result = cli("backup", tmp_path / "govflow.dump", ok=False)
    assert result.exit_code == 1 and "s3cret-pw" not in result.stderr
    assert "pg_dump --format=custom --host=127.0.0.1" in result.stderr and "pg_restore --clean" in result.stderr
