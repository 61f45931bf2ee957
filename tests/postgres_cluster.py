"""A throwaway PostgreSQL 15 cluster on a free loopback port, for the tests (started as `postgres` under root)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

PG_BIN_CANDIDATES = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]


def find_pg_bin() -> Path | None:
    for candidate in [os.environ.get("GOVFLOW_PG_BIN", ""), *PG_BIN_CANDIDATES]:
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """initdb + pg_ctl start in a temporary folder; `stop()` removes it."""

    def __init__(self, pg_bin: Path):
        self.pg_bin = pg_bin
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="govflow-pg-"))
        self.data = self.root / "data"
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        self._conn: psycopg.Connection | None = None
        self._strategy = ""

    def _run(self, *args: str) -> None:
        command = [str(self.pg_bin / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "Cluster":
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off " \
                  "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        deadline = time.time() + 30
        while True:
            try:
                with psycopg.connect(self.admin_dsn, autocommit=True):
                    break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        return self

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.admin_dsn, autocommit=True)
            # FILE_COPY (PostgreSQL 15+) copies the template's files instead of WAL-logging every block: faster
            # for a small template, and its checkpoints cost nothing with fsync off
            self._strategy = " STRATEGY FILE_COPY" if self._conn.info.server_version >= 150000 else ""
        return self._conn

    def create_database(self, name: str, template: str | None = None) -> str:
        """A new database: a copy of `template`, or empty (from template0) when there is none."""
        conn = self._admin()
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or "template0"}"'
                     + (self._strategy if template else ""))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a test's database, ending whatever connections the test left open (PostgreSQL 13+)."""
        self._admin().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
