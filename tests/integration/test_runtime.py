"""The runtime on a small fixture process (review → fix loop with a lapse timer), on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from engine.errors import Conflict, Forbidden, FormInvalid, NotFound
from engine.store.models import AuditEvent, HumanTask, Instance, Timer


def only_task(gov, username, element_id=None):
    tasks = [t for t in gov.tasks(username) if element_id is None or t.element_id == element_id]
    assert len(tasks) == 1, [(t.element_id, t.instance_id) for t in tasks]
    return tasks[0]


def test_review_loop_runs_to_a_numbered_end(gov, clock):
    started = gov.start("loop", "alice", {"title": "Fix the MPAN format"})
    assert started.status == "running"
    review = only_task(gov, "carol", "review")
    assert review.role_id == "change_control_manager" and review.assignee is None
    # due in 5 working days from Tuesday 1 Dec 2026 09:00 → Tuesday 8 Dec 09:00
    assert review.due_at == datetime(2026, 12, 8, 9, 0, tzinfo=timezone.utc)
    assert gov.tasks("bob") == []  # a participant has no review tasks

    gov.claim(review.id, "carol")
    result = gov.complete(review.id, "carol", {"valid": False, "issues": "No justification"})
    assert result.status == "running"
    fix = only_task(gov, "alice", "fix")
    assert fix.assignee == "alice"
    assert gov.tasks("bob") == []  # assigned to the raiser by name, not to every participant

    gov.complete(fix.id, "alice", {"title": "Fix the MPAN format (with justification)"})
    review2 = only_task(gov, "carol", "review")
    done = gov.complete(review2.id, "carol", {"valid": True})
    assert done.status == "completed"
    assert done.reference == "LP001"
    record = gov.show(started.instance_id)
    assert record["title"] == "Fix the MPAN format (with justification)"
    assert record["state"] == "validated"
    assert [t["status"] for t in record["tasks"]] == ["completed", "completed", "completed"]
    assert [t["status"] for t in record["timers"]] == ["cancelled"]  # the lapse timer went with the fix task


def test_next_task_goes_to_the_same_user_when_it_is_theirs(gov):
    started = gov.start("loop", "carol", {"title": "Raised by the CCM"})
    review = only_task(gov, "carol", "review")
    result = gov.complete(review.id, "carol", {"valid": False})
    fix = only_task(gov, "carol", "fix")  # carol raised it, so the fix task is assigned to her
    assert result.next_task_id == fix.id
    assert result.instance_id == started.instance_id


def test_every_state_change_leaves_an_audit_event(gov):
    started = gov.start("loop", "alice", {"title": "Audited"})
    review = only_task(gov, "carol", "review")
    gov.claim(review.id, "carol")
    gov.complete(review.id, "carol", {"valid": True, "issues": "none"})
    actions = [e["action"] for e in gov.show(started.instance_id)["history"]]
    assert actions == ["instance.started", "task.created", "task.claimed", "task.completed",
                       "instance.completed"]
    completed = [e for e in gov.show(started.instance_id)["history"] if e["action"] == "task.completed"][0]
    assert completed["actor"] == "carol" and completed["details"]["data"] == {"valid": True, "issues": "none"}


def test_form_errors_name_each_field_and_change_nothing(gov):
    started = gov.start("loop", "alice", {"title": "Validated form"})
    review = only_task(gov, "carol", "review")
    with pytest.raises(FormInvalid) as caught:
        gov.complete(review.id, "carol", {"valid": "perhaps", "extra": 1})
    assert caught.value.errors["valid"] == "Is it valid? must be yes or no"
    assert "extra" in caught.value.errors[""] or any("extra" in v for v in caught.value.errors.values())
    with pytest.raises(FormInvalid) as missing:
        gov.complete(review.id, "carol", {})
    assert missing.value.errors == {"valid": "Choose an answer to ‘Is it valid?’"}  # a question, not "Enter is it valid?"
    assert only_task(gov, "carol", "review").id == review.id  # still open
    with pytest.raises(FormInvalid):
        gov.start("loop", "alice", {"title": "x"})  # minLength 3
    assert gov.show(started.instance_id)["status"] == "running"


def test_underscore_keys_are_dropped_before_validation(gov):
    started = gov.start("loop", "alice", {"title": "Underscore", "_engine_secret": "x"})
    assert "_engine_secret" not in gov.show(started.instance_id)["data"]


def test_only_role_holders_may_act_and_refusals_are_audited(gov):
    started = gov.start("loop", "alice", {"title": "Who may act"})
    review = only_task(gov, "carol", "review")
    for who in ("bob", "olive"):
        with pytest.raises(Forbidden):
            gov.complete(review.id, who, {"valid": True})
        with pytest.raises(Forbidden):
            gov.claim(review.id, who)
    gov.claim(review.id, "carol")
    with gov.db.read() as session:
        denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert {(e.actor, e.details["attempted"]) for e in denied} == {("bob", "act"), ("olive", "act")}
    assert all(e.instance_id == started.instance_id for e in denied)


def test_a_task_claimed_by_someone_else_cannot_be_completed(gov):
    from engine.services.identity import NewUser
    gov.add_user(NewUser("carl", "Carl Second CCM", "", "pw-carl-123", ("change_control_manager",)))
    gov.start("loop", "alice", {"title": "Claimed"})
    review = only_task(gov, "carol", "review")
    gov.claim(review.id, "carol")
    assert gov.tasks("carl") == []  # claimed tasks leave the group list
    with pytest.raises(Forbidden, match="claimed by carol"):
        gov.complete(review.id, "carl", {"valid": True})
    with pytest.raises(Forbidden):
        gov.unclaim(review.id, "carl")
    gov.unclaim(review.id, "carol")
    assert [t.id for t in gov.tasks("carl")] == [review.id]


def test_completing_twice_is_a_conflict(gov):
    gov.start("loop", "alice", {"title": "Twice"})
    review = only_task(gov, "carol", "review")
    gov.complete(review.id, "carol", {"valid": True})
    with pytest.raises(Conflict, match="already completed by carol"):
        gov.complete(review.id, "carol", {"valid": True})
    with pytest.raises(NotFound):
        gov.complete("00000000-0000-0000-0000-000000000000", "carol", {"valid": True})


def test_a_command_writes_the_instance_only_at_the_revision_it_read(gov):
    """The instance row's own UPDATE (engine/services/instance_rows.py) is refused when another writer moved the
    row on since the command read it: a conflict, and nothing of the command is kept."""
    started = gov.start("loop", "alice", {"title": "Race"})
    review = only_task(gov, "carol", "review")
    with gov.db.read() as session:
        before = session.get(Instance, started.instance_id)
        revision, state = before.revision, before.workflow_state
    moved_on = update(Instance.__table__).where(Instance.__table__.c.id == started.instance_id).values(
        revision=Instance.__table__.c.revision + 1)  # Core: the session's copy keeps the revision it read
    original = gov.runtime.commands.lock_instance

    def lock_then_another_writer_commits(session, instance_id):
        instance = original(session, instance_id)
        session.execute(moved_on)
        return instance

    gov.runtime.commands.lock_instance = lock_then_another_writer_commits
    with pytest.raises(Conflict, match="same moment"):
        gov.complete(review.id, "carol", {"valid": True})
    gov.runtime.commands.lock_instance = original
    with gov.db.read() as session:
        after = session.get(Instance, started.instance_id)
        assert (after.revision, after.workflow_state) == (revision, state)  # rolled back, the other writer's too
        assert session.get(HumanTask, review.id).status == "ready"
    assert gov.complete(review.id, "carol", {"valid": True}).instance_id == started.instance_id  # now it goes


def test_concurrent_completions_give_one_success_and_one_conflict(gov):
    from engine.services.identity import NewUser
    gov.add_user(NewUser("carl", "Carl Second CCM", "", "pw-carl-123", ("change_control_manager",)))
    started = gov.start("loop", "alice", {"title": "Race"})
    review = only_task(gov, "carol", "review")
    barrier = threading.Barrier(2)
    outcomes = {}

    def submit(user, valid):
        barrier.wait()
        try:
            outcomes[user] = gov.complete(review.id, user, {"valid": valid})
        except Exception as err:  # noqa: BLE001 - the test inspects it
            outcomes[user] = err

    threads = [threading.Thread(target=submit, args=("carol", True)),
               threading.Thread(target=submit, args=("carl", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    errors = [o for o in outcomes.values() if isinstance(o, Exception)]
    wins = [o for o in outcomes.values() if not isinstance(o, Exception)]
    assert len(wins) == 1 and len(errors) == 1, outcomes
    assert isinstance(errors[0], Conflict), repr(errors[0])
    with gov.db.read() as session:
        completions = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "task.completed", AuditEvent.instance_id == started.instance_id))
    assert completions == 1


def test_lapse_timer_fires_once_at_its_working_day_due_time(gov, clock):
    started = gov.start("loop", "alice", {"title": "Silent raiser"})
    gov.complete(only_task(gov, "carol", "review").id, "carol", {"valid": False})
    fix = only_task(gov, "alice", "fix")
    timers = gov.timers()
    assert len(timers) == 1
    # 20 working days from Tue 1 Dec 2026 (day 0), skipping Christmas Day (Fri 25) and Boxing Day observed
    # (Mon 28): Dec 2,3,4,7,8,9,10,11,14,15,16,17,18,21,22,23,24,29,30,31 → Thu 31 Dec 2026 09:00 UTC
    assert timers[0]["due_at"] == "2026-12-31T09:00:00+00:00"
    assert gov.fire_due_timers(datetime(2026, 12, 31, 8, 59, tzinfo=timezone.utc)) == []
    fired = gov.fire_due_timers(datetime(2026, 12, 31, 9, 0, tzinfo=timezone.utc))
    assert [f["instance_id"] for f in fired] == [started.instance_id]
    assert gov.fire_due_timers(datetime(2027, 1, 5, tzinfo=timezone.utc)) == []  # exactly once
    record = gov.show(started.instance_id)
    assert record["status"] == "completed"
    assert [t["status"] for t in record["timers"]] == ["fired"]
    with pytest.raises(Conflict, match="already cancelled"):
        gov.complete(fix.id, "alice", {"title": "Too late now"})


def test_a_submission_after_the_deadline_is_refused_even_before_the_scheduler_ran(gov, clock):
    started = gov.start("loop", "alice", {"title": "Late answer"})
    gov.complete(only_task(gov, "carol", "review").id, "carol", {"valid": False})
    fix = only_task(gov, "alice", "fix")
    clock.set(datetime(2027, 1, 4, 12, tzinfo=timezone.utc))
    with pytest.raises(Conflict, match="no longer open"):
        gov.complete(fix.id, "alice", {"title": "Answer after the lapse"})
    record = gov.show(started.instance_id)
    assert record["status"] == "completed" and record["timers"][0]["status"] == "fired"


def test_state_stays_flat_over_hundreds_of_loop_passes(gov):
    started = gov.start("loop", "alice", {"title": "Looping"})
    sizes = []
    for n in range(350):  # beyond Spiff's ~333-pass stall (max_depth=1000)
        gov.complete(only_task(gov, "carol", "review").id, "carol", {"valid": False})
        gov.complete(only_task(gov, "alice", "fix").id, "alice", {"title": f"Looping {n}"})
        if n in (10, 349):  # from pass 10 the state holds its full window of history (move_back_window)
            with gov.db.read() as session:
                sizes.append(len(session.get(Instance, started.instance_id).workflow_state))
    assert sizes[1] <= sizes[0] * 1.2, sizes
    done = gov.complete(only_task(gov, "carol", "review").id, "carol", {"valid": True})
    assert done.status == "completed" and done.reference == "LP001"


def test_each_instance_stays_on_the_version_it_started_on(gov, tmp_path):
    from tests.conftest import FIXTURES
    old = gov.start("loop", "alice", {"title": "On version 1"})
    again = gov.deploy([FIXTURES / "processes"], forms_dir=FIXTURES / "forms")
    assert [(p.version, p.created) for p in again.processes] == [(1, False)]  # same content: no new version
    changed = tmp_path / "v2"
    changed.mkdir()
    bpmn = (FIXTURES / "processes" / "loop.bpmn").read_text().replace('name="Review"', 'name="Review it"')
    (changed / "loop.bpmn").write_text(bpmn)
    (changed / "settings.yaml").write_text("lapse_days: 20\n")
    result = gov.deploy([changed], forms_dir=FIXTURES / "forms", note="rename review")
    assert [(p.version, p.created) for p in result.processes] == [(2, True)]
    new = gov.start("loop", "alice", {"title": "On version 2"})
    names = {t.instance_id: t.name for t in gov.tasks("carol")}
    assert names == {old.instance_id: "Review", new.instance_id: "Review it"}
    gov.repository._cache.clear()  # a fresh process rebuilds each version from its stored files
    assert {t.instance_id: t.name for t in gov.tasks("carol")} == names
    gov.complete([t for t in gov.tasks("carol") if t.instance_id == old.instance_id][0].id, "carol", {"valid": True})
    assert gov.show(old.instance_id)["status"] == "completed"


def test_starting_needs_the_start_lane_role(gov):
    with pytest.raises(Forbidden):
        gov.start("loop", "ida", {"title": "IPA has no participant role"})
    with pytest.raises(NotFound):
        gov.start("no_such_process", "alice", {})


@pytest.mark.parametrize("behalf, owner", [("alice", "alice"), ("nobody", "sam"), (None, "sam")])
def test_a_process_started_instance_is_owned_on_behalf_of_an_active_user_only(gov, behalf, owner):
    """A follow-up start (a process starting another) may be on behalf of someone: it is theirs only if they are an
    active user; otherwise it is the starter's. The audit event always names the starter."""
    started = gov.runtime._start("loop", "sam", {"title": "Reopened"}, started_by_process=True, on_behalf_of=behalf)
    shown = gov.show(started.instance_id)
    assert shown["started_by"] == owner and shown["data"]["started_by"] == owner
    assert shown["data"].get("started_on_behalf_by") == ("sam" if owner != "sam" else None)
    with gov.db.read() as db:
        event = db.scalars(select(AuditEvent).where(AuditEvent.instance_id == started.instance_id,
                                                    AuditEvent.action == "instance.started")).one()
    assert event.actor == "sam" and event.details.get("on_behalf_of") == (owner if owner != "sam" else None)
