"""Managers' views at scale: 10,000 instances and 200,000 audit events (plus ~40,000 tasks) on SQLite, and on
PostgreSQL when its server binaries are installed. Prints each figure beside its target (not a pass/fail test).

Run: .venv/bin/python -m bench.manager_views [--quick] [--no-postgres]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import insert, select

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.services.identity import NewUser
from engine.store.models import AuditEvent, HumanTask, Instance, ProcessVersion, Timer
from engine.platform import Govflow

NOW = datetime(2027, 6, 1, 9, tzinfo=timezone.utc)
PASSWORD = "bench password 123"
STATES = ["submitted", "validated", "impact_assessment", "in_consultation", "awaiting_decision", "approved",
          "rejected", "closed", "withdrawn"]
ELEMENTS = ["validate", "triage", "impact_assessment", "amend", "issue_consultation", "review", "table", "decide",
            "communicate", "action_change"]
BODIES = ["PSG", "DAG", "CCAG", "SITAG", "MCAG"]
TARGET_RENDER_MS = 300
TARGET_EXPORT_S = 3.0


def build(url: str, folder: Path, instances: int, events: int) -> Govflow:
    config = Config(database_url=url, instance_dir=folder, processes_dir=PROJECT_ROOT / "processes",
                    forms_dir=PROJECT_ROOT / "forms")
    gov = Govflow(config, Clock(NOW))
    gov.init()
    gov.add_user(NewUser("pat", "Pat Patel", "", PASSWORD, ("pmo",), "Lead Delivery Partner", None))
    orgs = [(f"Supplier {n}", c) for n, c in enumerate(["SUPPLIER_LARGE", "SUPPLIER_SMALL", "DNO", "AGENT"] * 5)]
    for n, (org, constituency) in enumerate(orgs):
        gov.add_user(NewUser(f"raiser{n}", f"Raiser {n}", "", "", ("participant",), org, constituency))
    rng = random.Random(6)
    start = datetime(2025, 6, 1, 9, tzinfo=timezone.utc)
    with gov.db.write() as db:
        version = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "change_control"))
        rows = []
        for i in range(1, instances + 1):
            started = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
            state = rng.choice(STATES)
            done = state in ("closed", "withdrawn", "rejected")
            rows.append(dict(id=i, process_version_id=version, process_id="change_control",
                             status="completed" if done else "running", reference=f"CR{i:05d}",
                             title=f"Change request {i} about {rng.choice(['MPAN', 'settlement', 'M10', 'data'])}",
                             state=state, started_by=f"raiser{i % len(orgs)}", started_at=started,
                             updated_at=started, ended_at=started + timedelta(days=rng.randrange(20, 200))
                             if done else None,
                             facts={"decision_body": rng.choice(BODIES), "outcome_label": "Accept" if done else None,
                                    "final_decided_at": (started + timedelta(days=15)).date().isoformat()},
                             workflow_state="{}", revision=1))
        db.execute(insert(Instance), rows)
        if not gov.db.is_sqlite:  # ids were given: move the sequence past them
            from sqlalchemy import text
            db.execute(text("SELECT setval('instance_id_seq', (SELECT max(id) FROM instance))"))
        tasks, audit_rows, timers = [], [], []
        for i in range(1, instances + 1):
            started = rows[i - 1]["started_at"]
            moment = started
            for k, element in enumerate(ELEMENTS[:4]):
                created = moment
                moment = created + timedelta(hours=rng.randrange(2, 24 * 15))
                open_now = k == 3 and rows[i - 1]["status"] == "running"
                tasks.append(dict(id=f"{i:06d}-{k}", instance_id=i, process_id="change_control",
                                  element_id=element if k < 3 else rng.choice(ELEMENTS[3:]), name=element.title(),
                                  lane="Change Control Manager", group_id=rng.choice(BODIES) if k == 3 else None,
                                  status="ready" if open_now else "completed", created_at=created,
                                  completed_at=None if open_now else moment,
                                  due_at=created + timedelta(days=rng.randrange(3, 20)), form=None))
            if rows[i - 1]["status"] == "running" and i % 3 == 0:
                timers.append(dict(instance_id=i, task_id=f"timer-{i}", element_id="communication_overdue_timer",
                                   name="Communication overdue", due_at=NOW + timedelta(days=5), status="waiting",
                                   attempts=0))
        db.execute(insert(HumanTask), tasks)
        db.execute(insert(Timer), timers)
        actions = ["task.created", "task.completed", "task.claimed", "timer.fired", "message.received"]
        for n in range(events):
            i = rng.randrange(1, instances + 1)
            audit_rows.append(dict(at=rows[i - 1]["started_at"] + timedelta(hours=n % 500), actor="carol",
                                   action=rng.choice(actions), instance_id=i, task_id=None,
                                   element_id=rng.choice(ELEMENTS), details={"data": {"n": n}}))
            if len(audit_rows) == 20_000:
                db.execute(insert(AuditEvent), audit_rows)
                audit_rows = []
        if audit_rows:
            db.execute(insert(AuditEvent), audit_rows)
    import json
    raise_data = json.loads((Path(__file__).parent / "change_request.json").read_text())
    # the form refuses a decision date before the clock's day ("x-govflow-not-before": "today")
    raise_data["requested_decision_date"] = (NOW + timedelta(days=60)).date().isoformat()
    gov.real_instance = gov.start("change_control", "raiser0", raise_data).instance_id  # a real state to draw
    return gov


def timed(fn, runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        found.append(time.perf_counter() - t)
    return found


def measure(label: str, gov: Govflow, runs: int) -> None:
    from web.app import create_app
    app = create_app(gov, TESTING=True, SECRET_KEY="bench")
    client = app.test_client()
    import re
    page = client.get("/sign-in").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/sign-in", data={"username": "pat", "password": PASSWORD, "csrf_token": token}).status_code == 302

    def get(path: str, expect: int = 200):
        def run():
            response = client.get(path)
            body = response.data
            assert response.status_code == expect, (path, response.status_code, body[:300])
            return body
        return run

    get("/manage/")()  # warm the caches (spec parse, templates)
    with gov.db.read() as db:
        version_id = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "change_control"))
    figures = [
        ("dashboard /manage/", timed(get("/manage/"), runs), TARGET_RENDER_MS / 1000),
        ("dashboard, PSG in 2026", timed(get("/manage/?group=PSG&from=2026-01-01&to=2026-12-31"), runs),
         TARGET_RENDER_MS / 1000),
        ("register page 1", timed(get("/manage/instances"), runs), TARGET_RENDER_MS / 1000),
        ("register page 100, sorted by title", timed(get("/manage/instances?page=100&sort=title&dir=asc"), runs),
         TARGET_RENDER_MS / 1000),
        ("register filtered (overdue, text)", timed(get("/manage/instances?overdue=1&q=mpan"), runs),
         TARGET_RENDER_MS / 1000),
        ("instance page", timed(get(f"/manage/instances/{gov.real_instance}"), runs), TARGET_RENDER_MS / 1000),
        ("heatmap", timed(get(f"/manage/versions/{version_id}/heatmap"), runs), TARGET_RENDER_MS / 1000),
        ("export CSV, 10,000 rows", timed(get("/manage/instances?format=csv"), max(1, runs // 3)), TARGET_EXPORT_S),
        ("export .xlsx, 10,000 rows", timed(get("/manage/instances?format=xlsx"), max(1, runs // 3)),
         TARGET_EXPORT_S),
    ]
    lines = client.get("/manage/instances?format=csv").data.decode().count("\n")
    print(f"\n{label}: CSV export has {lines - 1} rows")
    print(f"{'figure':40} {'median':>10} {'max':>10} {'target':>10}")
    for name, values, target in figures:
        median = statistics.median(values)
        verdict = "ok" if median <= target else "OVER"
        print(f"{name:40} {median * 1000:8.0f}ms {max(values) * 1000:8.0f}ms {target * 1000:8.0f}ms  {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 instances and 20,000 events")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    instances, events = (1000, 20_000) if args.quick else (10_000, 200_000)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        gov = build(f"sqlite:///{folder / 'bench.db'}", folder, instances, events)
        print(f"SQLite: {instances} instances, {events} audit events loaded in {time.perf_counter() - t:.1f}s")
        measure("SQLite", gov, args.runs)
        gov.db.dispose()
        if args.no_postgres:
            return 0
        from tests.postgres_cluster import Cluster, find_pg_bin
        pg_bin = find_pg_bin()
        if pg_bin is None:
            print("\nPostgreSQL server binaries not found: PostgreSQL figures skipped")
            return 0
        cluster = Cluster(pg_bin).start()
        try:
            url = cluster.create_database("bench_manager_views")
            t = time.perf_counter()
            gov = build(url, folder / "pg", instances, events)
            print(f"\nPostgreSQL: loaded in {time.perf_counter() - t:.1f}s")
            measure("PostgreSQL", gov, args.runs)
            gov.db.dispose()
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
