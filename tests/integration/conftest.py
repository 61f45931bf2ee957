"""The `govflow` command line's fixture: `run(*args, ok=True)` invokes it (tests/cli_runner.py) on a database of the test's backend,
initialised with the demo people and the loop fixture deployed; `run.json(*args)` parses what `--json` prints."""
from __future__ import annotations

import json

import pytest

from tests.cli_runner import cli_on
from tests.conftest import FIXTURES

AT = "2026-12-01T09:00"


@pytest.fixture
def run(empty_database_url, tmp_path, monkeypatch):
    invoke = cli_on(empty_database_url, tmp_path / "instance", monkeypatch)

    def as_json(*args):
        return json.loads(invoke(*args, "--json").stdout)

    invoke.json = as_json
    report = as_json("init", "--demo", "--at", AT)
    assert report["roles"] == 10 and report["groups"] >= 15
    assert {"alice", "carol", "admin"} <= set(report["demo_users"])
    invoke("deploy", FIXTURES / "processes", "--forms", FIXTURES / "forms", "--at", AT)
    return invoke
