"""No task is ever created already overdue (tests/scenarios/RULES.md, "Governance fidelity"): the amendment cut-off
closes before the next papers deadline, so the PMO's "issue the amended report" task appears with time to do it; the
settings that would make them coincide are refused by `govflow validate` and by a deployment; and a task created
overdue all the same opens a `created_overdue` incident told to the admins and to the analysts, who own the dates."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from cli.commands import govflow as govflow_cli
from engine.config import PROJECT_ROOT
from engine.bpmn.definitions import DeploymentError
from engine.governance.meetings import meetings, schedule_usual_meetings, start_meeting_cycle
from engine.governance.seats import assign_seat

from ..conftest import FIXTURES
from .test_meeting_cycle import RECORDING, do, open_task

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_amended_report_task_appears_before_its_due_date(gov, clock):
    """The 6 Jan 2027 PSG: papers due Tue 29 Dec; amendment requests close at the end of Thu 24 Dec (6 working days
    before, over Christmas); the PMO's amended-report task appears then, due with the papers."""
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    schedule_usual_meetings(gov, date(2026, 12, 1), date(2027, 2, 28), by="pat", group_id="PSG")
    december = next(m for m in meetings(gov, "PSG") if m["held_on"] == date(2026, 12, 2))
    iid = start_meeting_cycle(gov, december["id"], "pat").instance_id
    do(gov, "pat", iid, "publish_papers", papers_published_on="2026-12-01")
    clock.set(at(2026, 12, 2, 15))
    do(gov, "sam", iid, "hold_meeting", recording_reference="PSG-2026-12-02.mp4",
       recording_started_at="2026-12-02T10:00:00+00:00", decisions=[], actions=[])
    clock.set(at(2026, 12, 4, 10))
    do(gov, "pat", iid, "headline_report", recording_link=RECORDING,
       headline_published_on="2026-12-04", headline_summary="No decisions.")
    data = gov.show(iid)["data"]
    assert (data["amendment_cutoff_on"], data["next_papers_due_on"]) == ("2026-12-24", "2026-12-29")
    clock.set(at(2026, 12, 24, 17))
    gov.fire_due_timers()
    amended = open_task(gov, "pat", iid, "issue_amended_report")
    assert amended.due_at == at(2026, 12, 29, 17) and amended.due_at > clock.now()
    assert [i for i in gov.incidents(include_closed=True) if i["kind"] == "created_overdue"] == []


@pytest.fixture
def coinciding(tmp_path):
    """processes/ with the amendment cut-off on the papers deadline (both 5 working days before the meeting)."""
    folder = tmp_path / "processes"
    shutil.copytree(PROJECT_ROOT / "processes", folder)
    settings = folder / "settings.yaml"
    text = settings.read_text()
    assert "amendment_request_days_before_next_meeting: 6\n" in text
    settings.write_text(text.replace("amendment_request_days_before_next_meeting: 6\n",
                                     "amendment_request_days_before_next_meeting: 5\n"))
    return folder


def test_a_cut_off_on_the_papers_deadline_is_refused_by_validate(coinciding):
    result = CliRunner().invoke(govflow_cli, ["validate", str(coinciding)])
    assert result.exit_code != 0
    assert ("settings.yaml: setting check amendment_request_days_before_next_meeting > papers_days_before_meeting "
            "does not hold (amendment_request_days_before_next_meeting is 5, papers_days_before_meeting is 5)"
            in result.output)


def test_a_cut_off_on_the_papers_deadline_is_refused_by_a_deployment(gov, coinciding):
    with pytest.raises(DeploymentError, match="amendment_request_days_before_next_meeting is 5"):
        gov.deploy([coinciding], note="cut-off on the papers deadline")


def test_a_task_created_overdue_all_the_same_is_an_incident_told_to_the_analysts(gov, clock):
    gov.deploy([FIXTURES / "incidents"], forms_dir=FIXTURES / "incidents_forms", note="incident fixtures")
    started = gov.start("overdue", "alice", {"due": at(2026, 11, 30, 17).isoformat()})
    [incident] = gov.incidents()
    assert (incident["kind"], incident["instance_id"]) == ("created_overdue", started.instance_id)
    for told in ("admin", "ann"):  # the admins, and the analysts who own the diagram's dates and settings
        assert any(n["subject"].startswith("Task created overdue") for n in gov.notifications(told)), told
    assert not [n for n in gov.notifications("alice") if n["subject"].startswith("Task created overdue")]
