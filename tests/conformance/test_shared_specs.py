"""A version's specs are parsed once and shared by its instances: running one instance must not change how the next
behaves (SpiffWorkflow itself changes a spec when an event subprocess is first triggered)."""
from __future__ import annotations

import pytest

from .cases import CASES
from .driver import run_case

pytestmark = pytest.mark.postgres

EVENT_SUBPROCESS = next(c for c in CASES if c.name == "non-interrupting event subprocess, message")


def test_triggering_an_event_subprocess_leaves_the_next_instance_as_the_first_began(database_url, tmp_path):
    _oracle, real = run_case(EVENT_SUBPROCESS, database_url, tmp_path)  # deployed, and run once as in memory
    gov = real.engine()  # one engine, one cache, as a long-lived web worker
    try:
        first = gov.start(EVENT_SUBPROCESS.process_id, "alice", {}).instance_id
        gov.send_message(first, "note", "alice", {"text": "hi"})  # triggers the event subprocess
        second = gov.start(EVENT_SUBPROCESS.process_id, "alice", {}).instance_id
        opened = gov.show(second)
        assert [t["element_id"] for t in opened["tasks"]] == ["work"], "only the main flow's first task"
        assert [(m["kind"], m["message"]) for m in opened["messages"]] == [("message", "note")]
        gov.send_message(second, "note", "alice", {"text": "hi"})
        assert sorted(t["element_id"] for t in gov.show(second)["tasks"] if t["status"] == "ready") == [
            "read_note", "work"]
    finally:
        gov.db.dispose()


def test_a_spec_used_by_many_instances_in_one_engine_runs_each_as_in_memory(database_url, tmp_path):
    """Two instances of the loop case driven in turns on one engine: each ends as it does alone."""
    case = next(c for c in CASES if c.name == "standard loop, loopMaximum")
    _oracle, real = run_case(case, database_url, tmp_path)
    gov = real.engine()
    try:
        a = gov.start(case.process_id, "alice", {}).instance_id
        b = gov.start(case.process_id, "alice", {}).instance_id
        for _ in range(3):
            for instance_id in (a, b):
                task = next(t for t in gov.show(instance_id)["tasks"] if t["status"] == "ready")
                gov.complete(task["id"], "alice", {"n": 1})
        assert [gov.show(i)["status"] for i in (a, b)] == ["completed", "completed"]
    finally:
        gov.db.dispose()
