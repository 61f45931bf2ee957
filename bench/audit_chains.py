"""Concurrent writers on the audit trail's hash chains, on PostgreSQL (and SQLite): eight threads at once, each
changing its own notification preference (the global chain, one head for all) or commenting on its own request (its
instance's chain), then the whole trail verified. Prints throughput and latency beside the number of writers.

Run: .venv/bin/python -m bench.audit_chains [--quick] [--no-postgres]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.platform import Govflow
from engine.services.identity import NewUser

RAISE = json.loads((Path(__file__).parent / "change_request.json").read_text())
WRITERS = 8


def setup(url: str, folder: Path) -> Govflow:
    config = Config(database_url=url, instance_dir=folder, processes_dir=PROJECT_ROOT / "processes",
                    forms_dir=PROJECT_ROOT / "forms")
    gov = Govflow(config, Clock(datetime(2026, 12, 1, 9, tzinfo=timezone.utc)))
    gov.init()
    for n in range(WRITERS):
        gov.add_user(NewUser(f"p{n}", f"P {n}", "", "", ("participant",)))
    return gov


def run(gov: Govflow, kind: str, per_writer: int) -> tuple[float, float, float]:
    """(operations per second, median ms, p95 ms) of WRITERS threads doing `per_writer` writes each."""
    instances = [gov.start("change_control", f"p{n}", RAISE).instance_id for n in range(WRITERS)] \
        if kind == "instance" else []
    gov.effects.wait_idle()
    times, errors = [], []

    def writer(n: int) -> None:
        try:
            for i in range(per_writer):
                started = time.perf_counter()
                if kind == "global":
                    gov.set_notification_preference(f"p{n}", ("digest", "immediate")[i % 2])
                else:
                    gov.add_comment(instances[n], f"p{n}", f"comment {i}")
                times.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 (reported)
            errors.append(repr(error))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise SystemExit(f"{kind}: {errors[:3]}")
    times.sort()
    return len(times) / elapsed, statistics.median(times) * 1000, times[int(len(times) * 0.95) - 1] * 1000


def report(name: str, gov: Govflow, per_writer: int) -> None:
    for kind in ("global", "instance"):
        rate, med, p95 = run(gov, kind, per_writer)
        print(f"{name:<10} {kind:<9} chain, {WRITERS} writers x {per_writer}: {rate:7.1f} writes/s   median "
              f"{med:6.1f} ms   p95 {p95:6.1f} ms")
    trail = getattr(gov, "audit_trail", None)
    if trail is not None:
        started = time.perf_counter()
        verdict = trail.verify()
        print(f"{name:<10} verify {verdict['events']} events in {verdict['chains']} chains: "
              f"{'intact' if verdict['intact'] else 'BROKEN ' + str(verdict['first_break'])} "
              f"({(time.perf_counter() - started) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    per_writer = 10 if args.quick else 40
    with tempfile.TemporaryDirectory() as folder:
        gov = setup(f"sqlite:///{folder}/bench.db", Path(folder))
        report("SQLite", gov, per_writer)
        gov.db.dispose()
    if args.no_postgres:
        return
    from tests.postgres_cluster import Cluster, find_pg_bin
    cluster = Cluster(find_pg_bin()).start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            gov = setup(cluster.create_database("bench"), Path(folder))
            report("PostgreSQL", gov, per_writer)
            gov.db.dispose()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
