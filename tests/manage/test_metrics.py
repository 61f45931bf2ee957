"""Every management figure on a generated history with known answers (SQLite and PostgreSQL): rows are inserted
directly with chosen timestamps across weekends and England and Wales bank holidays."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from engine.services import metrics
from engine.services.metrics import MetricFilters, percentile, working_days_elapsed
from engine.store.models import AuditEvent, ElementPassage, HumanTask, Instance, ProcessVersion, Timer


UTC = timezone.utc
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)  # Tuesday


def at(y, m, d, h=0, minute=0, tz=UTC):
    return datetime(y, m, d, h, minute, tzinfo=tz)


# --- working-day durations (no database) ---------------------------------------------------------------------------

@pytest.mark.parametrize("start,end,expected", [
    (at(2026, 12, 1, 12), at(2026, 12, 2, 12), 1.0),             # Tue → Wed, same time of day
    (at(2026, 12, 4, 12), at(2026, 12, 7, 12), 1.0),             # Fri → Mon over a weekend
    (at(2026, 12, 24, 0), at(2026, 12, 29, 18), 1.75),           # Christmas Fri and substitute Boxing Day Mon skipped
    (at(2026, 12, 5, 10), at(2026, 12, 6, 10), 0.0),             # Saturday → Sunday
    (at(2026, 12, 7, 6), at(2026, 12, 14, 6), 5.0),              # a working week
    (at(2026, 12, 1, 9), at(2026, 12, 1, 15), 0.25),             # six hours of one working day
    (at(2026, 12, 5, 10), at(2026, 12, 7, 12), 0.5),             # from a Saturday: Monday's morning only
    (at(2026, 5, 22, 12, tz=LONDON), at(2026, 5, 26, 12, tz=LONDON), 1.0),   # spring bank holiday, BST
    (at(2026, 4, 2, 18, tz=LONDON), at(2026, 4, 7, 6, tz=LONDON), 0.5),      # Good Friday and Easter Monday
])
def test_working_days_elapsed(start, end, expected):
    assert working_days_elapsed(start, end) == pytest.approx(expected)
    assert working_days_elapsed(end, start) == pytest.approx(-expected)


def test_working_days_elapsed_reads_london_wall_clock_time():
    # 23:30 UTC on Friday 29 May 2026 is 00:30 BST on Saturday: nothing of it is working time
    assert working_days_elapsed(at(2026, 5, 29, 23, 30), at(2026, 5, 31, 12)) == 0.0
    # same-time-of-day moments N working days apart take exactly N, whatever the zone offset
    assert working_days_elapsed(at(2026, 3, 27, 10, tz=LONDON), at(2026, 3, 30, 10, tz=LONDON)) == pytest.approx(1.0)


def test_percentile_interpolates_between_ranks():
    values = [5.0, 0.0, 1.0, 1.75, 1.0]
    assert percentile(values, 0.5) == 1.0
    assert percentile(values, 0.9) == pytest.approx(3.7)
    assert percentile([2.0], 0.9) == 2.0
    assert percentile([], 0.5) is None
    assert percentile([1.0, 2.0], 0.5) == 1.5


# --- a generated history -------------------------------------------------------------------------------------------

@pytest.fixture
def history(gov):
    """Instances, tasks, timers and audit events with chosen times; returns the ids the tests need."""
    ids = {}
    with gov.db.write() as db:
        loop_version = db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_id == "loop"))
        ids["loop_version"] = loop_version

        def instance(process_id, status, state, started, ended=None, body=None):
            row = Instance(process_version_id=loop_version, process_id=process_id, status=status, state=state,
                           started_by="alice", started_at=started, updated_at=started, ended_at=ended,
                           facts={"decision_body": body} if body else {}, workflow_state="{}")
            db.add(row)
            db.flush()
            return row.id

        cc = [instance("change_control", "running", "in_consultation", at(2026, 12, 1, 9), body="PSG"),
              instance("change_control", "running", "in_consultation", at(2026, 12, 2, 9), body="DAG"),
              instance("change_control", "running", "in_consultation", at(2026, 11, 30, 23, 30), body="PSG"),
              instance("change_control", "suspended", "in_consultation", at(2026, 6, 30, 23, 30), body="PSG")]
        loop = [instance("loop", "running", "", at(2027, 1, 4, 9)),
                instance("loop", "completed", "validated", at(2026, 12, 3, 9), ended=at(2026, 12, 31, 23, 59)),
                instance("loop", "completed", "validated", at(2026, 12, 3, 10), ended=at(2027, 1, 1, 0, 30))]
        ids["cc"], ids["loop"] = cc, loop
        n = iter(range(1000))

        def task(instance_id, process_id, element_id, created, completed=None, due=None, status=None, group=None,
                 lane="Change Control Manager", name=None):
            row = HumanTask(id=f"t{next(n):04d}", instance_id=instance_id, process_id=process_id,
                            element_id=element_id, name=name or element_id.title(), lane=lane, group_id=group,
                            status=status or ("completed" if completed else "ready"), created_at=created,
                            completed_at=completed, due_at=due)
            db.add(row)
            return row

        # review durations 1.0, 1.0, 1.75, 0.0, 5.0 (see test_working_days_elapsed); three with deadlines
        task(loop[1], "loop", "review", at(2026, 12, 1, 12), at(2026, 12, 2, 12), due=at(2026, 12, 8, 12))
        task(loop[1], "loop", "review", at(2026, 12, 4, 12), at(2026, 12, 7, 12), due=at(2026, 12, 7, 12))
        task(loop[2], "loop", "review", at(2026, 12, 24, 0), at(2026, 12, 29, 18))
        task(loop[2], "loop", "review", at(2026, 12, 5, 10), at(2026, 12, 6, 10))
        task(loop[0], "loop", "review", at(2026, 12, 7, 6), at(2026, 12, 14, 6), due=at(2026, 12, 10, 6))
        task(loop[1], "loop", "fix", at(2026, 12, 1, 9), at(2026, 12, 1, 15))
        # decisions communicated: on time, exactly at the deadline, late; one cancelled does not count
        task(cc[0], "change_control", "communicate", at(2026, 12, 1, 9), at(2026, 12, 9, 9), due=at(2026, 12, 10, 17))
        task(cc[1], "change_control", "communicate", at(2026, 12, 1, 9), at(2026, 12, 10, 17), due=at(2026, 12, 10, 17))
        task(cc[2], "change_control", "communicate", at(2026, 12, 1, 9), at(2026, 12, 11, 9), due=at(2026, 12, 10, 17))
        task(cc[2], "change_control", "communicate", at(2026, 12, 1, 9), at(2026, 12, 2, 9), due=at(2026, 12, 1, 17),
             status="cancelled")
        # open tasks now: two overdue for PSG (one stage), one overdue with only a lane, one not yet due
        task(cc[0], "change_control", "decide", at(2026, 12, 1, 9), due=at(2026, 12, 14, 17), group="PSG",
             lane="Chair", name="Record the decision")
        task(cc[2], "change_control", "decide", at(2026, 12, 1, 9), due=at(2026, 12, 15, 11), group="PSG",
             lane="Chair", name="Record the decision")
        task(cc[1], "change_control", "validate", at(2026, 12, 1, 9), due=at(2026, 12, 2, 9))
        task(cc[1], "change_control", "table", at(2026, 12, 1, 9), due=at(2026, 12, 16, 9), group="DAG")
        # audit: review passed twice by loop[1] (counted once), once by loop[2]; a timer fired on loop[0]
        for instance_id, element_id, action in [(loop[1], "review", "task.completed"),
                                                (loop[1], "review", "task.completed"),
                                                (loop[2], "review", "task.completed"),
                                                (loop[0], "lapse_timer", "timer.fired"),
                                                (loop[0], "review", "task.created")]:
            db.add(AuditEvent(at=at(2026, 12, 1, 9), actor="carol", action=action, instance_id=instance_id,
                              element_id=element_id, details={}))
        db.add(Timer(instance_id=loop[0], task_id="x", element_id="lapse_timer", due_at=at(2027, 1, 1),
                     status="waiting"))
    return ids


def test_open_instances_per_process_and_state(gov, history):
    with gov.db.read() as db:
        assert metrics.open_instances(db) == [
            {"process_id": "change_control", "state": "in_consultation", "count": 4},
            {"process_id": "loop", "state": "", "count": 1}]
        assert metrics.open_instances(db, MetricFilters(group="PSG")) == [
            {"process_id": "change_control", "state": "in_consultation", "count": 3}]
        assert metrics.open_instances(db, MetricFilters(process_id="loop")) == [
            {"process_id": "loop", "state": "", "count": 1}]
        december = MetricFilters(since=at(2026, 12, 1), until=at(2027, 1, 1))
        assert metrics.open_instances(db, december) == [
            {"process_id": "change_control", "state": "in_consultation", "count": 2}]


def test_overdue_tasks_by_group_and_stage(gov, history):
    with gov.db.read() as db:
        found = metrics.overdue_tasks(db, NOW)
        assert found["total"] == 3
        assert found["by_group"] == [{"group": "PSG", "count": 2}, {"group": "Change Control Manager", "count": 1}]
        assert found["by_stage"] == [
            {"process_id": "change_control", "element_id": "decide", "name": "Record the decision", "count": 2},
            {"process_id": "change_control", "element_id": "validate", "name": "Validate", "count": 1}]
        # a group filter keeps tasks for the group and tasks of instances it decides
        assert metrics.overdue_tasks(db, NOW, MetricFilters(group="DAG"))["by_stage"] == [
            {"process_id": "change_control", "element_id": "validate", "name": "Validate", "count": 1}]
        assert metrics.overdue_tasks(db, at(2026, 12, 17))["total"] == 4
        assert metrics.overdue_tasks(db, at(2026, 12, 1))["total"] == 0


def test_deadline_compliance(gov, history):
    with gov.db.read() as db:
        found = metrics.deadline_compliance(db)
        assert found["decisions_communicated"] == {"on_time": 2, "total": 3, "ratio": pytest.approx(2 / 3)}
        assert found["overall"] == {"on_time": 4, "total": 6, "ratio": pytest.approx(4 / 6)}
        review = next(e for e in found["by_element"] if e["element_id"] == "review")
        assert (review["on_time"], review["total"]) == (2, 3)
        # completions up to 10 December only (the late communication on the 11th drops out)
        early = metrics.deadline_compliance(db, MetricFilters(until=at(2026, 12, 11)))
        assert early["decisions_communicated"]["on_time"] == 2 and early["decisions_communicated"]["total"] == 2
        assert metrics.deadline_compliance(db, MetricFilters(group="DAG"))["decisions_communicated"] == \
            {"on_time": 1, "total": 1, "ratio": 1.0}


def test_throughput_per_london_month(gov, history):
    with gov.db.read() as db:
        assert metrics.throughput(db) == [
            {"month": "2026-07", "started": 1, "completed": 0},   # 23:30 UTC on 30 June is July in BST
            {"month": "2026-11", "started": 1, "completed": 0},   # 23:30 UTC on 30 Nov is still November (GMT)
            {"month": "2026-12", "started": 4, "completed": 1},
            {"month": "2027-01", "started": 1, "completed": 1}]
        assert metrics.throughput(db, MetricFilters(process_id="loop", since=at(2027, 1, 1))) == [
            {"month": "2027-01", "started": 1, "completed": 1}]


def test_stage_durations_median_and_p90_in_working_days(gov, history):
    with gov.db.read() as db:
        stages = {s.element_id: s for s in metrics.stage_durations(db)}
        review = stages["review"]
        assert review.count == 5
        assert sorted(review.durations) == pytest.approx([0.0, 1.0, 1.0, 1.75, 5.0])
        assert review.median == pytest.approx(1.0)
        assert review.p90 == pytest.approx(3.7)
        assert stages["fix"].median == pytest.approx(0.25) and stages["fix"].p90 == pytest.approx(0.25)
        communicate = stages["communicate"]  # 6, 7 and 8 working days; the cancelled one is left out
        assert communicate.count == 3
        assert communicate.median == pytest.approx(7.0 + 8 / 24)
        # only tasks completed in the range: 14 December drops out, leaving 1.0, 1.0, 0.0 (+1.75 on the 29th no)
        ranged = {s.element_id: s for s in metrics.stage_durations(
            db, MetricFilters(process_id="loop", until=at(2026, 12, 14)))}
        assert sorted(ranged["review"].durations) == pytest.approx([0.0, 1.0, 1.0])
        assert ranged["review"].p90 == pytest.approx(1.0)
        assert set(ranged) == {"review", "fix"}


def test_heatmap_counts_distinct_instances_per_element(gov, history):
    with gov.db.read() as db:
        cells = metrics.heatmap(db, history["loop_version"])
    assert cells["review"]["passed"] == 3  # loop[1] twice counts once; loop[0] by its completed task row
    assert cells["lapse_timer"] == {"passed": 1, "active": 1, "median_days": None, "p90_days": None}
    assert cells["review"]["median_days"] == pytest.approx(1.0)
    assert cells["decide"]["active"] == 2 and cells["decide"]["passed"] == 0
    assert cells["communicate"]["passed"] == 3


def test_heatmap_counts_every_element_from_recorded_passages(gov, history):
    loop = history["loop"]
    with gov.db.write() as db:
        def passage(instance_id, element_id, entered, left, outcome="completed"):
            db.add(ElementPassage(instance_id=instance_id, element_id=element_id, entered_at=entered, left_at=left,
                                  outcome=outcome))
        instant = at(2026, 12, 1, 9)
        for instance_id in loop:
            passage(instance_id, "start", instant, instant)
        passage(loop[1], "valid_gw", instant, instant)
        passage(loop[1], "valid_gw", instant, instant)  # the same instance twice: counted once, timed twice
        passage(loop[2], "valid_gw", instant, instant)
        passage(loop[1], "number", instant, instant)
        passage(loop[1], "fix", at(2026, 12, 4, 12), at(2026, 12, 7, 12))                 # 1.0
        passage(loop[2], "fix", at(2026, 12, 24, 0), at(2026, 12, 29, 18), "cancelled")   # 1.75
        passage(loop[0], "fix", at(2026, 12, 7, 6), at(2026, 12, 14, 6))                  # 5.0
        passage(loop[0], "lapse_timer", at(2026, 12, 7, 6), at(2026, 12, 14, 6))          # 5.0
    with gov.db.read() as db:
        cells = metrics.heatmap(db, history["loop_version"])
    assert cells["start"] == {"passed": 3, "active": 0, "median_days": 0.0, "p90_days": 0.0}
    assert cells["valid_gw"] == {"passed": 2, "active": 0, "median_days": 0.0, "p90_days": 0.0}
    assert cells["number"]["passed"] == 1
    # fix: passages 1.0, 1.75, 5.0 replace the human-task time (one row of 0.25); loop[1] also by its task row
    assert cells["fix"]["passed"] == 3
    assert cells["fix"]["median_days"] == pytest.approx(1.75)
    assert cells["fix"]["p90_days"] == pytest.approx(1.75 + 0.8 * (5.0 - 1.75))
    assert cells["lapse_timer"] == {"passed": 1, "active": 1, "median_days": pytest.approx(5.0),
                                    "p90_days": pytest.approx(5.0)}
    assert cells["review"]["passed"] == 3 and cells["review"]["median_days"] == pytest.approx(1.0)  # task rows


def test_the_runtime_records_every_element_an_instance_passes(gov, clock):
    """Two loop instances driven through the engine, with the clock moved between steps (known answers)."""
    def complete(user, element_id, instance_id, data):
        task = next(t for t in gov.tasks(user) if t.instance_id == instance_id and t.element_id == element_id)
        gov.complete(task.id, user, data)

    first = gov.start("loop", "alice", {"title": "Valid the second time"}).instance_id   # Tue 1 Dec 09:00
    clock.advance(days=1)
    complete("carol", "review", first, {"valid": False})        # review 1.0
    clock.advance(days=2)
    complete("alice", "fix", first, {"title": "Fixed"})         # fix 2.0 (Wed → Fri)
    clock.advance(days=3)
    complete("carol", "review", first, {"valid": True})         # review 1.0 (Fri → Mon)
    second = gov.start("loop", "bob", {"title": "Lapses"}).instance_id                   # Mon 7 Dec 09:00
    complete("carol", "review", second, {"valid": False})       # review 0.0
    with gov.db.read() as db:
        due = db.scalar(select(Timer.due_at).where(Timer.instance_id == second, Timer.status == "waiting"))
        version_id = db.get(Instance, first).process_version_id
    clock.set(due)
    assert [f["instance_id"] for f in gov.fire_due_timers()] == [second]  # the raiser was silent 20 working days
    with gov.db.read() as db:
        passages = db.execute(select(ElementPassage.element_id, ElementPassage.outcome)
                              .where(ElementPassage.instance_id == first).order_by(ElementPassage.id)).all()
        cells = metrics.heatmap(db, version_id)
    assert [p for p, _ in passages] == ["start", "review", "valid_gw", "fix", "review", "valid_gw", "number",
                                        "done"]  # no unfired boundary timer, none of Spiff's own tasks
    assert {o for _, o in passages} == {"completed"}
    expected = {"start": (2, 0.0), "review": (2, 1.0), "valid_gw": (2, 0.0), "fix": (2, 11.0), "number": (1, 0.0),
                "done": (1, 0.0), "lapse_timer": (1, 20.0), "lapsed": (1, 0.0)}
    assert {e: (c["passed"], c["median_days"]) for e, c in cells.items()} == {
        e: (n, pytest.approx(d)) for e, (n, d) in expected.items()}
    # fix: 2.0 for the first; 20.0 for the second, cut short by the timer → median 11.0
    assert cells["fix"]["p90_days"] == pytest.approx(2.0 + 0.9 * 18.0)


def test_dashboard_bundles_every_figure(gov, history):
    with gov.db.read() as db:
        figures = metrics.dashboard(db, NOW)
    assert figures["open_total"] == 5
    assert figures["overdue"]["total"] == 3
    assert {s["element_id"] for s in figures["stages"]} == {"review", "fix", "communicate"}
