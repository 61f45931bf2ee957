"""Every construct runs the same through govflow, one fresh engine per command, as in SpiffWorkflow in memory."""
from __future__ import annotations

import pytest

from engine.bpmn.definitions import DeploymentError

from .cases import CASES, SPIFF_MISRUNS
from .driver import FORMS, run_case

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


@pytest.mark.parametrize("case", SPIFF_MISRUNS, ids=str)
def test_what_spiffworkflow_runs_wrongly_is_refused_at_deploy(case, gov):
    """The models SpiffWorkflow 3.2 runs differently from BPMN are refused in plain words, never left to strand."""
    with pytest.raises(DeploymentError) as refused:
        gov.validate(case.files, forms_dir=FORMS)
    reasons = [p.reason for p in refused.value.problems]
    assert reasons and all(r.startswith("not supported by govflow: ") for r in reasons), reasons
    assert all(p.line and p.element_id for p in refused.value.problems)
