"""A command's background deliveries (here: announcing the task it created) are made once the server has written the
response (its last chunk taken, or the body closed), in the request's own thread; never before it, never lost
(web/after_response.py)."""
from __future__ import annotations

import contextvars

import pytest
from sqlalchemy import select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from engine.store.models import OutboxEffect
from tests.api.test_api_work import raise_cr, validate_task
from tests.web.cc_answers import ANSWERS
from web.after_response import DeliverAfterResponse


def announcements(gov, instance_id: int) -> list[str]:
    """The status of each task announcement of the instance, oldest first."""
    with gov.db.read() as session:
        return list(session.scalars(select(OutboxEffect.status).where(
            OutboxEffect.instance_id == instance_id, OutboxEffect.kind == "announce_tasks").order_by(OutboxEffect.id)))


def completion(header: dict, task_id: str) -> dict:
    return EnvironBuilder(f"/api/v1/tasks/{task_id}/complete", method="POST", headers=header,
                          json={"data": ANSWERS["validate"]}).get_environ()


def held_completion(gov, app, client, bearer):
    """A validation task completed through the API with its response not yet written: (its instance, the
    announcements before, the response's body)."""
    alice, carol = bearer("alice"), bearer("carol")
    instance_id = raise_cr(client, alice)["instance_id"]
    task = validate_task(client, carol, instance_id)
    gov.effects.wait_idle()
    before = announcements(gov, instance_id)
    body, status, _headers = run_wsgi_app(app, completion(carol, task["id"]), buffered=False)
    assert status.startswith("200")
    return instance_id, before, body


def test_the_announcement_waits_until_the_response_is_written(gov, app, client, bearer):
    instance_id, before, body = held_completion(gov, app, client, bearer)
    assert gov.effects.holding  # held by this request, not given to the worker thread
    with pytest.raises(TimeoutError):  # and waited for like the worker's own (tests read what it delivered)
        gov.effects.wait_idle(timeout=0.2)
    assert announcements(gov, instance_id) == before + ["pending"], "written by the command, not yet delivered"
    chunks = iter(body)
    next(chunks)  # the server writes the response…
    assert announcements(gov, instance_id)[-1] == "pending"
    assert next(chunks, None) is None  # …and asks for more: the held delivery is made now, in this thread
    assert announcements(gov, instance_id) == before + ["delivered"]
    body.close()  # the close that follows makes nothing twice
    assert announcements(gov, instance_id) == before + ["delivered"]
    gov.effects.wait_idle(timeout=1)


def test_a_response_closed_before_its_end_still_delivers(gov, app, client, bearer):
    instance_id, before, body = held_completion(gov, app, client, bearer)
    body.close()  # the client went away mid-response: the server closes the body without reading it to the end
    assert announcements(gov, instance_id) == before + ["delivered"]
    gov.effects.wait_idle(timeout=1)


def test_a_response_never_finished_leaves_its_delivery_to_the_sweep(gov, app, client, bearer):
    # Werkzeug's server skips the close when the client resets the connection; its thread then ends
    request_thread = contextvars.Context()
    instance_id, before, _body = request_thread.run(held_completion, gov, app, client, bearer)
    del request_thread, _body
    gov.effects.wait_idle(timeout=1)  # no longer counted as pending…
    assert announcements(gov, instance_id) == before + ["pending"]
    gov.effects.deliver_due()  # …and still in the outbox, for the scheduler's sweep
    assert announcements(gov, instance_id) == before + ["delivered"]


def test_a_request_that_fails_after_its_command_committed_still_delivers(gov, client, bearer):
    alice, carol = bearer("alice"), bearer("carol")
    instance_id = raise_cr(client, alice)["instance_id"]
    task = validate_task(client, carol, instance_id)
    gov.effects.wait_idle()

    def failing_after_a_command(_environ, _start_response):
        gov.complete(task["id"], "carol", ANSWERS["validate"])
        raise RuntimeError("the response could not be made")

    with pytest.raises(RuntimeError):
        DeliverAfterResponse(failing_after_a_command, gov.effects)(completion(carol, task["id"]), None)
    assert announcements(gov, instance_id)[-1] == "delivered"
    assert not gov.effects.holding


def test_a_response_with_nothing_held_goes_back_as_it_came(gov):
    body = iter([b"a file"])  # e.g. the server's file wrapper, which it sends with sendfile
    middleware = DeliverAfterResponse(lambda _environ, _start_response: body, gov.effects)
    assert middleware(EnvironBuilder("/static/x.css").get_environ(), None) is body
    assert not gov.effects.holding
