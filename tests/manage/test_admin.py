"""Administrative actions in the engine (SQLite and PostgreSQL): suspend, resume, terminate, retry, move back."""
from __future__ import annotations

import pytest
from sqlalchemy import select

import engine.runtime
from engine.admin import InstanceAdmin, ReasonMissing, may_administer
from engine.errors import Conflict, Forbidden
from engine.models import AuditEvent, HumanTask, Instance, MessageWait, Timer
from engine.trail import instance_trail

pytestmark = pytest.mark.postgres


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


def test_move_targets_are_only_tasks_still_held_in_the_state(gov):
    instance_id = to_fix(gov)
    # the engine pruned the review (finished history lives in the audit trail): nothing to go back to
    assert InstanceAdmin(gov.runtime).move_targets(instance_id) == []


def test_move_back_reopens_an_earlier_task(gov, monkeypatch):
    monkeypatch.setattr(engine.runtime, "prune_history", lambda workflow: 0)  # keep the history this time
    admin = InstanceAdmin(gov.runtime)
    instance_id = to_fix(gov)
    targets = admin.move_targets(instance_id)
    assert [t.element_id for t in targets] == ["review"]
    result = admin.move_back(instance_id, targets[0].task_id, "carol", "The review was done on the wrong paper")
    assert result.status == "running"
    with gov.db.read() as db:
        rows = db.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                          .order_by(HumanTask.created_at, HumanTask.status)).all()
        assert sorted((r.element_id, r.status) for r in rows) == [
            ("fix", "cancelled"), ("review", "completed"), ("review", "ready")]
        assert db.scalar(select(Timer.status).where(Timer.instance_id == instance_id)) == "cancelled"
        event = db.scalar(select(AuditEvent).where(AuditEvent.action == "instance.moved_back"))
        assert event.details["reason"] == "The review was done on the wrong paper"
    review = next(t for t in gov.tasks("carol") if t.instance_id == instance_id)
    assert review.id == targets[0].task_id
    assert gov.complete(review.id, "carol", {"valid": True}).status == "completed"


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
