"""A new web worker loads, before its first request, what that request would otherwise wait for: the process
versions in use, compiled, and the bank holidays (`Govflow.warm`, called by web/wsgi.py)."""
from __future__ import annotations

from sqlalchemy import event, select

from engine.calendar import ENGLAND_AND_WALES
from engine.store.models import ProcessVersion
from tests.conftest import make_govflow
from tests.web.cc_answers import RAISE


def test_a_new_worker_has_the_versions_in_use_compiled_before_its_first_command(gov, database_url, tmp_path, clock):
    gov.start("change_control", "alice", RAISE)
    worker = make_govflow(database_url, tmp_path / "worker", clock)  # a fresh process's engine: nothing loaded
    with worker.db.read() as session:
        rows = session.scalars(select(ProcessVersion)).all()
    latest = {}
    for row in rows:
        if row.version > latest.get(row.process_id, (0, 0))[0]:
            latest[row.process_id] = (row.version, row.id)
    warmed = worker.warm()
    assert warmed == sorted(version_id for _version, version_id in latest.values())
    statements = []
    event.listen(worker.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with worker.db.read() as session:
        for version_id in warmed:
            assert worker.repository.compiled(session, version_id).spec is not None
    assert not [s for s in statements if "deployment_file" in s or "blob" in s], "no version was compiled again"
    assert clock.now().year in ENGLAND_AND_WALES._holidays_by_year
