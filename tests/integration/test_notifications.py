"""Notifications in the app and by e-mail, received by a real local SMTP server (aiosmtpd): the right people, plain
English, links to the task, daily digests batched, each person's preference respected, nothing sent twice."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from engine.errors import Forbidden
from engine.delivery.mailer import Mailer
from engine.store.models import HumanTask, Notification, User

from ..conftest import FIXTURES

UTC = timezone.utc
BASE = "https://govflow.example.test"


@dataclass
class Mail:
    to: list[str]
    subject: str
    body: str


class Inbox:
    """What the SMTP server received."""

    def __init__(self):
        self.mails: list[Mail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self.mails.append(Mail(sorted(envelope.rcpt_tos), str(message["Subject"]),
                                   message.get_body(("plain",)).get_content()))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.mails if address in m.to]

    def recipients(self) -> list[str]:
        return sorted(a for m in self.mails for a in m.to)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    inbox.port = controller.port
    yield inbox
    controller.stop()


@pytest.fixture
def mgov(gov, smtp):
    """govflow with the timing fixtures and e-mail through the local SMTP server, sent synchronously."""
    gov.deploy([FIXTURES / "timing"], forms_dir=FIXTURES / "timing_forms", note="timing fixtures")
    gov.notifier.mailer = Mailer(host="127.0.0.1", port=smtp.port, sender="govflow@example.test", base_url=BASE)
    gov.effects.background = False
    return gov


def start(gov, username="alice", title="CR042: MPAN format"):
    started = gov.start("deadline", username, {"title": title})
    with gov.db.read() as session:
        task = session.scalars(select(HumanTask).where(HumanTask.instance_id == started.instance_id)).one()
    return started.instance_id, task.id


def test_a_new_task_mails_its_role_holders_only_with_a_link(mgov, smtp):
    _, task_id = start(mgov)
    assert smtp.recipients() == ["carol@example.org"]  # the only Change Control Manager; not alice who raised it
    mail = smtp.mails[0]
    assert mail.subject == "New task: Communicate the decision — CR042: MPAN format"
    assert mail.body.startswith("Hello Carol Clarke,")
    assert "new task for the Change Control Manager role" in mail.body
    assert "due by Tuesday 15 December 2026 at 09:00" in mail.body
    assert f"{BASE}/tasks/{task_id}" in mail.body
    assert mgov.unread_count("carol") == 1 and mgov.unread_count("bob") == 0
    [note] = mgov.notifications("carol")
    assert note["link"] == f"/tasks/{task_id}" and note["email_status"] == "sent" and not note["read"]


def test_reassigning_mails_the_new_holder(mgov, smtp):
    _, task_id = start(mgov)
    mgov.runtime.reassign(task_id, "pat", "carol")
    assigned = [m for m in smtp.to("carol@example.org") if m.subject.startswith("Assigned to you")]
    assert len(assigned) == 1
    assert "has been assigned to you by pat" in assigned[0].body and f"{BASE}/tasks/{task_id}" in assigned[0].body
    assert len(smtp.mails) == 2  # the new-task mail, then this one; nobody else


def test_reminder_overdue_and_escalation_mails(mgov, smtp):
    _, task_id = start(mgov)
    mgov.notifier.check_deadlines(datetime(2026, 12, 11, 9, tzinfo=UTC))  # 2 working days before Tue 15 Dec
    mgov.notifier.send_pending()
    [reminder] = [m for m in smtp.mails if m.subject.startswith("Reminder")]
    assert reminder.to == ["carol@example.org"] and f"{BASE}/tasks/{task_id}" in reminder.body
    mgov.notifier.check_deadlines(datetime(2026, 12, 15, 9, tzinfo=UTC))
    mgov.notifier.send_pending()
    overdue = [m for m in smtp.mails if m.subject.startswith("Overdue")]
    escalations = [m for m in smtp.mails if m.subject.startswith("Escalation")]
    assert [m.to for m in overdue] == [["carol@example.org"]]
    assert sorted(a for m in escalations for a in m.to) == ["admin@example.org", "pat@example.org",
                                                            "sam@example.org"]
    assert all("escalation contact" in m.body and f"/tasks/{task_id}" in m.body for m in escalations)
    mgov.notifier.check_deadlines(datetime(2026, 12, 16, 9, tzinfo=UTC))
    mgov.notifier.send_pending()
    assert len(smtp.mails) == 1 + 1 + 1 + 3  # new task, reminder, overdue, three escalations: each once


def test_decision_communicated_to_participants_after_the_commit(mgov, smtp):
    _, task_id = start(mgov)
    mgov.set_notification_preference("bob", "none")
    mgov.complete(task_id, "carol", {"outcome": "approved"})
    notices = [m for m in smtp.mails if m.subject == "Decision on CR042: MPAN format"]
    # participants: alice, bob, carol, will, pat, chris, sam — bob chose no e-mail; ida, olive, ann, admin are not
    assert sorted(a for m in notices for a in m.to) == sorted(
        f"{u}@example.org" for u in ("alice", "carol", "will", "pat", "chris", "sam"))
    assert "The decision on CR042: MPAN format is: approved." in notices[0].body
    bob = mgov.notifications("bob")
    assert [(n["kind"], n["email_status"]) for n in bob] == [("notice", "none")]  # still in the app
    assert mgov.notifications("ida") == [] and mgov.notifications("olive") == []


def test_notices_of_a_failed_step_are_never_sent(mgov, smtp):
    _, task_id = start(mgov)
    smtp.mails.clear()
    with pytest.raises(Exception):
        mgov.complete(task_id, "carol", {"outcome": 42})  # refused by the form: nothing ran, nothing queued
    assert smtp.mails == [] and mgov.notifications("alice") == []


def test_daily_digest_batches_and_preferences_are_respected(mgov, smtp, clock):
    mgov.set_notification_preference("carol", "digest")
    assert mgov.notification_preference("carol") == "digest"
    _, first = start(mgov, title="First")
    _, second = start(mgov, title="Second")
    mgov.notifier.check_deadlines(datetime(2026, 12, 11, 9, tzinfo=UTC))  # two reminders
    mgov.notifier.send_pending()
    assert smtp.to("carol@example.org") == []  # nothing at once for a digest reader
    clock.set(datetime(2026, 12, 12, 7, tzinfo=UTC))
    assert mgov.notifier.send_digests() == 1
    [digest] = smtp.to("carol@example.org")
    assert digest.subject == "govflow daily digest: 4 updates"
    for task_id in (first, second):
        assert digest.body.count(f"{BASE}/tasks/{task_id}") == 2  # its new-task notice and its reminder
    assert "- New task: Communicate the decision — First" in digest.body
    assert mgov.notifier.send_digests() == 0  # batched once
    assert mgov.unread_count("carol") == 4  # e-mailed, still unread in the app

    with pytest.raises(ValueError):
        mgov.set_notification_preference("carol", "hourly")


def test_in_app_list_unread_count_and_mark_read(mgov, smtp):
    start(mgov, title="One")
    start(mgov, title="Two")
    notes = mgov.notifications("carol")
    assert [n["subject"] for n in notes] == ["New task: Communicate the decision — Two",
                                             "New task: Communicate the decision — One"]
    assert mgov.unread_count("carol") == 2
    with pytest.raises(Forbidden):
        mgov.mark_read("bob", [notes[0]["id"]])  # not bob's
    assert mgov.mark_read("carol", [notes[0]["id"]]) == 1
    assert mgov.unread_count("carol") == 1
    assert [n["subject"] for n in mgov.notifications("carol", unread_only=True)] == [notes[1]["subject"]]
    assert mgov.mark_read("carol") == 1 and mgov.unread_count("carol") == 0


def test_mail_goes_out_in_the_background_after_the_commit(mgov, smtp):
    mgov.effects.background = True
    try:
        start(mgov)
        mgov.effects.wait_idle()
        assert smtp.recipients() == ["carol@example.org"]
    finally:
        mgov.effects.close()


def test_a_failed_send_is_kept_and_retried(mgov, smtp):
    working = mgov.notifier.mailer
    mgov.notifier.mailer = Mailer(host="127.0.0.1", port=free_port(), base_url=BASE)  # nobody listens there
    start(mgov)
    with mgov.db.read() as session:
        note = session.scalars(select(Notification)).one()
    assert (note.email_status, note.email_attempts, note.emailed_at) == ("pending", 1, None)
    assert "Error" in note.email_error or "refused" in note.email_error
    mgov.notifier.mailer = working
    assert mgov.notifier.send_pending() == 1
    assert smtp.recipients() == ["carol@example.org"]
    assert mgov.notifier.send_pending() == 0


def test_email_off_without_an_smtp_host_keeps_notices_in_the_app(gov, smtp):
    gov.deploy([FIXTURES / "timing"], forms_dir=FIXTURES / "timing_forms")
    assert not gov.notifier.email_on  # GOVFLOW_SMTP_HOST is not set in the tests
    start(gov)
    gov.effects.wait_idle()  # new tasks are announced on the worker thread, after the command returned
    assert smtp.mails == []
    assert [n["email_status"] for n in gov.notifications("carol")] == ["none"]
