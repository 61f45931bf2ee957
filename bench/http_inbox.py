"""The task inbox over HTTP with the production WSGI server (gunicorn, 2 workers) on SQLite: prints each figure
beside its target.

1. Completing a task: carol has claimed the `validate` task of N change requests; for each, the task page is fetched
   for its CSRF token (not timed) and the form POST that completes it is timed (the 302 is not followed).
2. Rendering the inbox with 10,000 open tasks and 100,000 completed ones (rows bulk-inserted with SQLAlchemy Core):
   each tab ("My tasks", "My groups", "Completed by me"), and a filtered search, timed as whole GET requests.

Run: .venv/bin/python -m bench.http_inbox [--completions 60] [--renders 40]
"""
from __future__ import annotations

import argparse
import http.cookiejar
import os
import platform
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.services.identity import NewUser
from engine.store.models import HumanTask, Instance, ProcessVersion
from engine.platform import Govflow

from .engine_steps import RAISE

PASSWORD = "bench password 1234"
VALID = {"valid": "true", "validation_notes": "Complete."}
OPEN_TASKS, COMPLETED_TASKS = 10_000, 100_000
T0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
PEOPLE = [("alice", ("participant",)), ("carol", ("change_control_manager", "participant")),
          ("will", ("workstream", "participant")), ("pat", ("pmo", "participant")),
          ("chris", ("chair", "participant"))]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie-keeping HTTP client that does not follow redirects (stdlib only)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
                                                  _NoRedirect())

    def request(self, path: str, form: dict | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.base + path, data=data, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def token(self, path: str) -> str:
        status, html = self.request(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        if status != 200 or not found:
            raise RuntimeError(f"GET {path}: {status} without a CSRF token\n{html[:500]}")
        return found.group(1)

    def sign_in(self, username: str) -> None:
        status, _ = self.request("/sign-in", {"username": username, "password": PASSWORD,
                                              "csrf_token": self.token("/sign-in")})
        if status != 302:
            raise RuntimeError(f"sign-in as {username} failed: {status}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(database_url: str, folder: Path, workers: int = 2) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GOVFLOW_DATABASE_URL=database_url, GOVFLOW_INSTANCE_DIR=str(folder),
               GOVFLOW_SECRET_KEY="bench-" + uuid.uuid4().hex, GOVFLOW_LOG_LEVEL="WARNING")
    server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--workers", str(workers),
                               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "web.wsgi:app"],
                              cwd=PROJECT_ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if server.poll() is not None:
                raise RuntimeError("gunicorn exited")
            time.sleep(0.1)
    # warm both workers up (imports, the compiled process cache)
    warm = Browser(base)
    for _ in range(6):
        warm.request("/sign-in")
    return server, base


def setup(folder: Path, completions: int) -> tuple[Govflow, list[str]]:
    """A database with the change-control process, the people, and `completions` claimed validate tasks."""
    database_url = f"sqlite:///{folder / 'bench.db'}"
    gov = Govflow(Config(database_url=database_url, instance_dir=folder, processes_dir=PROJECT_ROOT / "processes",
                         forms_dir=PROJECT_ROOT / "forms"), Clock(T0))
    gov.init()
    for username, roles in PEOPLE:
        gov.add_user(NewUser(username, username.title(), "", PASSWORD, roles))
    task_ids = []
    for _ in range(completions):
        result = gov.start("change_control", "alice", RAISE)
        task_id = result.new_task_ids[0]
        gov.claim(task_id, "carol")
        task_ids.append(task_id)
    return gov, task_ids


def bulk_inbox(gov: Govflow) -> None:
    """10,000 open and 100,000 completed tasks over 11,000 change requests, straight into the tables."""
    rng = random.Random(7)
    with gov.db.read() as db:
        version_id = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "change_control")
                               .order_by(ProcessVersion.version.desc()))
        first_id = (db.scalar(select(Instance.id).order_by(Instance.id.desc())) or 0) + 1
    instances = 11_000
    lanes = [("validate", "Validate the change request", "Change Control Manager", "change_control_manager"),
             ("triage", "Triage", "Change Control Manager", "change_control_manager"),
             ("impact_assessment", "Write impact assessment and cost estimate", "Workstream", "workstream"),
             ("table", "Table at the decision meeting", "PMO", "pmo"),
             ("decide", "Record the decision", "Chair", "chair")]
    people = [p for p, _ in PEOPLE]
    instance_rows, task_rows = [], []
    for n in range(instances):
        at = T0 - timedelta(minutes=instances - n)
        instance_rows.append(dict(id=first_id + n, process_version_id=version_id, process_id="change_control",
                                  status="running", reference=f"CR{n + 1000:05d}", title=f"Bulk change request {n}",
                                  state="submitted", started_by="alice", started_at=at, updated_at=at,
                                  facts={}, workflow_state="{}", revision=1))
    for n in range(OPEN_TASKS):
        element, name, lane, role = lanes[n % 2] if n % 10 < 8 else rng.choice(lanes[2:])
        claimed = "carol" if n % 10 == 0 else None
        at = T0 - timedelta(minutes=n)
        task_rows.append(dict(id=str(uuid.uuid4()), instance_id=first_id + n % instances, process_id="change_control",
                              element_id=element, name=name, lane=lane, role_id=role, claimed_by=claimed,
                              status="ready", due_at=at + timedelta(days=rng.randint(-5, 20)), created_at=at))
    for n in range(COMPLETED_TASKS):
        element, name, lane, role = rng.choice(lanes)
        at = T0 - timedelta(minutes=n + 1)
        who = people[n % len(people)]
        task_rows.append(dict(id=str(uuid.uuid4()), instance_id=first_id + n % instances, process_id="change_control",
                              element_id=element, name=name, lane=lane, role_id=role, claimed_by=who,
                              status="completed", due_at=at + timedelta(days=5), created_at=at - timedelta(days=1),
                              completed_at=at, completed_by=who))
    with gov.db.write() as db:
        db.execute(insert(Instance.__table__), instance_rows)
        for start in range(0, len(task_rows), 10_000):
            db.execute(insert(HumanTask.__table__), task_rows[start:start + 10_000])
    with gov.db.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")


def median_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=60)
    parser.add_argument("--renders", type=int, default=40)
    args = parser.parse_args(argv)
    results: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="govflow-bench-") as tmp:
        folder = Path(tmp)
        gov, task_ids = setup(folder, args.completions)
        server, base = start_gunicorn(gov.db.url, folder)
        try:
            client = Browser(base)
            client.sign_in("carol")
            timings = []
            for task_id in task_ids:
                token = client.token(f"/tasks/{task_id}")  # not timed
                started = time.perf_counter()
                status, body = client.request(f"/tasks/{task_id}", {**VALID, "_action": "complete",
                                                                    "csrf_token": token})
                timings.append((time.perf_counter() - started) * 1000)
                if status != 302:
                    raise RuntimeError(f"completing {task_id}: {status}\n{body[:800]}")
            median, p95 = median_p95(timings)
            results.append(("complete a task (POST, 302)", f"median {median:.1f} ms, p95 {p95:.1f} ms",
                            "median <= 15 ms"))

            bulk_inbox(gov)
            for label, path in [("inbox: My tasks (1,000 claimed)", "/"),
                                ("inbox: My groups (7,000 unclaimed)", "/?tab=groups"),
                                ("inbox: Completed by me (20,000)", "/?tab=completed"),
                                ("inbox: My groups, search + overdue", "/?tab=groups&q=request+12&overdue=1"),
                                ("inbox: My groups, page 100 by reference", "/?tab=groups&sort=reference&page=100")]:
                client.request(path)  # warm
                samples = []
                for _ in range(args.renders):
                    started = time.perf_counter()
                    status, body = client.request(path)
                    samples.append((time.perf_counter() - started) * 1000)
                    if status != 200:
                        raise RuntimeError(f"GET {path}: {status}\n{body[:800]}")
                median, p95 = median_p95(samples)
                results.append((label, f"median {median:.1f} ms, p95 {p95:.1f} ms", "median <= 50 ms"))
        finally:
            server.terminate()
            server.wait(10)
            gov.db.dispose()
    print(f"machine: {os.cpu_count()} cores (shared), {platform.machine()}, "
          f"{platform.python_implementation()} {platform.python_version()}; gunicorn 2 sync workers; SQLite (WAL)")
    print(f"inbox data: {OPEN_TASKS:,} open and {COMPLETED_TASKS:,} completed tasks")
    width = max(len(r[0]) for r in results)
    for name, value, target in results:
        print(f"{name:<{width}}  {value:<30}  target {target}")


if __name__ == "__main__":
    main()
