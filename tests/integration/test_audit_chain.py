"""The tamper-evident audit trail: every event chained to the one before it (per instance, and a global chain), an
edited or deleted row found by `govflow audit verify`, audit rows refused UPDATE and DELETE by the database itself,
existing rows chained by the migration, and concurrent writers that neither fork a chain nor deadlock."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.store import schema
from engine.store.db import Database

from ..cli_runner import cli_on
from ..conftest import make_govflow

RAISE = json.loads((Path(__file__).resolve().parents[2] / "bench" / "change_request.json").read_text())
VALID = {"valid": True, "validation_notes": "Complete."}


def some_work(gov) -> int:
    """Events in an instance chain and in the global chain: a request raised and validated, a preference changed."""
    started = gov.start("change_control", "alice", RAISE)
    task = next(t.id for t in gov.tasks("carol") if t.instance_id == started.instance_id)
    gov.claim(task, "carol")
    gov.complete(task, "carol", VALID)
    gov.set_notification_preference("bob", "digest")
    gov.effects.wait_idle()  # the effects worker's writes done: the chains hold still while the test looks
    return started.instance_id


def tamper(gov, sql: str, **params) -> None:
    """Change audit rows behind the application's back: around the triggers that refuse it (as the database's
    owner would: SQLite's triggers dropped, PostgreSQL's skipped for the transaction by a superuser). SQLite's
    transaction takes the write lock at BEGIN, as the application's own do: a deferred one that reads first is
    refused at once ("database is locked") if a writer got in between."""
    gov.effects.wait_idle()
    with gov.db.engine.execution_options(sqlite_begin="IMMEDIATE").begin() as connection:
        if gov.db.is_sqlite:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_update")
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS audit_event_no_delete")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.execute(text(sql), params)


def events(gov, where: str = "1=1", **params) -> list[dict]:
    with gov.db.engine.connect() as connection:
        return [dict(r) for r in connection.execute(text(
            f"SELECT id, instance_id, seq, prev_hash, hash, actor, action FROM audit_event WHERE {where} "
            "ORDER BY id"), params).mappings()]


def run_cli(database_url, tmp_path, monkeypatch, *args):
    return cli_on(database_url, tmp_path / "instance", monkeypatch)(*args, ok=None)


def test_every_event_is_chained_per_instance_and_globally(gov):
    instance_id = some_work(gov)
    own = events(gov, "instance_id = :i", i=instance_id)
    assert [e["seq"] for e in own] == list(range(1, len(own) + 1)) and len(own) >= 3
    assert own[0]["prev_hash"] == "" and all(b["prev_hash"] == a["hash"] for a, b in zip(own, own[1:]))
    overall = events(gov, "instance_id IS NULL")
    assert [e["seq"] for e in overall] == list(range(1, len(overall) + 1))
    assert overall[-1]["action"] == "notification_preference.changed"
    verdict = gov.audit_trail.verify()
    assert verdict["intact"] and verdict["first_break"] is None
    assert verdict["events"] == len(events(gov)) and verdict["chains"] == 2


def test_verify_finds_an_edited_row(gov, database_url, tmp_path, monkeypatch):
    instance_id = some_work(gov)
    victim = events(gov, "instance_id = :i AND action = 'task.completed'", i=instance_id)[0]
    tamper(gov, "UPDATE audit_event SET actor = 'mallory' WHERE id = :id", id=victim["id"])
    verdict = gov.audit_trail.verify()
    assert not verdict["intact"]
    first = verdict["first_break"]
    assert first["event_id"] == victim["id"] and first["chain"] == f"instance:{instance_id}"
    assert "no longer match its hash" in first["problem"]

    result = run_cli(database_url, tmp_path, monkeypatch, "audit", "verify")
    assert result.exit_code == 1
    assert f"First broken link: event {victim['id']} in chain instance:{instance_id}" in result.output


def test_verify_finds_an_edit_that_rewrote_the_rows_hash_too(gov):
    instance_id = some_work(gov)
    victim, following = events(gov, "instance_id = :i", i=instance_id)[1:3]
    tamper(gov, "UPDATE audit_event SET actor = 'mallory', hash = :h WHERE id = :id",
           id=victim["id"], h="0" * 64)
    breaks = gov.audit_trail.verify()["breaks"]
    assert [b["event_id"] for b in breaks][:2] == [victim["id"], following["id"]]
    assert "cut or rewritten here" in breaks[1]["problem"]


def test_verify_finds_a_deleted_row_in_the_middle_and_at_the_end(gov, database_url, tmp_path, monkeypatch):
    instance_id = some_work(gov)
    chain = events(gov, "instance_id = :i", i=instance_id)
    tamper(gov, "DELETE FROM audit_event WHERE id = :id", id=chain[1]["id"])
    verdict = gov.audit_trail.verify()
    assert verdict["first_break"]["event_id"] == chain[2]["id"]
    assert "position 2 is empty" in verdict["first_break"]["problem"]

    tamper(gov, "DELETE FROM audit_event WHERE id = :id", id=chain[-1]["id"])  # the newest: only the head knows
    tail = [b for b in gov.audit_trail.verify()["breaks"] if b["event_id"] is None]
    assert len(tail) == 1 and f"holds {len(chain)} event(s)" in tail[0]["problem"] \
        and "the last 1 were deleted" in tail[0]["problem"]

    overall = events(gov, "instance_id IS NULL")
    tamper(gov, "DELETE FROM audit_event WHERE id = :id", id=overall[-1]["id"])  # the global chain's newest
    result = run_cli(database_url, tmp_path, monkeypatch, "audit", "verify", "--json")
    assert result.exit_code == 1
    assert any(b["chain"] == "global" and "the last 1 were deleted" in b["problem"]
               for b in json.loads(result.stdout)["breaks"])


def test_an_anchor_catches_a_tail_cut_with_its_head_rewritten(gov, database_url, tmp_path, monkeypatch):
    instance_id = some_work(gov)
    result = run_cli(database_url, tmp_path, monkeypatch, "audit", "anchor", "--json")
    assert result.exit_code == 0, result.output
    anchored = json.loads(result.stdout)
    assert anchored["chains"] == 2 and len(anchored["digest"]) == 64
    assert gov.audit_trail.verify()["intact"]
    assert gov.audit_trail.anchor()["chains"] == 1, "only the global chain moved since (the first anchor)"

    chain = events(gov, "instance_id = :i", i=instance_id)
    tamper(gov, "DELETE FROM audit_event WHERE id = :id", id=chain[-1]["id"])
    tamper(gov, "UPDATE instance SET audit_seq = :s, audit_head = :h WHERE id = :i",
           s=chain[-2]["seq"], h=chain[-2]["hash"], i=instance_id)
    breaks = gov.audit_trail.verify()["breaks"]
    assert [b["problem"] for b in breaks] == [
        f"anchor event {anchored['event_id']} vouches for position {len(chain)} of this chain, which is empty: "
        "its events were deleted"]


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'mallory'", "DELETE FROM audit_event"])
def test_the_application_cannot_change_or_delete_audit_rows(gov, statement):
    some_work(gov)
    before = events(gov)
    with pytest.raises(DBAPIError, match="append-only"):
        with gov.db.engine.begin() as connection:  # the application's own connection and role
            connection.exec_driver_sql(statement)
    assert events(gov) == before


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has no TRUNCATE
def test_the_application_cannot_truncate_audit_rows_on_postgres(gov, backend):
    some_work(gov)
    with pytest.raises(DBAPIError, match="append-only"):
        with gov.db.engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE audit_event CASCADE")


def test_the_migration_chains_the_rows_already_written(empty_database_url, tmp_path, clock):
    db = Database(empty_database_url)
    config = schema.alembic_config(db.url)
    from alembic import command
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0013")
    written = datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=timezone.utc)
    with db.engine.begin() as connection:  # more than one batch of the migration's
        connection.execute(text("INSERT INTO audit_event (at, actor, action, details) VALUES (:at, :a, 'x', :d)"),
                           [{"at": written, "a": f"person{n}", "d": json.dumps({"n": n, "ü": [1.5, None]})}
                            for n in range(2500)])
    db.dispose()
    gov = make_govflow(empty_database_url, tmp_path, clock)
    gov.init()
    old = events(gov, "action = 'x'")
    assert [(e["seq"], e["actor"]) for e in old[:2]] == [(1, "person0"), (2, "person1")]
    assert [e["seq"] for e in old] == list(range(1, 2501))
    verdict = gov.audit_trail.verify()
    assert verdict["intact"], verdict["breaks"][:3]
    gov.db.dispose()


def test_the_migrations_chaining_rebuilds_exactly_the_chains_the_application_wrote(gov):
    """What the migration does to existing events, run again over events the application chained itself: the same
    positions, links and hashes, and the same heads."""
    import importlib.util
    instance_id = some_work(gov)
    gov.add_comment(instance_id, "carol", "One more")
    gov.effects.wait_idle()
    before = [(e["id"], e["instance_id"], e["seq"], e["prev_hash"], e["hash"]) for e in events(gov)]
    path = schema.MIGRATIONS / "versions" / "0014_audit_chains.py"
    spec = importlib.util.spec_from_file_location("audit_chains_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with gov.db.engine.begin() as connection:
        if gov.db.is_sqlite:
            connection.exec_driver_sql("DROP TRIGGER audit_event_no_update")
        else:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        connection.execute(text("UPDATE audit_event SET seq = NULL, prev_hash = NULL, hash = NULL"))
        heads = migration._chain_existing(connection)
        instance_head = connection.execute(text("SELECT audit_seq, audit_head FROM instance WHERE id = :i"),
                                           {"i": instance_id}).one()
        global_head = connection.execute(text("SELECT seq, hash FROM audit_head")).one()
    assert [(e["id"], e["instance_id"], e["seq"], e["prev_hash"], e["hash"]) for e in events(gov)] == before
    assert heads[instance_id] == tuple(instance_head) and heads[None] == tuple(global_head)
    assert gov.audit_trail.verify()["intact"]


def test_the_scheduler_anchors_the_trail(gov):
    some_work(gov)
    anchored = gov.scheduler().anchor_audit()
    assert anchored["chains"] == 2 and len(anchored["digest"]) == 64
    verdict = gov.audit_trail.verify()
    assert verdict["intact"] and verdict["anchors"] == 1


def test_concurrent_writers_neither_fork_a_chain_nor_deadlock(gov, backend):
    """Eight threads at once: commands on one instance (its chain), on their own instances, and changes without an
    instance (the global chain)."""
    shared = gov.start("change_control", "alice", RAISE).instance_id
    before = len(events(gov))
    errors, timings = [], []
    rounds = 6

    def work(n: int) -> None:
        try:
            for i in range(rounds):
                started = time.perf_counter()
                if n % 3 == 0:
                    gov.set_notification_preference("bob", ("digest", "immediate")[i % 2])
                elif n % 3 == 1:
                    gov.add_comment(shared, "carol", f"comment {n}.{i}")
                else:
                    gov.start("change_control", "alice", RAISE)
                timings.append(time.perf_counter() - started)
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(repr(error))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    verdict = gov.audit_trail.verify()
    assert verdict["intact"], verdict["breaks"]
    assert verdict["events"] > before
    comments = events(gov, "instance_id = :i AND action = 'comment.added'", i=shared)
    assert len(comments) == 3 * rounds
    timings.sort()
    print(f"\n{backend}: {len(timings)} concurrent audited commands, median {timings[len(timings) // 2] * 1000:.1f} ms,"
          f" max {timings[-1] * 1000:.1f} ms")


def test_changing_the_notification_preference_is_audited(gov):
    gov.set_notification_preference("bob", "digest")
    gov.set_notification_preference("bob", "digest")  # no change, no event
    gov.set_notification_preference("bob", "none")
    changed = [e for e in events(gov, "action = 'notification_preference.changed'")]
    assert [(e["actor"], e["instance_id"]) for e in changed] == [("bob", None), ("bob", None)]
    details = [gov_details(gov, e["id"]) for e in changed]
    assert details == [{"before": "immediate", "after": "digest"}, {"before": "digest", "after": "none"}]


def test_marking_notifications_read_is_audited(gov):
    for _ in range(3):
        gov.start("change_control", "alice", RAISE)
    gov.effects.wait_idle()  # the announcements, delivered after each commit on a worker thread
    notices = gov.notifications("carol", unread_only=True)
    assert len(notices) >= 3
    assert gov.mark_read("carol", [notices[0]["id"]]) == 1
    assert gov.mark_read("carol", [notices[0]["id"]]) == 0, "already read: nothing changes, nothing is audited"
    rest = gov.mark_read("carol")
    assert rest == len(notices) - 1 and gov.mark_read("carol") == 0
    marked = events(gov, "action = 'notifications.read'")
    assert [e["actor"] for e in marked] == ["carol", "carol"]
    assert gov_details(gov, marked[0]["id"]) == {"notifications": [notices[0]["id"]], "all": False}
    assert gov_details(gov, marked[1]["id"]) == {"notifications": sorted(n["id"] for n in notices[1:]), "all": True}
    assert gov.audit_trail.verify()["intact"]


def gov_details(gov, event_id: int) -> dict:
    with gov.db.engine.connect() as connection:
        value = connection.execute(text("SELECT details FROM audit_event WHERE id = :i"), {"i": event_id}).scalar()
    return json.loads(value) if isinstance(value, str) else value


def test_every_notice_sent_is_audited_in_the_global_chain(gov):
    started = gov.start("change_control", "alice", RAISE)
    gov.effects.wait_idle()
    [notice] = [n for n in gov.notifications("carol") if n["instance_id"] == started.instance_id]
    sent = [gov_details(gov, e["id"]) for e in events(gov, "action = 'notice.sent' AND instance_id IS NULL")]
    assert {"kind": notice["kind"], "to": ["carol"], "subject": notice["subject"],
            "about_instance": started.instance_id, "about_task": notice["task_id"]} in sent
    assert "notice.sent" not in [e["action"] for e in gov.show(started.instance_id)["history"]]
    assert gov.audit_trail.verify()["intact"]
