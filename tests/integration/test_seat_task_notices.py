"""A task for one seat (`group: DAG:SUPPLIER_LARGE`, the escalation diagram's representative review) is told to exactly
the people who may act on it — that seat's holder and its alternate, who may stand in [S 3.8] — and to nobody else:
not the raiser, not another participant, not DAG's other members (SQLite and PostgreSQL)."""
from __future__ import annotations

from engine.governance.seats import assign_seat
from engine.services.identity import NewUser

from ..conftest import TEST_PASSWORD

RAISE = {"title": "Test environment booking rules", "concern": "SIT environment slots are allocated unfairly.",
         "desired_outcome": "A published, fair booking rule.", "raiser_organisation": "Northern Power Supply",
         "cost_impact_gbp": 0, "tom_impact": False, "consumer_competition_impact": False,
         "level1_milestone_change": False, "route": "representative", "origin_group": "DAG",
         "constituency": "SUPPLIER_LARGE"}


def told_about(gov, instance_id: int) -> dict[str, list[str]]:
    """username -> the kinds of notices they got about this instance (the new tasks' announcements, made on the
    effects thread, all made first)."""
    gov.effects.wait_idle()
    return {u["username"]: kinds for u in gov.users()
            if (kinds := [n["kind"] for n in gov.notifications(u["username"], limit=200)
                          if n["instance_id"] == instance_id])}


def add_participant(gov, username: str, constituency: str) -> None:
    gov.add_user(NewUser(username, username.title(), f"{username}@example.org", TEST_PASSWORD, ("participant",),
                         "Big Supplier plc", constituency))


def test_a_seat_task_tells_the_seat_holder_and_alternate_and_nobody_else(gov):
    for username, constituency in (("rita", "SUPPLIER_LARGE"), ("ralph", "SUPPLIER_LARGE"),
                                   ("dora", "SUPPLIER_SMALL")):
        add_participant(gov, username, constituency)
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", holder="rita", alternate="ralph")
    assign_seat(gov, "DAG", "SUPPLIER_SMALL", by="admin", holder="dora")  # on DAG, but another seat
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder="chris")
    assign_seat(gov, "PSG", "SUPPLIER_LARGE", by="admin", holder="bob")  # the same constituency, another group

    instance_id = gov.start("escalation", "alice", RAISE).instance_id
    task = next(t for t in gov.show(instance_id)["tasks"] if t["status"] == "ready")
    assert gov.task(task["id"]).group_id == "DAG:SUPPLIER_LARGE"

    assert gov.hearers(task["id"]) == ["ralph", "rita"]
    assert {name: kinds for name, kinds in told_about(gov, instance_id).items() if "new_task" in kinds} == \
        {"ralph": ["new_task"], "rita": ["new_task"]}
    # and they are exactly who may act on it
    people = [u["username"] for u in gov.users()]
    assert sorted(p for p in people if gov.may_act(task["id"], p)) == ["ralph", "rita"]


def test_without_an_alternate_only_the_holder_hears(gov):
    add_participant(gov, "rita", "SUPPLIER_LARGE")
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", holder="rita")
    instance_id = gov.start("escalation", "alice", RAISE).instance_id
    task = next(t for t in gov.show(instance_id)["tasks"] if t["status"] == "ready")
    assert gov.hearers(task["id"]) == ["rita"]
    assert [name for name, kinds in told_about(gov, instance_id).items() if "new_task" in kinds] == ["rita"]
    # a claim narrows reminders to the claimant
    gov.claim(task["id"], "rita")
    assert gov.hearers(task["id"]) == ["rita"]


def test_an_empty_seat_tells_nobody(gov):
    instance_id = gov.start("escalation", "alice", RAISE).instance_id
    task = next(t for t in gov.show(instance_id)["tasks"] if t["status"] == "ready")
    assert gov.hearers(task["id"]) == []
    assert not any("new_task" in kinds for kinds in told_about(gov, instance_id).values())
