"""Local accounts: signing in (the password check, as slow for an unknown name as for a known one), the signed-in
person's current name, roles and session generation, signing out, a new password, deactivation and reactivation,
each with its audit event.

Every signed-in session carries its person's session generation; signing out, a new password, deactivation and
`end_sessions` raise it in the same transaction as their audit event, so every session made before has ended at once
(the web compares the two on every request)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import FormInvalid, NotFound
from engine.governance.policy import policy_in
from engine.services.identity import find_user, hash_password, verify_password
from engine.services.login_attempts import LoginAttempts
from engine.store import audit
from engine.store.models import User, UserRole

_USERS, _USER_ROLES = User.__table__, UserRole.__table__
# a person with their state and roles (a row per role), in one read
_ACCOUNT_NAMED = (select(_USERS.c.username, _USERS.c.display_name, _USERS.c.active, _USERS.c.session_generation,
                         _USER_ROLES.c.role_id)
                  .select_from(_USERS.outerjoin(_USER_ROLES, _USER_ROLES.c.user_id == _USERS.c.id))
                  .where(_USERS.c.username == bindparam("username")))

MAX_NAME_RECORDED = 80  # a failed sign-in's username is recorded cut to this length
MIN_PASSWORD = 12  # characters in a new password (NCSC: length over complexity)
MAX_PASSWORD = 1024  # characters: hashing costs grow with length, so a new password is capped
MAX_REASON = 500
_DUMMY_HASH: str | None = None


@dataclass(frozen=True)
class Account:
    """A person as a signed-in session sees them: their roles and what those let them do (processes/roles.yaml)."""

    username: str
    name: str
    roles: frozenset[str]
    active: bool
    capabilities: frozenset[str] = frozenset()
    session_generation: int = 0  # a session made under another generation has ended


class Accounts:
    """Local accounts over one database and clock."""

    def __init__(self, db, clock: Clock):
        self.db = db
        self.clock = clock

    def find(self, username: str) -> Account | None:
        """The person with their current roles and capabilities, or None (inactive people are returned, marked so,
        with no capability). One prebuilt query on a plain connection: every signed-in request asks."""
        with self.db.lookup() as connection:
            rows = connection.execute(_ACCOUNT_NAMED, {"username": username}).all()
        if not rows:
            return None
        person, roles = rows[0], frozenset(r.role_id for r in rows if r.role_id is not None)
        capabilities = policy_in(self.db.session_info).capabilities_of(roles) if person.active else frozenset()
        return Account(person.username, person.display_name, roles, bool(person.active), capabilities,
                       int(person.session_generation or 0))

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
        """Sign a person out: every session of theirs ends (here and on any other device), recorded as
        `user.signed_out`."""
        with self.db.write() as session:
            user = find_user(session, username)
            if user is not None:
                _end_sessions(user)
            audit.record(session, self.clock.now(), username or "anonymous", "user.signed_out", ip=address)

    def end_sessions(self, username: str, by: str, reason: str = "") -> int:
        """End every session of this person now (a lost laptop, a shared screen), recorded as
        `user.sessions_ended`; returns their new session generation."""
        with self.db.write() as session:
            user = _require(session, username)
            generation = _end_sessions(user)
            audit.record(session, self.clock.now(), by, "user.sessions_ended", username=user.username,
                         reason=reason.strip()[:MAX_REASON])
            return generation

    def change_password(self, username: str, new_password: str, by: str, current: str | None = None,
                        address: str | None = None) -> None:
        """Give a person a new password (checked: MIN_PASSWORD to MAX_PASSWORD characters, not their username),
        ending every session of theirs, recorded as `user.password_changed`. With `current` (a person changing their
        own), the old password must be right first."""
        problems = password_problems(username, new_password)
        with self.db.read() as session:
            user = _require(session, username)
            if current is not None and not verify_password(user, current):
                problems["current_password"] = "Your current password is not right"
        if problems:
            raise FormInvalid(problems)
        hashed = hash_password(new_password)  # slow: before the transaction, never holding the write lock
        with self.db.write() as session:
            user = _require(session, username)
            user.password_hash = hashed
            _end_sessions(user)
            audit.record(session, self.clock.now(), by, "user.password_changed", username=user.username,
                         ip=address)

    def deactivate(self, username: str, by: str, reason: str = "") -> None:
        """Stop a person signing in and end every session of theirs, recorded as `user.deactivated` (their history
        stays; `activate` lets them back)."""
        with self.db.write() as session:
            user = _require(session, username)
            user.active = False
            _end_sessions(user)
            audit.record(session, self.clock.now(), by, "user.deactivated", username=user.username,
                         reason=reason.strip()[:MAX_REASON])

    def activate(self, username: str, by: str, reason: str = "") -> None:
        """Let a deactivated person sign in again (no earlier session comes back), recorded as `user.activated`."""
        with self.db.write() as session:
            user = _require(session, username)
            user.active = True
            audit.record(session, self.clock.now(), by, "user.activated", username=user.username,
                         reason=reason.strip()[:MAX_REASON])


def password_problems(username: str, password: str) -> dict[str, str]:
    """What is wrong with a new password (empty when it will do)."""
    if len(password) < MIN_PASSWORD:
        return {"new_password": f"Use at least {MIN_PASSWORD} characters: three or four random words work well"}
    if len(password) > MAX_PASSWORD:
        return {"new_password": f"Use at most {MAX_PASSWORD} characters"}
    if password.strip().lower() == username.strip().lower():
        return {"new_password": "Do not use your username as your password"}
    return {}


def _require(session: Session, username: str):
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"There is no user called '{username}'")
    return user


def _end_sessions(user) -> int:
    user.session_generation = (user.session_generation or 0) + 1
    return user.session_generation


def _account(user, capabilities=frozenset()) -> Account:
    return Account(user.username, user.display_name, frozenset(user.role_ids), bool(user.active),
                   frozenset(capabilities), int(user.session_generation or 0))


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
