"""Deferred writes (an API token's use): made in the context's next write transaction and committed or rolled back
with it; left over, made by `settle_deferred` in one of their own; never twice, never silently lost."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import event, func, select

from engine.store import audit
from engine.store.models import AuditEvent


def noted(gov, action: str) -> int:
    with gov.db.read() as session:
        return session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action))


AT = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)


def note(action: str):
    def write(session):
        audit.record(session, AT, "tester", action)
    return write


@pytest.fixture
def db(gov):
    yield gov.db
    gov.db.drop_deferred()  # no test leaves its context holding writes


def test_a_deferred_write_rides_in_the_next_transaction_and_only_once(gov, db):
    db.defer(note("deferred"))
    assert noted(gov, "deferred") == 0, "nothing is written when it is deferred"
    with db.write() as session:
        audit.record(session, AT, "tester", "command")
        with db.write():  # a transaction opened inside the command's does not take it too
            pass
        assert noted(gov, "deferred") == 0
    assert noted(gov, "deferred") == 1 and noted(gov, "command") == 1
    with db.write():
        pass
    db.settle_deferred()
    assert noted(gov, "deferred") == 1, "made once: the later transaction and the settling find nothing waiting"


def test_a_rolled_back_transaction_leaves_the_deferred_write_waiting_for_the_settling(gov, db):
    db.defer(note("deferred"))
    with pytest.raises(RuntimeError):
        with db.write() as session:
            audit.record(session, AT, "tester", "command")
            raise RuntimeError("the command fails")
    assert noted(gov, "deferred") == 0 and noted(gov, "command") == 0
    db.settle_deferred()
    assert noted(gov, "deferred") == 1 and noted(gov, "command") == 0


def test_a_failing_deferred_write_rolls_back_its_transaction_and_is_kept(gov, db):
    def broken(_session):
        raise ValueError("cannot write")
    db.defer(broken)
    with pytest.raises(ValueError):
        with db.write() as session:
            audit.record(session, AT, "tester", "command")
    assert noted(gov, "command") == 0, "the transaction it rode in rolled back as a whole"
    assert db.drop_deferred() == 1, "still waiting: dropped only on purpose"


def test_settling_with_nothing_deferred_opens_no_transaction(gov, db):
    begun = []

    def count(connection):
        begun.append(connection)
    event.listen(gov.db.engine, "begin", count)
    try:
        db.settle_deferred()
        db.defer(note("deferred"))
        db.settle_deferred()
    finally:
        event.remove(gov.db.engine, "begin", count)
    assert len(begun) == 1, "one transaction, for the one deferred write"
