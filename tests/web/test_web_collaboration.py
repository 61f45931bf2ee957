"""Drafts kept on the server, comments in their own table, saved inbox views shared with a role, change requests open
to the industry, and a consultation response sent from the request page."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Forbidden, FormInvalid
from engine.store.models import AuditEvent, TaskDraft
from web.form_fields import to_raw

from .cc_answers import ANSWERS, RAISE, RESPONSE


def _review(gov, instance_id):
    return next(t for t in gov.tasks("carol") if t.instance_id == instance_id and t.element_id == "review")


def _actions(gov, action):
    with gov.db.read() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_draft_lives_on_the_server_and_goes_with_the_task(signed_in, web_gov, csrf_of):
    instance_id = web_gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    task = _review(web_gov, instance_id)
    client = signed_in("carol")
    html = client.get(f"/tasks/{task.id}").data.decode()
    long_note = "a long thought " * 400  # far more than a cookie could hold
    response = client.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(html), "_action": "draft",
                                                      "issues": long_note})
    assert response.status_code == 302
    assert web_gov.draft(task.id, "carol") == {"issues": long_note}
    assert "govflow_session" not in response.headers.get("Set-Cookie", "") or len(
        response.headers["Set-Cookie"]) < 1000
    fresh = signed_in("carol")  # a new session still finds it
    page = fresh.get(f"/tasks/{task.id}").data.decode()
    assert "a long thought" in page and 'id="draft-note"' in page
    assert _actions(web_gov, "task.draft_saved")
    fresh.post(f"/tasks/{task.id}", data={"csrf_token": csrf_of(page), "_action": "complete", "valid": "true"})
    with web_gov.db.read() as db:
        assert db.scalars(select(TaskDraft)).all() == []


def test_draft_refused_to_someone_without_the_role(web_gov):
    instance_id = web_gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    task = _review(web_gov, instance_id)
    with pytest.raises(Forbidden):
        web_gov.save_draft(task.id, "bob", {"issues": "sneaky"})
    assert web_gov.draft(task.id, "bob") is None
    assert any(e.details.get("attempted") == "draft" for e in _actions(web_gov, "access.denied"))


def test_comments_are_kept_in_their_table_with_an_audit_event(signed_in, web_gov, csrf_of):
    instance_id = web_gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    alice = signed_in("alice")
    page = alice.get(f"/requests/{instance_id}").data.decode()
    alice.post(f"/requests/{instance_id}/comments", data={"csrf_token": csrf_of(page), "comment": "Please hurry"})
    [comment] = web_gov.comments(instance_id)
    assert comment["author"] == "alice" and comment["body"] == "Please hurry"
    assert _actions(web_gov, "comment.added")[0].details["comment_id"] == comment["id"]
    with pytest.raises(FormInvalid):
        web_gov.add_comment(instance_id, "alice", "   ")
    with pytest.raises(Forbidden):
        web_gov.add_comment(instance_id, "olive", "Observers only read")


def test_saved_views_are_mine_or_shared_with_my_role(signed_in, web_gov, csrf_of):
    carol = signed_in("carol")
    page = carol.get("/?tab=groups&q=MPAN").data.decode()
    assert 'id="save-view"' in page and 'value="change_control_manager"' in page
    response = carol.post("/views", data={"csrf_token": csrf_of(page), "tab": "groups", "q": "MPAN",
                                          "view_name": "MPAN work", "share_with": "change_control_manager"})
    assert response.status_code == 302 and "q=MPAN" in response.headers["Location"]
    [saved] = web_gov.saved_filters("carol")
    assert saved["query"]["q"] == "MPAN" and saved["shared_with"] == "change_control_manager"
    assert "MPAN work" in carol.get("/").data.decode()
    opened = carol.get(f"/views/{saved['id']}")
    assert opened.status_code == 302 and "tab=groups" in opened.headers["Location"]
    # another change control manager sees it; a participant does not, and cannot open it
    from engine.services.identity import NewUser
    web_gov.add_user(NewUser("cara", "Cara Second", "cara@example.org", "pw-cara-123456",
                             ("change_control_manager",)))
    assert [v["name"] for v in web_gov.saved_filters("cara")] == ["MPAN work"]
    assert web_gov.saved_filters("bob") == []
    bob = signed_in("bob")
    assert bob.get(f"/views/{saved['id']}").status_code == 403
    # only the owner deletes; sharing is limited to my own roles and groups
    token = csrf_of(bob.get("/").data.decode())
    assert bob.post(f"/views/{saved['id']}/delete", data={"csrf_token": token}).status_code == 403
    with pytest.raises(FormInvalid):
        web_gov.save_filter("bob", "Mine", {"tab": "groups"}, shared_with="change_control_manager")
    carol = signed_in("carol")
    token = csrf_of(carol.get("/").data.decode())
    assert carol.post(f"/views/{saved['id']}/delete", data={"csrf_token": token}).status_code == 302
    assert web_gov.saved_filters("carol") == []
    assert {e.action for e in _actions(web_gov, "saved_filter.created") + _actions(web_gov, "saved_filter.deleted")} \
        == {"saved_filter.created", "saved_filter.deleted"}


def _to_consultation(gov):
    instance_id = gov.start("change_control", "alice", RAISE).instance_id
    for element, who in [("validate", "carol"), ("triage", "carol"), ("impact_assessment", "will"),
                         ("amend", "carol"), ("issue_consultation", "carol")]:
        task = next(t for t in gov.tasks(who) if t.instance_id == instance_id and t.element_id == element)
        gov.complete(task.id, who, ANSWERS[element])
    return instance_id



def test_a_participant_sees_requests_open_to_the_industry_and_responds(signed_in, web_gov, csrf_of):
    private = web_gov.start("change_control", "alice", {**RAISE, "title": "Not yet validated"}).instance_id
    instance_id = _to_consultation(web_gov)
    bob = signed_in("bob")
    listing = bob.get("/requests/?scope=all").data.decode()
    assert RAISE["title"] in listing and "Not yet validated" not in listing and "Open to the industry" in listing
    assert bob.get(f"/requests/{private}").status_code == 403
    page = bob.get(f"/requests/{instance_id}").data.decode()
    assert 'id="message-consultation-response"' in page
    form = bob.get(f"/requests/{instance_id}/messages/consultation_response").data.decode()
    assert "Respond to the consultation" in form
    schema = web_gov.open_messages(instance_id, "bob")[0]["schema"]
    refused = bob.post(f"/requests/{instance_id}/messages/consultation_response", data={"csrf_token": csrf_of(form)})
    assert refused.status_code == 422 and "govuk-error-summary" in refused.data.decode()
    sent = bob.post(f"/requests/{instance_id}/messages/consultation_response",
                    data={**to_raw(schema, RESPONSE), "csrf_token": csrf_of(form)})
    assert sent.status_code == 302, sent.data.decode()[:2000]
    assert any(e["action"] == "message.received" for e in web_gov.show(instance_id)["history"])
    # the observer reads it and is offered nothing to send
    olive = signed_in("olive").get(f"/requests/{instance_id}").data.decode()
    assert RAISE["title"] in olive and 'id="messages"' not in olive
    assert signed_in("olive").get(f"/requests/{instance_id}/messages/consultation_response").status_code == 403


def test_a_message_page_shows_its_events_instructions_filled_from_the_request(signed_in, web_gov):
    instance_id = _to_consultation(web_gov)
    reference = web_gov.show(instance_id)["reference"]
    page = signed_in("alice").get(f"/requests/{instance_id}/messages/withdraw").data.decode()
    instructions = page.split('id="instructions"', 1)[1].split("</div>", 1)[0]
    assert f"Withdraw <strong>{reference}</strong>" in instructions
    assert "any time before the decision body" in instructions
