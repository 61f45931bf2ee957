"""The resource limits where they matter: a task's completion whose script hits one fails within a second with the
reason and line as a ProcessError (nothing is saved, the task stays open, the worker carries on), and one instance
changing the list setting('lst') gave it changes nothing the next instance of the version sees."""
from __future__ import annotations

import time

import pytest

from engine.errors import ProcessError

from ..conftest import FIXTURES


@pytest.fixture
def lgov(gov):
    gov.deploy([FIXTURES / "limits"], forms_dir=FIXTURES / "limits_forms", note="resource limits")
    return gov


def complete_probe(gov, kind: str, size: int) -> int:
    instance_id = gov.start("limits", "alice").instance_id
    task = next(t for t in gov.tasks("alice") if t.instance_id == instance_id and t.element_id == "probe")
    gov.complete(task.id, "alice", {"kind": kind, "size": size})
    return instance_id


@pytest.mark.parametrize("kind, size, reason", [
    ("ljust", 10**9, "Script refused: padding wider than 1,000,000 characters is not allowed (line 3)"),
    ("sum", 100, "Script refused: the result would be too large (more than 1,000,000 items and characters in all"),
    ("join", 1000, "Script refused: the result would be too large (more than 1,000,000 items and characters in all"),
    ("fstring", 10**9, "Script refused: an f-string field wider than 1,000,000 characters is not allowed (line 10)"),
    ("add_working_days", 10**7, "add_working_days(start, n) needs n from -5,000 to 5,000, not 10,000,000"),
    ("between", 1, "working_days_between counts over at most 20 years"),
    ("memory", 1000, "Script stopped: it used more than 256 MB of memory (line 16)"),
])
def test_a_probe_fails_the_completion_fast_with_its_reason_and_nothing_is_saved(lgov, kind, size, reason):
    started = time.monotonic()
    with pytest.raises(ProcessError) as failed:
        complete_probe(lgov, kind, size)
    assert time.monotonic() - started < 5.0  # wall time on a shared machine; the scripts stop within 1 s of CPU
    assert "The process could not continue at 'Run the probe'" in str(failed.value)
    assert reason in str(failed.value)
    [task] = [t for t in lgov.tasks("alice") if t.element_id == "probe"]
    assert task.status == "ready", "the completion rolled back: the task is still to do"
    complete_probe(lgov, "none", 0)  # and the worker carries on


def test_what_one_instance_does_to_a_setting_no_other_sees(lgov):
    first, second = complete_probe(lgov, "none", 0), complete_probe(lgov, "none", 0)
    assert lgov.show(first)["data"]["seen"] == 3 and lgov.show(second)["data"]["seen"] == 3
    assert lgov.show(second)["data"]["lst"] == [1, 2, 1]
