"""The `gov` fixture's starting database, set up once per test process and copied for each test.

Setting govflow up (migrations, roles and groups, processes/ and the test fixtures deployed, the test people added)
took about a second per test, more than most tests' own work. Each test process now does it once per database
backend and clock instant, exactly as before, and each test gets its own copy: SQLite through the backup API,
PostgreSQL as `CREATE DATABASE … TEMPLATE` (the `database_url` fixture does it when the test uses `gov`). The copy
is the same rows the set-up would have written; the test's govflow is new (its caches cold, as in a freshly started
worker)."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from engine.clock import Clock
from engine.platform import Govflow
from engine.services.identity import NewUser

from .postgres_cluster import Cluster


def set_up(govflow: Govflow, people, password: str, fixtures: Path) -> None:
    """What a test's govflow starts from: initialised, the test people, the fixture processes deployed."""
    govflow.init()
    for username, name, roles, organisation, constituency in people:
        govflow.add_user(NewUser(username, name, f"{username}@example.org", password, tuple(roles), organisation,
                                 constituency))
    govflow.deploy([fixtures / "processes"], forms_dir=fixtures / "forms", note="test fixtures")
    govflow.effects.wait_idle()


class Seeds:
    """Set-up databases of one test process, by backend and clock instant, and copies of them."""

    def __init__(self, folder: Path, build):
        self.folder = folder
        self.build = build  # build(database_url, folder, clock) -> Govflow, set up
        self._sqlite: dict[datetime, Path] = {}
        self._postgres: dict[datetime, str] = {}

    def copy_sqlite(self, database_url: str, clock: Clock) -> None:
        """Make the SQLite database at `database_url` (not yet created) a copy of the set-up one."""
        _sqlite_copy(self._sqlite_seed(clock.now()), Path(database_url.split(":///", 1)[1]))

    def postgres_template(self, cluster: Cluster, clock: Clock) -> str:
        """The name of the set-up PostgreSQL database, to create a test's database from."""
        return self._postgres_seed(cluster, clock.now())

    def _sqlite_seed(self, instant: datetime) -> Path:
        if instant not in self._sqlite:
            path = self.folder / f"seed{len(self._sqlite)}.db"
            self._built(f"sqlite:///{path}", instant)
            self._sqlite[instant] = path
        return self._sqlite[instant]

    def _postgres_seed(self, cluster: Cluster, instant: datetime) -> str:
        if instant not in self._postgres:
            name = f"seed{len(self._postgres)}"
            self._built(cluster.create_database(name, "govflow_template"), instant)
            self._postgres[instant] = name
        return self._postgres[instant]

    def _built(self, database_url: str, instant: datetime) -> None:
        govflow = self.build(database_url, self.folder / f"instance-{instant:%Y%m%d%H%M%S%f}", Clock(instant))
        govflow.db.dispose()  # a PostgreSQL template must have no connections


def _sqlite_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
