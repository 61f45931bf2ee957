"""Engine step costs on the change-control process, in-process on SQLite: prints each figure beside its target.

Run: .venv/bin/python -m bench.engine_steps [--quick]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import event

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.services.identity import NewUser
from engine.platform import Govflow

RAISE = json.loads((Path(__file__).parent / "change_request.json").read_text())
INVALID = {"valid": False, "validation_issues": "Please add the impacted milestones.", "validation_notes": ""}
RESUBMIT = {**RAISE, "response_to_issues": "Added the impacted milestones."}
VALID = {"valid": True, "validation_notes": "Complete."}
TRIAGE = {"category": "plan", "decision_body": "PSG", "urgency": "normal",
          "assessing_workstreams": "Programme planning"}


def setup(folder: Path) -> Govflow:
    config = Config(database_url=f"sqlite:///{folder / 'bench.db'}", instance_dir=folder,
                    processes_dir=PROJECT_ROOT / "processes", forms_dir=PROJECT_ROOT / "forms")
    gov = Govflow(config, Clock(datetime(2026, 12, 1, 9, tzinfo=timezone.utc)))
    gov.init()
    for username, roles in [("alice", ("participant",)), ("carol", ("change_control_manager", "participant"))]:
        gov.add_user(NewUser(username, username.title(), "", "", roles))
    return gov


def open_task(gov: Govflow, username: str, element_id: str, instance_id: int) -> str:
    return next(t.id for t in gov.tasks(username) if t.element_id == element_id and t.instance_id == instance_id)


@contextmanager
def counting_statements(gov: Govflow):
    counter = {"n": 0}
    caller = threading.get_ident()

    def count(*_args, **_kwargs):
        if threading.get_ident() == caller:  # the command's own statements, not the notification worker's
            counter["n"] += 1

    event.listen(gov.db.engine, "before_cursor_execute", count)
    try:
        yield counter
    finally:
        event.remove(gov.db.engine, "before_cursor_execute", count)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def bench_start(gov: Govflow, n: int) -> tuple[float, list[int]]:
    times, ids = [], []
    for _ in range(n):
        holder = {}
        times.append(timed(lambda: holder.update(r=gov.start("change_control", "alice", RAISE))))
        ids.append(holder["r"].instance_id)
    return median(times), ids


def bench_complete(gov: Govflow, ids: list[int]) -> tuple[float, float, int]:
    """Complete `validate` (valid) on each instance: a mid-process step with a script, numbering and a new task."""
    tasks = [open_task(gov, "carol", "validate", i) for i in ids]
    times = []
    statements = []
    for task_id in tasks:
        with counting_statements(gov) as counter:
            times.append(timed(lambda: gov.complete(task_id, "carol", VALID)))
        statements.append(counter["n"])
    p95 = sorted(times)[int(len(times) * 0.95) - 1]
    return median(times), p95, int(median(statements))


def bench_loop(gov: Govflow, passes: list[int], sample: int) -> dict[int, float]:
    """Cost of completing `validate` after N passes through the engage-the-raiser loop: one instance per N, advanced
    there untimed, then timed round-robin (one pass of each instance per round), so a burst of load on this shared
    machine falls on every depth alike. An instance at N is timed at passes N .. N + sample - 1."""
    instances = {p: gov.start("change_control", "alice", RAISE).instance_id for p in passes}

    def one_pass(instance_id: int) -> float:
        task_id = open_task(gov, "carol", "validate", instance_id)
        ms = timed(lambda: gov.complete(task_id, "carol", INVALID))
        gov.complete(open_task(gov, "alice", "resolve_issues", instance_id), "alice", RESUBMIT)
        return ms

    for p, instance_id in instances.items():
        for _ in range(p - 1):
            one_pass(instance_id)
    results: dict[int, list[float]] = {p: [] for p in passes}
    for _ in range(sample):
        for p, instance_id in instances.items():
            results[p].append(one_pass(instance_id))
    return {p: median(v) for p, v in results.items()}


MI_ITEMS = 50


def bench_parallel_mi(gov: Govflow, instances: int) -> tuple[float, float, float]:
    """Complete each item of a 50-item parallel multi-instance user task, one command each, on several instances:
    (median of all items, median of the first five, median of the last five), taken across instances."""
    gov.deploy([Path(__file__).parent / "parallel_votes.bpmn"], forms_dir=Path(__file__).parent / "forms",
               note="benchmark")
    voters = [f"voter{i:02d}" for i in range(MI_ITEMS)]
    by_position: list[list[float]] = [[] for _ in range(MI_ITEMS)]
    for _ in range(instances):
        started = gov.start("parallel_votes", "alice", {"voters": voters})
        task_ids = list(started.new_task_ids)
        for position, task_id in enumerate(task_ids):
            by_position[position].append(timed(lambda: gov.complete(task_id, "alice", {"vote": "for"})))
        assert gov.show(started.instance_id)["status"] == "completed"
    every = [ms for column in by_position for ms in column]
    first = [ms for column in by_position[:5] for ms in column]
    last = [ms for column in by_position[-5:] for ms in column]
    return median(every), median(first), median(last)


def bench_floor(n: int) -> float:
    """The same step on a bare in-memory SpiffWorkflow: deserialize + complete `validate` + serialize."""
    from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
    from SpiffWorkflow.util.task import TaskState

    from engine.bpmn.definitions import collect_sources, load_bundle
    from engine.bpmn.sandbox import make_script_engine
    from engine.services.diagram_functions import script_functions

    bundle = load_bundle(collect_sources([PROJECT_ROOT / "processes"], PROJECT_ROOT / "forms"))
    spec = bundle.parser.get_spec("change_control")  # Spiff's own timers: its serializer knows only those
    subprocess_specs = bundle.parser.get_subprocess_specs("change_control")
    clock = Clock(datetime(2026, 12, 1, 9, tzinfo=timezone.utc))
    functions = script_functions(None, clock, bundle.settings, "change_control")
    functions["next_reference"] = lambda prefix: f"{prefix}001"
    functions["approved_total"] = lambda field: 0.0
    engine = make_script_engine(functions)
    engine.clock = clock
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=engine)
    workflow.task_tree.data.update(RAISE, started_by="alice", started_at=clock.now().isoformat(), instance_id=1)
    workflow.do_engine_steps()
    state = serializer.serialize_json(workflow)
    times = []
    for _ in range(n):
        def step():
            wf = serializer.deserialize_json(state)
            wf.script_engine = engine
            task = next(t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == "validate")
            task.set_data(**VALID)
            task.run()
            wf.do_engine_steps()
            serializer.serialize_json(wf)
        times.append(timed(step))
    return median(times)


def bench_audit(gov: Govflow) -> tuple[int, float, float]:
    """The audit trail's costs: (events, ms to verify them all, µs to hash one completion's event)."""
    started = time.perf_counter()
    verdict = gov.audit_trail.verify()
    verify_ms = (time.perf_counter() - started) * 1000
    assert verdict["intact"], verdict["first_break"]
    from engine.store.audit import chain
    event = {"at": datetime(2026, 12, 1, 9, tzinfo=timezone.utc), "actor": "carol", "action": "task.completed",
             "instance_id": 1, "task_id": "0" * 36, "element_id": "validate", "details": {"data": VALID}}
    started = time.perf_counter()
    for _ in range(1000):
        chain([dict(event)], 7, "f" * 64)
    return verdict["events"], verify_ms, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args()
    n = 10 if args.quick else 60
    passes = [1, 50, 200] if not args.quick else [1, 20]
    timed_passes = 5 if args.quick else 20
    with tempfile.TemporaryDirectory() as folder:
        gov = setup(Path(folder))
        start_ms, ids = bench_start(gov, n)
        complete_ms, complete_p95, statements = bench_complete(gov, ids)
        loop = bench_loop(gov, passes, sample=timed_passes)
        mi_all, mi_first, mi_last = bench_parallel_mi(gov, 3 if args.quick else 10)
        floor_ms = bench_floor(n)
        audit_events, verify_ms, hash_us = bench_audit(gov)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
          f"SQLite file database, in-process; medians of {n} runs")
    rows = [
        ("start a change request and reach the first task", f"{start_ms:.2f} ms", "-"),
        ("complete a mid-process user task incl. commit (median)", f"{complete_ms:.2f} ms", "<= 10 ms"),
        ("  same, p95", f"{complete_p95:.2f} ms", "-"),
        ("SQL statements per completion", f"{statements}", "<= 12 (SpiffArena ~91)"),
    ]
    for p, ms in loop.items():
        rows.append((f"complete `validate` at loop passes {p}-{p + timed_passes - 1}", f"{ms:.2f} ms", "-"))
    first, last = loop[passes[0]], loop[passes[-1]]
    rows.append((f"loop pass {passes[-1]} / pass {passes[0]}", f"{last / first:.2f} x", "<= 1.5 x"))
    rows.append((f"complete one item of a {MI_ITEMS}-item parallel multi-instance", f"{mi_all:.2f} ms", "-"))
    rows.append((f"  last five items / first five", f"{mi_last / mi_first:.2f} x", "<= 1.5 x"))
    rows.append(("bare in-memory SpiffWorkflow, same step (floor)", f"{floor_ms:.2f} ms", "-"))
    rows.append(("govflow / floor", f"{complete_ms / floor_ms:.2f} x", "-"))
    rows.append(("chain one audit event (canonical JSON + SHA-256)", f"{hash_us:.1f} µs", "-"))
    rows.append((f"govflow audit verify, {audit_events} events", f"{verify_ms:.0f} ms", "-"))
    width = max(len(r[0]) for r in rows)
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}   target {target}")


if __name__ == "__main__":
    main()
