"""A deep page by offset against the same page by key: page 100 (25 a page) of 10,000 instances, newest first, and
of the register sorted by title, on SQLite and (when its server binaries are installed) PostgreSQL. The rows' query
alone, then the whole service call the API makes (with its count of all matching rows). Not a pass/fail test.

Run: .venv/bin/python -m bench.keyset_paging [--no-postgres] [--runs 21]
"""
from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.governance.register import RegisterQuery
from engine.platform import Govflow
from engine.services.collaboration import INSTANCE_ORDER
from engine.services.identity import NewUser
from engine.store import keyset
from engine.store.models import Instance, ProcessVersion

PAGE, SIZE, INSTANCES = 100, 25, 10_000
NOW = datetime(2027, 6, 1, 9, tzinfo=UTC)


def build(url: str, folder: Path) -> Govflow:
    """govflow with 10,000 change requests raised by 20 people over two years (a few at the same minute)."""
    gov = Govflow(Config(database_url=url, instance_dir=folder, processes_dir=PROJECT_ROOT / "processes",
                         forms_dir=PROJECT_ROOT / "forms"), Clock(NOW))
    gov.init()
    gov.add_user(NewUser("pat", "Pat Patel", "", "bench password 123", ("pmo",), "Lead Delivery Partner", None))
    for n in range(20):
        gov.add_user(NewUser(f"raiser{n}", f"Raiser {n}", "", "", ("participant",), f"Supplier {n}", "DNO"))
    rng = random.Random(6)
    start = datetime(2025, 6, 1, 9, tzinfo=UTC)
    with gov.db.write() as db:
        version = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "change_control"))
        rows = []
        for i in range(1, INSTANCES + 1):
            started = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 700))
            rows.append({"process_version_id": version, "process_id": "change_control", "status": "running",
                         "reference": f"CR{i:05d}", "title": f"Change request {rng.randrange(10 ** 6)}",
                         "state": "submitted", "started_by": f"raiser{i % 20}", "started_at": started,
                         "updated_at": started, "facts": {}, "workflow_state": "{}", "revision": 1})
        db.execute(insert(Instance), rows)
    return gov


def medians_ms(by_offset, by_key, runs: int) -> tuple[float, float]:
    """Median milliseconds of each, their runs interleaved (the machine's other load falls on both alike)."""
    by_offset(), by_key()  # warm
    found: tuple[list, list] = ([], [])
    for _ in range(runs):
        for fn, into in ((by_offset, found[0]), (by_key, found[1])):
            t = time.perf_counter()
            fn()
            into.append(time.perf_counter() - t)
    return statistics.median(found[0]) * 1000, statistics.median(found[1]) * 1000


def measure(label: str, gov, runs: int) -> None:
    offset = (PAGE - 1) * SIZE
    with gov.db.read() as session:  # the key of page 99's last row, as its next_cursor carries it
        last = session.execute(select(Instance.started_at, Instance.id).order_by(*keyset.order_by(INSTANCE_ORDER))
                               .offset(offset - 1).limit(1)).one()
    key = keyset.key_of(last)

    def rows_by_offset():
        with gov.db.read() as session:
            return session.scalars(select(Instance).order_by(*keyset.order_by(INSTANCE_ORDER))
                                   .offset(offset).limit(SIZE)).all()

    def rows_by_key():
        with gov.db.read() as session:
            return keyset.rows_after(session, select(Instance), INSTANCE_ORDER, key, SIZE)[0]

    assert [r.id for r in rows_by_offset()] == [r.id for r, in rows_by_key()]
    title = RegisterQuery(sort="title", descending=False, page=PAGE, page_size=SIZE)
    register_rows = gov.register.page(title.with_page(PAGE - 1))[0]
    title_key = [register_rows[-1]["title"], register_rows[-1]["id"]]
    assert gov.register.page(title)[0] == gov.register.page_after(title, title_key, SIZE)[0]
    pat = "pat"
    figures = [
        ("instances, the rows' query", medians_ms(rows_by_offset, rows_by_key, runs)),
        ("gov.instances (visible, with its count)",
         medians_ms(lambda: gov.instances(pat, "visible", PAGE, SIZE),
                    lambda: gov.instances_after(pat, "visible", key, SIZE), runs)),
        ("register by title (with its count)",
         medians_ms(lambda: gov.register.page(title), lambda: gov.register.page_after(title, title_key, SIZE), runs)),
    ]
    print(f"\n{label}: page {PAGE} of {SIZE} a page, {INSTANCES} instances, median of {runs} (offset | by key)")
    for name, (offset_ms, key_ms) in figures:
        print(f"  {name:<44} {offset_ms:8.2f} ms | {key_ms:8.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        gov = build(f"sqlite:///{folder}/bench.db", Path(folder) / "i")
        measure("SQLite", gov, args.runs)
        gov.db.dispose()
        if args.no_postgres:
            return 0
        from tests.postgres_cluster import Cluster, find_pg_bin
        pg_bin = find_pg_bin()
        if pg_bin is None:
            print("PostgreSQL: no server binaries found")
            return 0
        cluster = Cluster(pg_bin).start()
        try:
            gov = build(cluster.create_database("bench_keyset"), Path(folder) / "p")
            with gov.db.write() as session:
                session.execute(text("ANALYZE"))
            measure("PostgreSQL", gov, args.runs)
            gov.db.dispose()
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
