"""Failed sign-ins counted in the database, so that every web worker (and a restarted one) shares one limit.

A (username, client address) pair that failed `limit` times within `window` is refused until its oldest failure
leaves the window, and so is an account that failed `account_limit` times from any addresses (a guesser spreading
over many machines); a successful sign-in forgets the pair's failures. Rows older than the window are purged as new
failures are recorded. Time comes from the injected clock (tests move it).
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.store.db import Database
from engine.store.models import LoginAttempt

MAX_USERNAME = 80
#: an account is refused after this many times `limit` failures from all addresses together within the window
ACCOUNT_LIMIT_FACTOR = 4
MAX_ADDRESS = 64


class LoginAttempts:
    """The failed-sign-in counter over one database; `window` and `limit` come from the web's configuration."""

    def __init__(self, db: Database, clock: Clock, window: timedelta, limit: int, account_limit: int | None = None):
        self.db = db
        self.clock = clock
        self.window = window
        self.limit = limit
        self.account_limit = account_limit or ACCOUNT_LIMIT_FACTOR * limit

    def blocked(self, username: str, address: str) -> bool:
        """True when this pair already failed `limit` times within the window, or the account failed
        `account_limit` times from any addresses (guessing spread over many machines)."""
        pair, account = self._counts(username, address)
        return pair >= self.limit or account >= self.account_limit

    def failures(self, username: str, address: str) -> int:
        """This pair's failures within the window."""
        return self._counts(username, address)[0]

    def _counts(self, username: str, address: str) -> tuple[int, int]:
        user, addr = _key(username, address)
        since = self.clock.now() - self.window
        with self.db.read() as session:
            pair, account = session.execute(
                select(func.coalesce(func.sum(case((LoginAttempt.address == addr, 1), else_=0)), 0), func.count())
                .where(LoginAttempt.username == user, LoginAttempt.at > since)).one()
        return int(pair), int(account)

    def fail(self, username: str, address: str) -> None:
        """Count one failure, and purge every failure that has left the window."""
        with self.db.write() as session:
            self.record_failure(session, username, address)

    def clear(self, username: str, address: str) -> None:
        """Forget this pair's failures (after a successful sign-in)."""
        with self.db.write() as session:
            self.forget(session, username, address)

    def record_failure(self, session: Session, username: str, address: str) -> None:
        """`fail` in the caller's transaction (the sign-in command's, with its audit event)."""
        user, addr = _key(username, address)
        now = self.clock.now()
        session.execute(delete(LoginAttempt).where(LoginAttempt.at <= now - self.window))
        session.add(LoginAttempt(username=user, address=addr, at=now))

    def forget(self, session: Session, username: str, address: str) -> None:
        """`clear` in the caller's transaction."""
        user, addr = _key(username, address)
        session.execute(delete(LoginAttempt).where(LoginAttempt.username == user, LoginAttempt.address == addr))


def _key(username: str, address: str) -> tuple[str, str]:
    return (username or "").strip().lower()[:MAX_USERNAME], (address or "")[:MAX_ADDRESS]
