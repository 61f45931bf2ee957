"""Administrative actions in the engine (SQLite and PostgreSQL): suspend, resume, terminate, retry, move back."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.config import PROJECT_ROOT
from engine.governance import policy
from engine.services.admin import InstanceAdmin, ReasonMissing
from engine.errors import Conflict, Forbidden
from engine.store.models import AuditEvent, ElementPassage, HumanTask, Instance, MessageWait, Timer
from engine.services.trail import instance_trail


def to_fix(gov):
    instance_id = gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    review = next(t for t in gov.tasks("carol") if t.instance_id == instance_id)
    gov.complete(review.id, "carol", {"valid": False, "issues": "No justification"})
    return instance_id


def statuses(gov, instance_id):
    with gov.db.read() as db:
        return (db.get(Instance, instance_id).status,
                sorted(t.status for t in db.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id))),
                sorted(t.status for t in db.scalars(select(Timer).where(Timer.instance_id == instance_id))))


def test_who_may_administer():
    rules = policy.for_processes(PROJECT_ROOT / "processes")

    def may_administer(role_ids):
        return policy.ADMINISTER in rules.capabilities_of(role_ids)

    assert may_administer({"admin"}) and may_administer({"pmo"}) and may_administer({"sro", "chair"})
    assert not may_administer({"ipa"}) and not may_administer({"ofgem_observer"})
    assert not may_administer({"admin", "ofgem_observer"})  # an observer never acts
    assert not may_administer({"participant", "workstream"})


def test_a_suspended_instance_refuses_commands_and_its_timers_wait(gov, clock):
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    fix = next(t for t in gov.tasks("alice") if t.instance_id == instance_id)
    assert admin.suspend(instance_id, "pat", "Waiting for Ofgem's view") == "suspended"
    assert statuses(gov, instance_id) == ("suspended", ["completed", "suspended"], ["suspended"])
    assert gov.tasks("alice") == []
    with pytest.raises(Conflict):
        gov.complete(fix.id, "alice", {"title": "Fixed"})
    clock.advance(days=60)  # far past the 20-working-day lapse
    assert gov.fire_due_timers() == []
    assert statuses(gov, instance_id)[0] == "suspended"
    with pytest.raises(Conflict):
        admin.suspend(instance_id, "pat", "again")
    admin.resume(instance_id, "pat", "Ofgem answered")
    assert statuses(gov, instance_id) == ("running", ["completed", "ready"], ["waiting"])
    fired = gov.fire_due_timers()  # the timer that fell due meanwhile fires now
    assert [f["instance_id"] for f in fired] == [instance_id]
    assert statuses(gov, instance_id) == ("completed", ["cancelled", "completed"], ["fired"])


def test_terminate_cancels_tasks_timers_and_waits(gov):
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    admin.terminate(instance_id, "admin", "Raised twice")
    assert statuses(gov, instance_id) == ("terminated", ["cancelled", "completed"], ["cancelled"])
    with gov.db.read() as db:
        assert db.get(Instance, instance_id).ended_at is not None
        assert db.scalars(select(MessageWait).where(MessageWait.instance_id == instance_id)).all() == []
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "instance.terminated"))
        assert event.actor == "admin" and event.details["reason"] == "Raised twice"
        assert event.details["tasks_cancelled"] == 1 and event.details["timers_cancelled"] == 1
    with pytest.raises(Conflict):
        admin.resume(instance_id, "admin", "oops")


def test_reasons_and_roles_are_required_and_refusals_audited(gov):
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    with pytest.raises(ReasonMissing):
        admin.suspend(instance_id, "admin", "  ")
    for username in ("olive", "ida", "alice"):
        with pytest.raises(Forbidden):
            admin.terminate(instance_id, username, "because")
    with gov.db.read() as db:
        denied = db.scalars(select(AuditEvent.actor).where(AuditEvent.action == "access.denied")).all()
    assert set(denied) >= {"olive", "ida", "alice"}
    assert statuses(gov, instance_id)[0] == "running"


def test_retry_a_failed_timer(gov):
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    with gov.db.write() as db:
        timer = db.scalar(select(Timer).where(Timer.instance_id == instance_id))
        timer.status, timer.attempts, timer.last_error = "failed", 5, "boom"
        timer_id = timer.id
    admin.retry_timer(timer_id, "admin", "The settings are fixed")
    with gov.db.read() as db:
        timer = db.get(Timer, timer_id)
        assert (timer.status, timer.attempts, timer.last_error) == ("waiting", 0, None)
    with pytest.raises(Conflict):
        admin.retry_timer(timer_id, "admin", "again")


def loop_passes(gov, clock, instance_id, n):
    """n passes of review (invalid, by carol) → fix (by alice), an hour apart; returns the (element, actor, at) done."""
    done = []
    for _ in range(n):
        for element_id, user, data in (("review", "carol", {"valid": False}), ("fix", "alice", {"title": "Fixed"})):
            clock.advance(hours=1)
            task = next(t for t in gov.tasks(user) if t.instance_id == instance_id and t.element_id == element_id)
            gov.complete(task.id, user, data)
            done.append((element_id, user, clock.now()))
    return done


def rows_of(gov, instance_id):
    with gov.db.read() as db:
        return db.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).all()


def test_move_targets_are_the_kept_window_with_who_and_when_then_older_ones_unavailable(gov, clock):
    instance_id = gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    done = loop_passes(gov, clock, instance_id, 4)  # 8 user tasks completed; review open again
    targets = InstanceAdmin(gov.runtime).move_targets(instance_id)
    newest_first = list(reversed(done))
    assert [(t.element_id, t.completed_by, t.completed_at) for t in targets] == newest_first
    assert [t.available for t in targets] == [True] * 5 + [False] * 3  # move_back_window: 5 (processes default)
    assert targets[0].name == "Fix the request" and targets[1].name == "Review"
    assert "Older than the last 5 completed user tasks" in targets[-1].why_not
    with pytest.raises(Conflict, match="no longer held"):
        InstanceAdmin(gov.runtime).move_back(instance_id, targets[-1].task_id, "admin", "Too far back")
    assert InstanceAdmin(gov.runtime).move_targets(instance_id)[0].task_id == targets[0].task_id  # nothing moved


def test_move_back_reopens_an_earlier_task(gov, clock):
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    targets = admin.move_targets(instance_id)
    assert [(t.element_id, t.completed_by, t.available) for t in targets] == [("review", "carol", True)]
    clock.advance(days=1)
    result = admin.move_back(instance_id, targets[0].task_id, "carol", "The review was done on the wrong paper")
    assert result.status == "running"
    assert sorted((r.element_id, r.status) for r in rows_of(gov, instance_id)) == [
        ("fix", "cancelled"), ("review", "completed"), ("review", "ready")]
    with gov.db.read() as db:
        assert db.scalar(select(Timer.status).where(Timer.instance_id == instance_id)) == "cancelled"
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "instance.moved_back"))
        assert event.actor == "carol" and event.details["reason"] == "The review was done on the wrong paper"
        assert event.details["task"] == "Review" and event.details["from_tasks"] == ["fix"]
        assert event.task_id == targets[0].task_id and event.element_id == "review"
    review = next(t for t in gov.tasks("carol") if t.instance_id == instance_id)
    assert review.id == targets[0].task_id
    assert gov.complete(review.id, "carol", {"valid": True}).status == "completed"


def test_move_back_across_loop_passes_rearms_the_boundary_timer(gov, clock):
    admin = InstanceAdmin(gov.runtime)
    instance_id = gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    loop_passes(gov, clock, instance_id, 3)
    oldest = [t for t in admin.move_targets(instance_id) if t.available][-1]
    assert oldest.element_id == "fix"  # pass 1's fix: five user tasks, gateways and boundary timers back
    clock.set(datetime(2027, 2, 1, 9, tzinfo=timezone.utc))  # Monday 1 February 2027
    admin.move_back(instance_id, oldest.task_id, "pat", "Alice sent the wrong file")
    rows = rows_of(gov, instance_id)
    assert sorted((r.element_id, r.status) for r in rows if r.status != "completed") == [
        ("fix", "ready"), ("review", "cancelled")]
    assert [r.id for r in rows if r.status == "ready"] == [oldest.task_id]
    assert len([r for r in rows if r.status == "completed"]) == 6  # the completed history is kept
    with gov.db.read() as db:
        timers = db.scalars(select(Timer).where(Timer.instance_id == instance_id).order_by(Timer.id)).all()
    assert [t.status for t in timers] == ["cancelled"] * 3 + ["waiting"]
    assert timers[-1].due_at == datetime(2027, 3, 1, 9, tzinfo=timezone.utc)  # 20 working days from the move
    after = admin.move_targets(instance_id)
    undone = "Undone when pat moved the token back to an earlier task"
    assert [(t.element_id, t.why_not) for t in after] == [
        ("fix", undone), ("review", undone), ("fix", undone), ("review", undone),  # passes 3 and 2, newest first
        ("review", "Older than the last 5 completed user tasks this instance keeps for moving back "
                   "(setting move_back_window)")]  # pass 1's review was beyond the window already
    fix = next(t for t in gov.tasks("alice") if t.instance_id == instance_id)
    gov.complete(fix.id, "alice", {"title": "The right file"})
    review = next(t for t in gov.tasks("carol") if t.instance_id == instance_id)
    done = gov.complete(review.id, "carol", {"valid": True})
    assert (done.status, done.reference) == ("completed", "LP001")


def test_move_back_into_a_finished_subprocess(gov, clock):
    from tests.scenarios.change_control_driver import ChangeRequest
    cr = ChangeRequest(gov, clock).to_decision()
    assert cr.open_tasks() == ["decide"]
    admin = InstanceAdmin(gov.runtime)
    targets = [t for t in admin.move_targets(cr.id) if t.available]
    assert [t.element_id for t in targets][:2] == ["table", "review"]  # inside 'Assess and consult', finished
    admin.move_back(cr.id, targets[1].task_id, "sam", "The review missed a response")
    assert cr.open_tasks() == ["review"] and cr.status == "running"
    assert "decide" in [r.element_id for r in rows_of(gov, cr.id) if r.status == "cancelled"]
    cr.do("review").do("table")
    assert cr.open_tasks() == ["decide"] and cr.state == "awaiting decision"


def test_move_back_inside_a_running_subprocess_and_refusals(gov, clock):
    from tests.scenarios.change_control_driver import ChangeRequest
    cr = ChangeRequest(gov, clock).to_consultation()
    admin = InstanceAdmin(gov.runtime)
    amend = next(t for t in admin.move_targets(cr.id) if t.element_id == "amend")
    with pytest.raises(Forbidden):
        admin.move_back(cr.id, amend.task_id, "olive", "Observers never act")
    with pytest.raises(ReasonMissing):
        admin.move_back(cr.id, amend.task_id, "admin", "")
    admin.move_back(cr.id, amend.task_id, "admin", "The cost was mistyped")
    assert cr.open_tasks() == ["amend"]
    assert cr.timers() == {}  # the consultation window's timer went with the consultation
    with pytest.raises(Conflict, match="not accepting"):
        cr.respond("bob")  # and so did its wait for responses
    cr.do("amend").do("issue_consultation")
    assert cr.state == "in consultation" and "window_closes" in cr.timers()


def test_trail_marks_completed_active_and_taken_flows(gov, clock):
    instance_id = to_fix(gov)
    clock.advance(days=60)
    with gov.db.read() as db:
        trail = instance_trail(db, gov.repository, instance_id, clock.now())
    assert trail.active == ["fix", "lapse_timer"]
    assert trail.overdue == []  # the fix task has no deadline of its own
    assert set(trail.completed) >= {"start", "review", "valid_gw"}
    assert "number" not in trail.completed and "f3" not in trail.taken_flows
    assert {"f1", "f2", "f4"} <= set(trail.taken_flows)


def test_trail_takes_every_element_the_engine_recorded_as_passed(gov, clock):
    """Element passages name scripts and events the audit trail does not: the trail marks them without inferring."""
    instance_id = to_fix(gov)
    with gov.db.read() as db:
        recorded = set(db.scalars(select(ElementPassage.element_id).where(ElementPassage.instance_id == instance_id)))
        assert {"start", "review", "valid_gw"} <= recorded
    with gov.db.write() as db:  # as if an earlier pass had run the script, and a task had been cut short
        db.add_all([ElementPassage(instance_id=instance_id, element_id="number", entered_at=clock.now(),
                                   left_at=clock.now(), outcome="completed"),
                    ElementPassage(instance_id=instance_id, element_id="done", entered_at=clock.now(),
                                   left_at=clock.now(), outcome="cancelled")])
    with gov.db.read() as db:
        trail = instance_trail(db, gov.repository, instance_id, clock.now())
    assert "number" in trail.completed  # unreachable by inference: no flow into it was taken
    assert "done" not in trail.completed  # a cancelled passage is not a completion


def test_move_back_before_conditions_being_closed_reopens_every_condition(gov, clock):
    """A closed condition (one instance of the multi-instance 'Close condition') is not a target on its own: the
    token goes back to 'Communicate the decision', and every condition is closed again from there."""
    from tests.scenarios.change_control_driver import ChangeRequest
    from tests.scenarios.test_change_control import CONDITIONS
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="accept_with_conditions", conditions=CONDITIONS)
    cr.do("communicate")
    cr.do("close_conditions", index=1, closure_summary="Closed by mistake.")
    admin = InstanceAdmin(gov.runtime)
    targets = [t for t in admin.move_targets(cr.id) if t.available]
    assert "close_conditions" not in [t.element_id for t in targets] and targets[0].element_id == "communicate"
    admin.move_back(cr.id, targets[0].task_id, "sam", "A condition was closed by mistake")
    assert cr.open_tasks() == ["communicate"] and cr.state == "approved with conditions"
    assert not any(r.status == "ready" and r.element_id == "close_conditions" for r in rows_of(gov, cr.id))
    cr.do("communicate")
    assert cr.open_tasks() == ["close_conditions", "close_conditions"]
    cr.do("close_conditions", closure_summary="Plan published.").do("close_conditions", closure_summary="Re-run.")
    cr.do("confirm_conditions").do("action_change")
    assert (cr.record["status"], cr.state) == ("completed", "closed")
    assert sorted(c["closure_summary"] for c in cr.data["closed_conditions"]) == ["Plan published.", "Re-run."]
