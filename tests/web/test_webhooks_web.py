"""The webhook pages for admins: the list, adding one (its secret shown once), errors beside their fields with the
input kept, disabling, enabling and deleting after a confirmation, the delivery log and a test event."""
from __future__ import annotations

from sqlalchemy import select

from engine.store.models import AuditEvent, Webhook
from tests.web.page_text import text_of


def page_text(html: bytes) -> str:
    return text_of(html, "main-content")


def _actions(gov) -> list[str]:
    with gov.db.read() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("webhook.%"))
                                    .order_by(AuditEvent.id)))


def test_only_admins_see_and_use_the_webhook_pages(signed_in, csrf_of, web_gov, receiver):
    pat = signed_in("pat")  # a manager, but not one who may integrate other systems
    assert "Webhooks" not in page_text(pat.get("/manage/").data)
    assert pat.get("/manage/webhooks/").status_code == 403
    token = csrf_of(pat.get("/manage/").data)
    refused = pat.post("/manage/webhooks/", data={"url": receiver.url, "events": ["*"], "csrf_token": token})
    assert refused.status_code == 403
    assert web_gov.webhooks.listing("admin") == []
    admin = signed_in("admin")
    dashboard = admin.get("/manage/").data.decode()
    assert 'href="/manage/webhooks/"' in dashboard


def test_adding_a_webhook_shows_its_secret_once(signed_in, csrf_of, web_gov, receiver):
    admin = signed_in("admin")
    page = admin.get("/manage/webhooks/")
    assert page.status_code == 200 and "No webhooks yet." in page_text(page.data)
    made = admin.post("/manage/webhooks/", data={"url": receiver.url, "events": ["task.*", "instance.started"],
                                                 "csrf_token": csrf_of(page.data)})
    assert made.status_code == 200
    with web_gov.db.read() as session:
        row = session.scalars(select(Webhook)).one()
        secret, events = row.secret, row.events
    assert secret in made.data.decode() and events == ["instance.started", "task.*"]
    again = admin.get("/manage/webhooks/").data.decode()
    assert secret not in again and receiver.url in again and "Nothing sent yet" in again
    assert _actions(web_gov) == ["webhook.added"]


def test_a_refused_webhook_explains_each_field_and_keeps_the_input(signed_in, csrf_of, web_gov):
    admin = signed_in("admin")
    token = csrf_of(admin.get("/manage/webhooks/").data)
    refused = admin.post("/manage/webhooks/", data={"url": "http://example.org/hook", "csrf_token": token})
    assert refused.status_code == 422
    html = refused.data.decode()
    assert "There is a problem" in html and '<a href="#url">Use https' in html
    assert '<a href="#events">Choose at least one event to send</a>' in html
    assert 'value="http://example.org/hook"' in html  # what was typed is kept
    wrong_event = admin.post("/manage/webhooks/", data={"url": "not an address", "events": ["timer.*", "task.claimed"],
                                                        "csrf_token": token})
    html = wrong_event.data.decode()
    assert wrong_event.status_code == 422 and "Enter the receiver&#39;s full address" in html
    assert 'value="timer.*" checked' in html and 'value="task.claimed" checked' in html  # the choices are kept
    assert 'value="task.completed" checked' not in html
    assert web_gov.webhooks.listing("admin") == [] and _actions(web_gov) == []


def test_every_post_needs_the_csrf_token(signed_in, web_gov, receiver):
    admin = signed_in("admin")
    _secret, hook = web_gov.webhooks.add("admin", receiver.url, ["*"])
    assert admin.post("/manage/webhooks/", data={"url": receiver.url, "events": ["*"]}).status_code == 400
    for action in ("disable", "remove", "test"):
        assert admin.post(f"/manage/webhooks/{hook['id']}/{action}").status_code == 400
    assert [w["status"] for w in web_gov.webhooks.listing("admin")] == ["active"]
    assert _actions(web_gov) == ["webhook.added"]


def test_disable_enable_and_delete_each_ask_first(signed_in, csrf_of, web_gov, receiver):
    admin = signed_in("admin")
    _secret, hook = web_gov.webhooks.add("admin", receiver.url, ["*"])
    base = f"/manage/webhooks/{hook['id']}"
    listed = admin.get("/manage/webhooks/").data.decode()
    assert f'href="{base}/disable"' in listed and f'href="{base}/remove"' in listed
    question = admin.get(f"{base}/disable")
    assert "Disable this webhook?" in page_text(question.data)
    assert web_gov.webhooks.get(hook["id"], "admin")["status"] == "active"  # asking changes nothing
    done = admin.post(f"{base}/disable", data={"csrf_token": csrf_of(question.data)}, follow_redirects=True)
    assert "is disabled" in page_text(done.data) and f'href="{base}/enable"' in done.data.decode()
    assert web_gov.webhooks.get(hook["id"], "admin")["status"] == "disabled"
    question = admin.get(f"{base}/enable")
    admin.post(f"{base}/enable", data={"csrf_token": csrf_of(question.data)})
    assert web_gov.webhooks.get(hook["id"], "admin")["status"] == "active"
    question = admin.get(f"{base}/remove")
    assert "This cannot be undone" in page_text(question.data)
    done = admin.post(f"{base}/remove", data={"csrf_token": csrf_of(question.data)}, follow_redirects=True)
    text = page_text(done.data)
    assert "is deleted" in text and "Deleted webhooks" in text and "No webhooks yet." in text
    late = admin.post(f"{base}/enable", data={"csrf_token": csrf_of(done.data)}, follow_redirects=True)
    assert "is removed: add a new one instead" in page_text(late.data)
    assert _actions(web_gov) == ["webhook.added", "webhook.disabled", "webhook.enabled", "webhook.removed"]
    assert admin.get("/manage/webhooks/999/remove").status_code == 404


def test_the_delivery_log_and_a_test_event(signed_in, csrf_of, web_gov, receiver):
    admin = signed_in("admin")
    _secret, hook = web_gov.webhooks.add("admin", receiver.url, ["task.completed"])
    log_page = admin.get(f"/manage/webhooks/{hook['id']}")
    assert "Nothing sent yet." in page_text(log_page.data)
    receiver.answers = [503]
    sent = admin.post(f"/manage/webhooks/{hook['id']}/test", data={"csrf_token": csrf_of(log_page.data)})
    assert sent.status_code == 302
    web_gov.effects.wait_idle()
    assert receiver.events() == ["webhook.test"]
    log_page = admin.get(f"/manage/webhooks/{hook['id']}").data
    (attempt,) = web_gov.webhooks.deliveries(hook["id"], "admin")
    row = text_of(log_page, f"delivery-{attempt['id']}")
    assert "webhook.test" in row and "503" in row and "answered 503" in row
    assert row.count("1 December 2026 at 9:00am") == 2  # when it was tried, and its next try 30 seconds on
    listed = page_text(admin.get("/manage/webhooks/").data)
    assert "503" in listed and "webhook.test" in listed  # the latest delivery, on the list
    assert "webhook.test_sent" in _actions(web_gov)
