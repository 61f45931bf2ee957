"""Signing in with a local account: the password check (as slow for an unknown name as for a known one), the
signed-in person's current name and roles, and the audit events of signing in, failing to and signing out."""
from __future__ import annotations

from dataclasses import dataclass

from engine.clock import Clock
from engine.governance.policy import policy_of
from engine.services.identity import find_user, hash_password, verify_password
from engine.services.login_attempts import LoginAttempts
from engine.store import audit

MAX_NAME_RECORDED = 80  # a failed sign-in's username is recorded cut to this length
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class Account:
    """A person as a signed-in session sees them: their roles and what those let them do (processes/roles.yaml)."""

    username: str
    name: str
    roles: frozenset[str]
    active: bool
    capabilities: frozenset[str] = frozenset()


class Accounts:
    """Local accounts over one database and clock."""

    def __init__(self, db, clock: Clock):
        self.db = db
        self.clock = clock

    def find(self, username: str) -> Account | None:
        """The person with their current roles and capabilities, or None (inactive people are returned, marked so,
        with no capability)."""
        with self.db.read() as session:
            user = find_user(session, username)
            if user is None:
                return None
            return _account(user, policy_of(session).capabilities(user))

    def sign_in(self, username: str, password: str, address: str | None = None,
                attempts: LoginAttempts | None = None) -> Account | None:
        """Check a password: the active person it opens, recorded as `user.signed_in` (and the address's failures
        forgotten by `attempts`), or None, recorded as `user.sign_in_failed` (and counted by `attempts`), in one
        transaction. An unknown name takes as long as a wrong password; the check runs before the transaction, so a
        slow hash never holds the write lock."""
        with self.db.read() as session:
            user = find_user(session, username)
            ok = verify_password(user, password) if user is not None else _burn_time(password)
            found = _account(user) if ok else None
        with self.db.write() as session:
            if found is not None:
                audit.record(session, self.clock.now(), found.username, "user.signed_in", ip=address)
                if attempts is not None:
                    attempts.forget(session, username, address or "")
            else:
                audit.record(session, self.clock.now(), username[:MAX_NAME_RECORDED] or "anonymous",
                             "user.sign_in_failed", ip=address)
                if attempts is not None:
                    attempts.record_failure(session, username, address or "")
        return found

    def sign_out(self, username: str, address: str | None = None) -> None:
        """Record that a person signed out."""
        with self.db.write() as session:
            audit.record(session, self.clock.now(), username or "anonymous", "user.signed_out", ip=address)


def _account(user, capabilities=frozenset()) -> Account:
    return Account(user.username, user.display_name, frozenset(user.role_ids), bool(user.active),
                   frozenset(capabilities))


def _burn_time(password: str) -> bool:
    """Spend as long as a real check, so response times do not reveal which usernames exist."""
    global _DUMMY_HASH
    from argon2 import PasswordHasher
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password("not a real password")
    try:
        PasswordHasher().verify(_DUMMY_HASH, password)
    except Exception:
        pass
    return False
