"""The production topology on this machine, without Docker: one PostgreSQL, gunicorn with two workers behind one
port, two `govflow scheduler` processes, and a local SMTP server — each a real process started as a deployment would."""
from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.operations.conftest import free_port, smtp_server  # noqa: F401  (the SMTP fixture)

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
HEARTBEAT_SECONDS = 0.5
METRICS_TOKEN = "topology-metrics-token"
DB_PASSWORD = "topology-db-secret"  # the test cluster trusts local connections; the password must never be printed


def wait_for(what: str, check, timeout: float = 60.0, every: float = 0.2):
    """Poll `check` until it gives a true value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Browser:
    """A person at the web inbox over real HTTP: cookies, CSRF tokens from the pages, redirects followed."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str, dict]:
        return self._open(urllib.request.Request(self.base + path, headers=headers or {}))

    def post(self, path: str, form: dict, headers: dict | None = None) -> tuple[int, str, dict]:
        data = urllib.parse.urlencode(form).encode()
        return self._open(urllib.request.Request(self.base + path, data=data, headers=headers or {}))

    def _open(self, request) -> tuple[int, str, dict]:
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def csrf(self, path: str) -> str:
        status, page, _ = self.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert status == 200 and found, f"no form at {path} ({status})"
        return found.group(1)

    def sign_in(self, username: str, password: str) -> None:
        status, page, _ = self.post("/sign-in", {"username": username, "password": password,
                                                 "csrf_token": self.csrf("/sign-in")})
        assert status == 200 and "Sign out" in page, page[:300]


@dataclass
class Topology:
    url: str
    base: str
    env: dict
    root: Path
    web: subprocess.Popen | None = None
    schedulers: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)

    def run(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "govflow"), *args], env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout + done.stderr

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = self.root / f"{name}.log"
        self.logs[name] = log
        return subprocess.Popen(command, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    def workers(self) -> list[int]:
        """The gunicorn master's worker processes."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.web.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def sql(self, query: str, *params):
        with psycopg.connect(self.url.replace("postgresql+psycopg", "postgresql")) as connection:
            return connection.execute(query, params).fetchall()

    def readyz(self) -> tuple[int, dict]:
        status, body, _ = Browser(self.base).get("/readyz")
        return status, json.loads(body)

    def log_lines(self, name: str) -> list[dict]:
        """The JSON lines a process wrote (its other lines — a command's plain output — left out)."""
        lines = []
        for line in self.logs[name].read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def stop(self) -> None:
        for process in [self.web, *self.schedulers]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [self.web, *self.schedulers]:
            if process is None:
                continue
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def topology(pg_cluster, tmp_path, smtp_server):  # noqa: F811
    name = "topology"
    pg_cluster.drop_database(name)
    url = pg_cluster.create_database(name).replace("postgres@", f"postgres:{DB_PASSWORD}@")
    port = free_port()
    env = {**os.environ,
           "GOVFLOW_DATABASE_URL": url, "GOVFLOW_INSTANCE_DIR": str(tmp_path / "instance"),
           "GOVFLOW_SECRET_KEY": "topology-secret-key", "GOVFLOW_PASSWORD_PROFILE": "cheapest",
           "GOVFLOW_SMTP_HOST": "127.0.0.1", "GOVFLOW_SMTP_PORT": str(smtp_server.port),
           "GOVFLOW_SMTP_FROM": "govflow@example.test", "GOVFLOW_BASE_URL": f"http://127.0.0.1:{port}",
           "GOVFLOW_METRICS_TOKEN": METRICS_TOKEN, "GOVFLOW_LOG_FORMAT": "json",
           "GOVFLOW_BIND": f"127.0.0.1:{port}", "GOVFLOW_WORKERS": "2", "GOVFLOW_THREADS": "2",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    (tmp_path / "metrics").mkdir()
    topology = Topology(url, f"http://127.0.0.1:{port}", env, tmp_path)
    topology.init_output = topology.run("init", "--demo") + topology.run(
        "deploy", str(HERE / "process"), "--forms", str(HERE / "forms"), "--note", "topology test")
    topology.password = (tmp_path / "instance" / "demo-password").read_text().strip()
    try:
        topology.web = topology.start("web", [str(BIN / "gunicorn"), "-c", "python:web.gunicorn_conf",
                                              "web.wsgi:app"])
        for index in range(2):
            topology.schedulers.append(topology.start(
                f"scheduler-{index}", [str(BIN / "govflow"), "scheduler", "--sweep-seconds", "1",
                                       "--heartbeat-seconds", str(HEARTBEAT_SECONDS)]))
        wait_for("two web workers", lambda: len(topology.workers()) == 2)
        yield topology
    finally:
        topology.stop()
        pg_cluster.drop_database(name)


def scheduler_name(process: subprocess.Popen) -> str:
    return f"{socket.gethostname()}:{process.pid}"
