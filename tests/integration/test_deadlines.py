"""Working-day deadlines of user tasks: due dates across bank holidays, reminders before, overdue notices after —
each sent exactly once, to the task's people and the escalation contacts the diagram names."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from engine.services.identity import NewUser
from engine.store.models import HumanTask, Notification, User

from ..conftest import FIXTURES

UTC = timezone.utc


@pytest.fixture
def tgov(gov):
    gov.deploy([FIXTURES / "timing"], forms_dir=FIXTURES / "timing_forms", note="timing fixtures")
    gov.effects.background = False  # announce new tasks in the command's thread, so the test can read them
    return gov


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def notices(gov, kind=None) -> list[tuple[str, str]]:
    """(username, kind) of every notification, in the order written."""
    with gov.db.read() as session:
        query = select(User.username, Notification.kind).join(User, User.id == Notification.user_id)
        if kind:
            query = query.where(Notification.kind == kind)
        return [tuple(r) for r in session.execute(query.order_by(Notification.id))]


def start_deadline(gov, clock, moment):
    clock.set(moment)
    started = gov.start("deadline", "alice", {"title": "CR042 decision"})
    with gov.db.read() as session:
        return session.scalars(select(HumanTask).where(HumanTask.instance_id == started.instance_id)).one()


# (started, due = 10 working days later, reminder = 2 working days before due); times UTC
CASES = {
    # Christmas 2026: Fri 25 Dec and Mon 28 Dec (Boxing Day, a Saturday, observed) are not working days
    "christmas": (at(2026, 12, 11, 9), at(2026, 12, 29, 9), at(2026, 12, 23, 9)),
    # across Christmas and New Year's Day (Fri 1 Jan 2027)
    "new_year": (at(2026, 12, 18, 9), at(2027, 1, 6, 9), at(2027, 1, 4, 9)),
    # Easter 2027: Good Friday 26 Mar, Easter Monday 29 Mar; clocks go forward on 28 Mar, so 09:00 London is 08:00
    # UTC on the due day while the reminder (before the change) is still at 09:00 UTC
    "easter": (at(2027, 3, 12, 9), at(2027, 3, 30, 8), at(2027, 3, 24, 9)),
    # the August bank holiday, Mon 31 Aug 2026 (10:00 BST = 09:00 UTC throughout)
    "august": (at(2026, 8, 18, 9), at(2026, 9, 2, 9), at(2026, 8, 28, 9)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_due_date_reminder_and_overdue_skip_weekends_and_bank_holidays(tgov, clock, case):
    started, due, remind = CASES[case]
    task = start_deadline(tgov, clock, started)
    assert task.due_at == due
    assert tgov.task(task.id).due_at == due  # the inbox shows it
    assert tgov.notifier.next_deadline(started) == remind
    assert notices(tgov) == [("carol", "new_task")]  # the CCM hears of the new task; alice started it

    assert tgov.notifier.check_deadlines(remind - timedelta(minutes=1)) == {"overdue": 0, "reminders": 0}
    assert tgov.notifier.check_deadlines(remind) == {"overdue": 0, "reminders": 1}
    assert tgov.notifier.check_deadlines(remind + timedelta(hours=1)) == {"overdue": 0, "reminders": 0}
    assert notices(tgov, "reminder") == [("carol", "reminder")]
    assert tgov.notifier.next_deadline(remind) == due

    assert tgov.notifier.check_deadlines(due - timedelta(minutes=1))["overdue"] == 0
    counts = tgov.notifier.check_deadlines(due)
    # overdue to the CCM; escalation to the SRO (sam) and the PMO holders (pat, admin) named by escalateTo
    assert counts == {"overdue": 4, "reminders": 0}
    assert notices(tgov, "overdue") == [("carol", "overdue")]
    assert sorted(notices(tgov, "escalation")) == [("admin", "escalation"), ("pat", "escalation"),
                                                   ("sam", "escalation")]
    assert tgov.notifier.check_deadlines(due + timedelta(days=3)) == {"overdue": 0, "reminders": 0}
    assert tgov.notifier.next_deadline(due) is None
    with tgov.db.read() as session:
        row = session.get(HumanTask, task.id)
        assert row.reminded_at == remind and row.overdue_notified_at == due


def test_no_notice_for_a_task_done_in_time(tgov, clock):
    task = start_deadline(tgov, clock, at(2026, 12, 11, 9))
    tgov.complete(task.id, "carol", {"outcome": "approved"})
    assert tgov.notifier.check_deadlines(at(2027, 1, 31, 9)) == {"overdue": 0, "reminders": 0}
    assert not notices(tgov, "reminder") and not notices(tgov, "overdue")


def test_a_claimed_task_reminds_its_holder_only(tgov, clock, gov):
    gov.add_user(NewUser(
        "cora", "Cora Cole", "cora@example.org", "correct horse battery staple", ("change_control_manager",),
        None, None))
    task = start_deadline(tgov, clock, at(2026, 12, 11, 9))
    assert sorted(notices(tgov, "new_task")) == [("carol", "new_task"), ("cora", "new_task")]
    tgov.claim(task.id, "cora")
    tgov.notifier.check_deadlines(at(2026, 12, 23, 9))
    assert notices(tgov, "reminder") == [("cora", "reminder")]


def test_a_task_begun_inside_the_reminder_window_gets_no_reminder(tgov, clock):
    task = start_deadline(tgov, clock, at(2026, 12, 11, 9))
    with tgov.db.write() as session:  # as if its due date were tomorrow
        session.get(HumanTask, task.id).due_at = at(2026, 12, 12, 9)
    assert tgov.notifier.check_deadlines(at(2026, 12, 11, 10)) == {"overdue": 0, "reminders": 0}
    assert tgov.notifier.check_deadlines(at(2026, 12, 12, 9))["overdue"] == 4
    assert not notices(tgov, "reminder")


def test_overdue_after_downtime_sends_no_stale_reminder(tgov, clock):
    start_deadline(tgov, clock, at(2026, 12, 11, 9))
    assert tgov.notifier.check_deadlines(at(2027, 1, 4, 9)) == {"overdue": 4, "reminders": 0}
    assert not notices(tgov, "reminder")


def test_the_scheduler_sends_deadline_notices_at_their_moment(tgov, clock):
    task = start_deadline(tgov, clock, at(2026, 12, 11, 9))
    scheduler = tgov.scheduler(sweep_seconds=3600, deadline_seconds=3600)
    assert scheduler.notifier is tgov.notifier
    scheduler.start()
    try:
        clock.set(at(2026, 12, 29, 9))  # the due moment: the deadline job is pointed at it
        scheduler.schedule_next_deadline()
        deadline = time.monotonic() + 10
        while not notices(tgov, "overdue") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert notices(tgov, "overdue") == [("carol", "overdue")]
        with tgov.db.read() as session:
            assert session.get(HumanTask, task.id).reminded_at is not None  # no stale reminder afterwards
    finally:
        scheduler.shutdown()
