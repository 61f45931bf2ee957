"""Backing up and restoring the database: SQLite through its online backup API (consistent while govflow runs);
PostgreSQL with its own tools, pg_dump and pg_restore, whose command lines `postgres_commands` spells out."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from engine.errors import GovflowError
from engine.store.db import Database


@dataclass(frozen=True)
class BackupResult:
    path: str
    bytes: int
    revision: str | None

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Backups:
    def __init__(self, db: Database):
        self.db = db

    def _sqlite_path(self) -> Path:
        if not self.db.is_sqlite:
            raise GovflowError("This database is PostgreSQL: back it up with pg_dump and restore it with "
                               "pg_restore (`govflow backup --help` shows the commands).")
        path = make_url(self.db.url).database
        if not path or path == ":memory:":
            raise GovflowError("An in-memory database has nothing to back up.")
        return Path(path)

    def postgres_commands(self, target: str) -> dict[str, str]:
        """pg_dump/pg_restore command lines for this database (password left to PGPASSWORD or ~/.pgpass)."""
        url = make_url(self.db.url)
        args = " ".join(f"--{flag}={value}" for flag, value in
                        (("host", url.host), ("port", url.port), ("username", url.username)) if value)
        return {"backup": f"pg_dump --format=custom {args} --file={target} {url.database}",
                "restore": f"pg_restore --clean --if-exists --no-owner {args} --dbname={url.database} {target}"}

    def backup(self, target: Path) -> BackupResult:
        """A consistent copy of the live SQLite database (other processes may keep writing meanwhile)."""
        source_path = self._sqlite_path()
        if not source_path.exists():
            raise GovflowError(f"There is no database at {source_path} yet: run `govflow init` first.")
        target = Path(target)
        if target.exists():
            raise GovflowError(f"{target} exists already: choose a new file for the backup.")
        target.parent.mkdir(parents=True, exist_ok=True)
        with _open(source_path) as source, _open(target) as copy:
            source.backup(copy)
        return BackupResult(str(target), target.stat().st_size, _revision(target))

    def restore(self, backup: Path) -> BackupResult:
        """Replace the SQLite database's contents with a backup's (stop the web and schedulers first)."""
        target_path = self._sqlite_path()
        backup = Path(backup)
        if not backup.is_file():
            raise GovflowError(f"There is no backup at {backup}.")
        try:
            revision = _revision(backup)
        except sqlite3.DatabaseError as err:
            raise GovflowError(f"{backup} is not an SQLite database: {err}") from None
        if revision is None:
            raise GovflowError(f"{backup} is not a govflow database (it has no schema revision).")
        self.db.dispose()
        target_path.parent.mkdir(parents=True, exist_ok=True)
        with _open(backup) as source, _open(target_path) as live:
            source.backup(live)
        return BackupResult(str(target_path), target_path.stat().st_size, revision)


class _open:
    """sqlite3.connect as a context manager that closes (sqlite3's own only ends the transaction)."""

    def __init__(self, path: Path):
        self.connection = sqlite3.connect(str(path))

    def __enter__(self) -> sqlite3.Connection:
        return self.connection

    def __exit__(self, *_exc) -> None:
        self.connection.close()


def _revision(path: Path) -> str | None:
    with _open(path) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.OperationalError:
            return None
    return row[0] if row else None
