"""Overdue-action reminders on a schedule (reminded, and put on the next agenda): the
APScheduler-based TimerScheduler runs them once per working day at a configurable London time, on the injected clock;
each action is reminded at most once a day however many schedulers run on one database."""
from __future__ import annotations

import threading
from datetime import date, datetime, timezone

from sqlalchemy import select

from engine.governance import logs
from engine.governance.meetings import meetings
from engine.store.models import AuditEvent, LogAction
from engine.services.scheduler import CATCH_UP_REMINDER_JOB, REMINDER_JOB

from ..conftest import make_govflow

UTC = timezone.utc


def overdue_action(gov, **values):
    return logs.add_action(gov, "pat", **{"title": "Publish the SIT dashboard", "owner": "will", "group_id": "PSG",
                                          "due_on": "2027-01-04", **values})


def reminders_sent(gov, action_id):
    with gov.db.read() as session:
        return session.get(LogAction, action_id).reminders_sent


def test_once_a_working_day_each_overdue_action_is_reminded_and_goes_on_the_next_agenda(gov, clock):
    action = overdue_action(gov)
    not_yet = overdue_action(gov, title="Due today", due_on="2027-01-05")
    scheduler = gov.scheduler()  # not started: the job's body, on the injected clock
    clock.set(datetime(2027, 1, 5, 8, 0, tzinfo=UTC))  # Tue 5 Jan 2027, 08:00 London
    done = scheduler.send_action_reminders()
    assert done == [{"reference": action["reference"], "owner": "will", "placed_on": "2027-02-03"}]
    # ready on 5 Jan it misses PSG on 6 Jan (papers due 29 Dec) and goes on 3 Feb
    agenda = {m["held_on"]: [(i["reference"], i["kind"]) for i in m["agenda"]] for m in meetings(gov, "PSG")
              if m["agenda"]}  # the same job plans the usual meetings ahead: only this one has an item
    assert agenda == {date(2027, 2, 3): [(action["reference"], "action")]}
    assert [n["subject"] for n in gov.notifications("will")] == [f"Action {action['reference']} is overdue"]
    assert scheduler.send_action_reminders() == []  # the same day: nothing twice
    assert (reminders_sent(gov, action["id"]), reminders_sent(gov, not_yet["id"])) == (1, 0)

    clock.set(datetime(2027, 1, 6, 8, 0, tzinfo=UTC))  # the next day: reminded again, not placed again
    assert scheduler.send_action_reminders() == [
        {"reference": action["reference"], "owner": "will", "placed_on": None},
        {"reference": not_yet["reference"], "owner": "will", "placed_on": "2027-02-03"}]
    clock.set(datetime(2027, 1, 9, 8, 0, tzinfo=UTC))  # a Saturday: no reminders
    assert scheduler.send_action_reminders() == []
    logs.update_action(gov, action["id"], "pat", status="done")
    clock.set(datetime(2027, 1, 11, 8, 0, tzinfo=UTC))
    assert [r["reference"] for r in scheduler.send_action_reminders()] == [not_yet["reference"]]
    assert reminders_sent(gov, action["id"]) == 2
    with gov.db.read() as session:
        audited = [e.details for e in session.scalars(select(AuditEvent)
                                                       .where(AuditEvent.action == "action_log.reminded"))]
    assert len(audited) == 4


def test_several_schedulers_on_one_database_remind_each_action_once(gov, clock, database_url, tmp_path):
    actions = [overdue_action(gov, title=f"Action {n}") for n in range(5)]
    clock.set(datetime(2027, 1, 5, 8, 0, tzinfo=UTC))
    others = [make_govflow(database_url, tmp_path / f"s{n}", clock) for n in range(2)]
    schedulers = [g.scheduler() for g in (gov, *others)]
    results: list[list[dict]] = [[] for _ in schedulers]
    start = threading.Barrier(len(schedulers))

    def run(n):
        start.wait()
        results[n] = schedulers[n].send_action_reminders()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(schedulers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    reminded = sorted(r["reference"] for found in results for r in found)
    assert reminded == sorted(a["reference"] for a in actions)  # each once, whichever scheduler took it
    assert [reminders_sent(gov, a["id"]) for a in actions] == [1] * 5
    assert len(gov.notifications("will")) == 5
    assert sum(len(m["agenda"]) for m in meetings(gov, "PSG")) == 5
    for other in others:
        other.db.dispose()


def test_the_reminder_job_runs_on_working_days_at_the_configured_london_time(gov, clock):
    clock.set(datetime(2027, 1, 5, 7, 0, tzinfo=UTC))  # before 08:00 London: no catch-up run at start
    scheduler = gov.scheduler(sweep_seconds=3600)
    assert scheduler.reminder_time() == (8, 0)  # the default
    scheduler.start()
    try:
        job = scheduler._scheduler.get_job(REMINDER_JOB)
        fields = {f.name: str(f) for f in job.trigger.fields}
        assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("mon-fri", "8", "0")
        assert str(job.trigger.timezone) == "Europe/London"
        assert scheduler._scheduler.get_job(CATCH_UP_REMINDER_JOB) is None
    finally:
        scheduler.shutdown()
    later = gov.scheduler(sweep_seconds=3600, reminders_at="07:30")
    clock.set(datetime(2027, 1, 5, 9, 0, tzinfo=UTC))  # after 07:30: it catches up at once
    later.start()
    try:
        fields = {f.name: str(f) for f in later._scheduler.get_job(REMINDER_JOB).trigger.fields}
        assert (fields["hour"], fields["minute"]) == ("7", "30")
    finally:
        later.shutdown()
