"""The seat register: people assigned to seats (audited), a group's tasks go to its members only,
a membership change applies at once to open tasks, and the admin page that assigns people to seats."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.errors import Forbidden
from engine.store.models import AuditEvent
from engine.governance.seats import assign_seat, group_members, seat_register

from .conftest import csrf_of, sign_in


ESCALATION = {"title": "Design baseline conflict", "concern": "BPRWG cannot agree the interface baseline.",
              "desired_outcome": "DAG decides the baseline.", "raiser_organisation": "MHHS Programme",
              "cost_impact_gbp": 0, "tom_impact": False, "consumer_competition_impact": False,
              "level1_milestone_change": False, "route": "group", "origin_group": "BPRWG"}
ANSWER = {"group_decision": "resolve", "group_outcome": "DAG fixed the baseline.", "decided_on": "2026-12-02"}


def dag_task(gov, username, instance_id):
    found = [t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == "consider_at_group"]
    return found[0] if found else None


def test_assigning_seats_is_audited_and_shown_in_the_register(gov):
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    seat = assign_seat(gov, "SITAG", "SRO_CHAIR", by="admin", holder="chris", alternate="sam")
    assert (seat.holder, seat.alternate) == ("chris", "sam")
    assign_seat(gov, "SITAG", "SRO_CHAIR", by="admin", alternate=None)  # the holder is kept
    sitag = next(g for g in seat_register(gov) if g.id == "SITAG")
    chair = next(s for s in sitag.seats if s.seat_code == "SRO_CHAIR")
    assert (chair.holder, chair.alternate) == ("chris", None)
    with gov.db.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "seat.assigned")
                                 .order_by(AuditEvent.id)).all()
        assert [(e.actor, e.details["group"], e.details["holder"], e.details["previous_alternate"])
                for e in events] == [("admin", "PSG", "sam", None), ("admin", "SITAG", "chris", None),
                                     ("admin", "SITAG", "chris", "sam")]
        assert group_members(session, "SITAG") == ["chris"]


def test_only_an_admin_assigns_seats_and_refusals_are_audited(gov):
    with pytest.raises(Forbidden):
        assign_seat(gov, "PSG", "SRO_CHAIR", by="pat", holder="pat")
    with gov.db.read() as session:
        denied = session.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
        assert [(e.actor, e.details["attempted"]) for e in denied] == [("pat", "assign seat")]
        assert group_members(session, "PSG") == []


def test_a_dag_task_goes_to_dag_members_only_and_membership_changes_apply_at_once(gov):
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder="chris")
    iid = gov.start("escalation", "pat", ESCALATION).instance_id
    task = dag_task(gov, "chris", iid)
    assert task is not None and task.group_id == "DAG"
    assert dag_task(gov, "sam", iid) is None  # a chair, but not in DAG
    with pytest.raises(Forbidden):
        gov.complete(task.id, "sam", ANSWER)

    # Sam becomes DAG's alternate chair: the open task is his at once; Chris leaves the seat: no longer his
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", alternate="sam")
    assert dag_task(gov, "sam", iid) is not None
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder=None)
    assert dag_task(gov, "chris", iid) is None
    with pytest.raises(Forbidden):
        gov.complete(task.id, "chris", ANSWER)
    assert gov.complete(task.id, "sam", ANSWER).state == "resolved"


def test_a_task_for_one_seat_goes_to_its_holder_and_alternate(gov):
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", holder="bob")
    iid = gov.start("escalation", "alice", {**ESCALATION, "route": "representative", "origin_group": "DAG",
                                            "constituency": "SUPPLIER_LARGE"}).instance_id
    mine = lambda user: [t.element_id for t in gov.tasks(user) if t.instance_id == iid]  # noqa: E731
    assert mine("bob") == ["representative_review"] and mine("alice") == []
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", alternate="alice")
    assert mine("alice") == ["representative_review"]


# ---- the admin page --------------------------------------------------------------------------------------------------

def test_the_admin_assigns_a_seat_on_the_page(client, password, web_gov):
    sign_in(client, "admin", password)
    page = client.get("/admin/seats/")
    assert page.status_code == 200 and b"Seat register" in page.data and b"SITAG" in page.data
    group = client.get("/admin/seats/SITAG")
    assert group.status_code == 200 and b"SRO as Chair" in group.data
    answer = client.post("/admin/seats/SITAG/0", data={"csrf_token": csrf_of(group.data), "holder": "chris",
                                                       "alternate": "sam"}, follow_redirects=True)
    assert answer.status_code == 200 and b"Chris Chen" in answer.data
    sitag = next(g for g in seat_register(web_gov) if g.id == "SITAG")
    assert (sitag.seats[0].holder, sitag.seats[0].alternate) == ("chris", "sam")
    same = client.post("/admin/seats/SITAG/0", data={"csrf_token": csrf_of(answer.data), "holder": "chris",
                                                     "alternate": "chris"}, follow_redirects=True)
    assert b"cannot also be its alternate" in same.data


def test_staff_read_the_register_but_only_an_admin_changes_it(client, password, web_gov):
    sign_in(client, "pat", password)
    group = client.get("/admin/seats/PSG")
    assert group.status_code == 200 and b"<select" not in group.data
    refused = client.post("/admin/seats/PSG/0", data={"csrf_token": csrf_of(group.data), "holder": "pat"})
    assert refused.status_code == 403
    assert next(g for g in seat_register(web_gov) if g.id == "PSG").seats[0].holder is None


def test_a_participant_cannot_see_the_register(client, password):
    sign_in(client, "alice", password)
    assert client.get("/admin/seats/").status_code == 403
