"""What `init` loads: roles, governance groups with their seats, and a schema that matches the models."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from engine.store.models import Base, GovernanceGroup, Role, Seat


def test_roles_and_groups_are_loaded_as_data(gov):
    with gov.db.read() as session:
        roles = {r.id: r for r in session.scalars(select(Role))}
        groups = {g.id: g for g in session.scalars(select(GovernanceGroup))}
        psg_seats = session.scalars(select(Seat).where(Seat.group_id == "PSG").order_by(Seat.position)).all()
    assert roles["ofgem_observer"].acts is False and roles["change_control_manager"].name == "Change Control Manager"
    assert groups["PSG"].level == 2 and groups["PSG"].parent_id == "OFGEM"
    assert groups["DAG"].parent_id == "PSG" and groups["DAG"].usual_day == "second Wednesday"
    assert groups["TWG"].parent_id == "SITAG" and groups["TWG"].details["membership"] == "open_all_programme_parties"
    assert groups["TMAG"].status == "superseded"
    assert psg_seats[0].seat_code == "SRO_CHAIR" and psg_seats[0].kind == "chair"
    assert psg_seats[-1].seat_code == "PMO_SECRETARIAT"


def test_init_twice_changes_nothing_and_keeps_seat_holders(gov):
    with gov.db.write() as session:
        seat = session.scalars(select(Seat).where(Seat.group_id == "DAG", Seat.position == 0)).one()
        seat.holder_id = 1
    report = gov.init()
    assert all(not p.created for p in report.deployment.processes)
    with gov.db.read() as session:
        seat = session.scalars(select(Seat).where(Seat.group_id == "DAG", Seat.position == 0)).one()
        assert seat.holder_id == 1


def test_migrations_match_the_models(gov):
    with gov.db.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
