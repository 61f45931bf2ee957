"""Database connections: SQLite (WAL, immediate write transactions) or PostgreSQL, and the session scopes.

Deferred writes: a small write that belongs to a request but need not be a transaction of its own (an API token's
use: its count and audit event) is `defer`red. It rides in the request's next write transaction, committed or
rolled back with it; what is still waiting when the request ends (`settle_deferred`: a read-only request, or a
command that failed) gets one transaction of its own. Nothing deferred is dropped.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from engine.observability import context

DeferredWrite = Callable[[Session], None]
_deferred: ContextVar[list[DeferredWrite] | None] = ContextVar("govflow_deferred_writes", default=None)


class Database:
    """One engine per process; `write()` is one command's transaction, `read()` a read-only look."""

    def __init__(self, url: str, session_info: dict | None = None):
        self.url = url
        # what every session of this database carries in its `info` (the facade: where its access policy is read)
        self.session_info: dict = dict(session_info or {})
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            _ensure_sqlite_folder(url)
            self.engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
            _configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
        event.listen(self.engine, "before_cursor_execute", _count_statement)  # SQL statements per request
        self._writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        # no autoflush: a command's changes go out together at its end, inserts batched per table
        self._write_sessions = sessionmaker(bind=self._writer, expire_on_commit=False, autoflush=False)
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any error; the writes deferred so far in this
        context are made in it, last (and wait again if it rolls back)."""
        waiting = _deferred.get()
        taken = list(waiting) if waiting else []
        if waiting:
            waiting.clear()  # a transaction opened inside this one does not make them twice
        try:
            with self._write_sessions(info=dict(self.session_info)) as session, session.begin():
                yield session
                for deferred in taken:
                    deferred(session)
        except BaseException:
            if taken:
                _deferred.set(taken + (_deferred.get() or []))
            raise

    def defer(self, write: DeferredWrite) -> None:
        """Make `write` in this context's next write transaction, or at `settle_deferred` if there is none."""
        waiting = _deferred.get()
        if waiting is None:
            _deferred.set([write])
        else:
            waiting.append(write)

    def settle_deferred(self) -> None:
        """The end of a request: the deferred writes no transaction took are made now, in one of their own."""
        try:
            if _deferred.get():
                with self.write():
                    pass
        finally:
            _deferred.set(None)

    def drop_deferred(self) -> int:
        """Forget what is still deferred (a request that ended without settling); how many writes were dropped."""
        dropped = len(_deferred.get() or ())
        _deferred.set(None)
        return dropped

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions(info=dict(self.session_info)) as session:
            yield session

    @contextmanager
    def lookup(self) -> Iterator[Connection]:
        """A plain connection for a read by a prebuilt Core statement, without an ORM session's cost (a token's
        check on every API request)."""
        with self.engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        self.engine.dispose()


def _count_statement(*_args) -> None:
    context.count_statement()


def _ensure_sqlite_folder(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")
