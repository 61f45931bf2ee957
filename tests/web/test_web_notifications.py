"""The in-app notifications page: the list with unread counts, mark as read, and the e-mail preference."""
from __future__ import annotations

import pytest

from tests.web.cc_answers import RAISE


@pytest.fixture
def told(web_gov):
    """carol (the CCM) is told of the new validation task when alice raises a change request."""
    web_gov.effects.background = False
    web_gov.start("change_control", "alice", RAISE)
    return web_gov


def test_unread_count_in_the_menu_and_the_list(told, signed_in):
    client = signed_in("carol")
    page = client.get("/").get_data(as_text=True)
    assert 'id="notifications-link"' in page and "1<span class=\"govuk-visually-hidden\"> unread</span>" in page
    listing = client.get("/notifications/").get_data(as_text=True)
    assert "New task: Validate the change request" in listing and "1 unread" in listing


def test_marking_read_and_choosing_the_digest(told, signed_in, csrf_of):
    client = signed_in("carol")
    token = csrf_of(client.get("/notifications/").data)
    [note] = told.notifications("carol")
    response = client.post("/notifications/read", data={"csrf_token": token, "notification": str(note["id"])})
    assert response.status_code == 302
    assert told.unread_count("carol") == 0
    response = client.post("/notifications/preference", data={"csrf_token": token, "preference": "digest"})
    assert response.status_code == 302 and told.notification_preference("carol") == "digest"
    client.post("/notifications/preference", data={"csrf_token": token, "preference": "sometimes"})
    assert told.notification_preference("carol") == "digest"  # a made-up choice changes nothing


def test_no_one_marks_someone_elses_notifications(told, signed_in, csrf_of):
    client = signed_in("bob")
    token = csrf_of(client.get("/notifications/").data)
    [note] = told.notifications("carol")
    response = client.post("/notifications/read", data={"csrf_token": token, "notification": str(note["id"])})
    assert response.status_code == 403
    assert told.unread_count("carol") == 1


def test_a_notice_reads_as_read_once_its_task_is_done(told, signed_in):
    [task] = [t for t in told.tasks("carol") if t.element_id == "validate"]
    assert told.unread_count("carol") == 1
    told.complete(task.id, "carol", {"valid": True})
    assert told.unread_count("carol") == 0
    [note] = told.notifications("carol")
    assert note["read"] and note["task_done"]
    listing = signed_in("carol").get("/notifications/").get_data(as_text=True)
    assert "Task done" in listing and "0 unread" in listing


def test_links_in_notices_point_at_the_address_serving_the_page(told, signed_in):
    mailed = told.notifier.mailer.base_url  # e-mails use GOVFLOW_BASE_URL (here its default)
    assert mailed in told.notifications("carol")[0]["body"]
    listing = signed_in("carol").get("/notifications/", base_url="http://localhost:8080").get_data(as_text=True)
    assert "http://localhost:8080/tasks/" in listing and mailed + "/tasks" not in listing
