"""Simulating a draft with ordered steps: messages sent (consultation responses, a withdrawal) and timers fired
(the consultation window closing), shown in the path; nothing is stored."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from engine.errors import GovflowError
from engine.services.library import Library, SimulationEvent
from engine.store.models import AuditEvent, Instance, Timer

from tests.scenarios.change_control_driver import ANSWERS, RESPONSE

from .helpers import raise_data

PID = "change_control"
TO_CONSULTATION = {k: ANSWERS[k] for k in ("validate", "triage", "impact_assessment", "amend", "issue_consultation")}


@pytest.fixture
def library(gov):
    library = Library(gov)
    library.open_draft(PID, "ann")
    return library


def ids(steps):
    return [s.element_id for s in steps]


def test_messages_and_timers_move_the_simulation_on(gov, library):
    with gov.db.read() as session:
        counts = (session.scalar(select(func.count()).select_from(Instance)),
                  session.scalar(select(func.count()).select_from(Timer)),
                  session.scalar(select(func.count()).select_from(AuditEvent)))
    waiting = library.simulate(PID, raise_data(), TO_CONSULTATION)
    assert waiting.error is None, waiting.error
    assert "receive_response" in ids(waiting.waiting)
    window = next(w for w in waiting.waiting if w.element_id == "window_closes")
    assert window.detail.startswith("timer due ")

    events = [SimulationEvent("message", "consultation_response", RESPONSE),
              SimulationEvent("message", "consultation_response", dict(RESPONSE, position="oppose")),
              SimulationEvent("timer", "window_closes")]
    result = library.simulate(PID, raise_data(), TO_CONSULTATION, events)
    assert result.error is None, result.error
    marks = [(s.event, s.element_id) for s in result.path if s.event]
    assert marks[:2] == [("message", "receive_response")] * 2 and marks[2] == ("timer", "window_closes")
    steps = ids(result.path)
    assert steps.index("issue_consultation") < steps.index("receive_response") < steps.index("window_closes")
    assert [r["position"] for r in result.data["consultation_responses"]] == ["support", "oppose"]
    assert result.ended_at == window.detail.removeprefix("timer due ")  # the clock moved to the deadline
    assert "review" in ids(result.waiting) and "receive_response" not in ids(result.waiting)
    assert result.unused_events == []
    with gov.db.read() as session:  # nothing persisted: no instance, no timer, no audit event
        assert counts == (session.scalar(select(func.count()).select_from(Instance)),
                          session.scalar(select(func.count()).select_from(Timer)),
                          session.scalar(select(func.count()).select_from(AuditEvent)))


def test_a_step_that_cannot_happen_stops_the_run_with_the_reason(library):
    result = library.simulate(PID, raise_data(), {}, [SimulationEvent("message", "consultation_response", RESPONSE),
                                                       SimulationEvent("timer", "window_closes")])
    assert result.error.startswith("step 1: nothing waits for the message 'consultation_response' here")
    assert "withdraw" in result.error and "validate" in ids(result.waiting)
    assert result.unused_events == ["fire the timer 'window_closes'"]
    bad = library.simulate(PID, raise_data(), TO_CONSULTATION,
                           [SimulationEvent("message", "consultation_response", {"position": "maybe"})])
    assert "does not fit its form" in bad.error
    early = library.simulate(PID, raise_data(), {}, [SimulationEvent("timer", "window_closes")])
    assert "no timer 'window_closes' is waiting here" in early.error


def test_a_withdrawal_message_ends_the_request(library):
    result = library.simulate(PID, raise_data(), {}, [SimulationEvent("message", "withdraw", {"reason": "Not needed"})])
    assert result.error is None, result.error
    assert ("message", "withdraw") in [(s.event, s.element_id) for s in result.path]
    assert result.completed


def test_steps_are_checked_before_running():
    assert SimulationEvent.parse({"kind": "timer"}, 1) == SimulationEvent("timer")
    for raw, reason in (([], "give an object"), ({"kind": "signal"}, "'message' or 'timer'"),
                        ({"kind": "message"}, "which message"), ({"kind": "message", "name": "x", "data": [1]},
                                                                 "JSON object")):
        with pytest.raises(GovflowError, match=reason):
            SimulationEvent.parse(raw, 2)


def test_the_simulate_page_takes_ordered_steps_and_shows_each_event(signed_in):
    client = signed_in("ann")
    client.post(f"/library/{PID}/draft", data={"csrf_token": client.csrf})
    page = client.get(f"/library/{PID}/draft/simulate").data.decode()
    assert 'name="step_kind-1"' in page and 'name="step_kind-2"' not in page
    assert '<option value="consultation_response">' in page and '<option value="window_closes">' in page
    form = {"csrf_token": client.csrf, "start_data": json.dumps(raise_data()), "answers": json.dumps(TO_CONSULTATION),
            "step_count": "2", "step_kind-0": "message", "step_name-0": "consultation_response",
            "step_data-0": json.dumps(RESPONSE), "step_kind-1": "timer", "step_name-1": "window_closes",
            "step_data-1": ""}
    added = client.post(f"/library/{PID}/draft/simulate", data=dict(form, action="add-step")).data.decode()
    assert 'name="step_kind-2"' in added and 'id="simulation-path"' not in added  # nothing ran
    assert 'value="consultation_response"' in added  # the rows are kept
    text = client.post(f"/library/{PID}/draft/simulate", data=dict(form, action="run")).data.decode()
    path = text[text.index('id="simulation-path"'):text.index("</ol>", text.index('id="simulation-path"'))]
    assert path.index('data-event="message" data-element-id="receive_response"') < path.index(
        'data-event="timer" data-element-id="window_closes"')
    assert "Message &#39;consultation_response&#39; sent" in path and "the clock moved to" in path
    assert 'data-element-id="issue_consultation"' in path
    broken = client.post(f"/library/{PID}/draft/simulate", data=dict(form, action="run", **{"step_data-0": "{oops"}))
    assert broken.status_code == 422 and 'id="step-error-0"' in broken.data.decode()
    assert 'id="simulation-path"' not in broken.data.decode()
    as_json = client.post(f"/library/{PID}/draft/simulate", headers={"Accept": "application/json"}, data={
        "csrf_token": client.csrf, "start_data": json.dumps(raise_data()), "answers": "{}",
        "steps": json.dumps([{"kind": "message", "name": "withdraw", "data": {"reason": "Not needed"}}])}).json
    assert as_json["completed"] and [s["event"] for s in as_json["path"] if s["event"]] == ["message"]
    no_csrf = client.post(f"/library/{PID}/draft/simulate", data={k: v for k, v in form.items() if k != "csrf_token"})
    assert no_csrf.status_code == 400
