"""Every construct runs the same through govflow, one fresh engine per command, as in SpiffWorkflow in memory."""
from __future__ import annotations

import pytest

from .cases import CASES
from .driver import run_case

pytestmark = pytest.mark.postgres


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_path_data_and_end_as_in_memory(case, database_url, tmp_path):
    oracle, real = run_case(case, database_url, tmp_path)
    assert real.observe().key() == oracle.observe().key()
    assert real.path() == oracle.finished, "the elements passed, in order"
    record = real.record()
    if record["status"] == "completed":
        assert real.data() == oracle.data()
    assert real.incidents() == [], "govflow reported the instance stranded"
    assert record["status"] == "completed" or case.ends_waiting, \
        f"{case} should run to its end: {real.observe()}"
