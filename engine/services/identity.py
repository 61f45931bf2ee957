"""People and what they may do: users with argon2-hashed passwords, organisations, and roles from data."""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from engine.bpmn.safe_yaml import read_yaml
from engine.errors import Conflict, NotFound
from engine.governance import policy
from engine.store.models import Organisation, Role, User, UserRole

_HASHERS: dict[str, PasswordHasher] = {}


def _hasher() -> PasswordHasher:
    """Argon2id with the library's recommended parameters; GOVFLOW_PASSWORD_PROFILE=cheapest is for test suites."""
    profile = os.environ.get("GOVFLOW_PASSWORD_PROFILE", "RFC_9106_LOW_MEMORY")
    if profile not in _HASHERS:
        _HASHERS[profile] = PasswordHasher.from_parameters(getattr(profiles, profile.upper()))
    return _HASHERS[profile]


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash or not user.active:
        return False
    try:
        return _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def load_roles(session: Session, roles_file: Path) -> int:
    """Create or update the roles listed in roles.yaml (checked as the access policy first); returns how many there
    are. What each may do is read from the file itself (engine/governance/policy.py); `acts` mirrors `act`."""
    rules = policy.load(roles_file)
    for rule in rules.roles.values():
        role = session.get(Role, rule.id) or Role(id=rule.id)
        role.name = rule.name
        role.acts = policy.ACT in rules.capabilities_of([rule.id])
        role.description = rule.description
        session.add(role)
    return len(rules.roles)


def role_pairs(session: Session) -> list[tuple[str, str]]:
    return [(r.id, r.name) for r in session.scalars(select(Role))]


def role_pairs_in_file(roles_file: Path) -> list[tuple[str, str]]:
    """The roles a roles.yaml defines, for checking diagrams before any database exists."""
    return [(r["id"], r["name"]) for r in (read_yaml(roles_file) or {}).get("roles", [])]


_USER_NAMED = select(User).options(joinedload(User.roles)).where(User.username == bindparam("username"))


def find_user(session: Session, username: str) -> User | None:
    """The user with their roles and organisation, in one query."""
    return session.scalars(_USER_NAMED, {"username": username}).unique().first()


def require_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None or not user.active:
        raise NotFound(f"There is no active user called '{username}'")
    return user


@dataclass(frozen=True)
class NewUser:
    username: str
    display_name: str
    email: str = ""
    password: str = ""
    roles: tuple[str, ...] = ()
    organisation: str | None = None
    constituency: str | None = None


def add_user(session: Session, new: NewUser, at: datetime) -> User:
    """Create a user; refuses a taken username or an unknown role."""
    if find_user(session, new.username):
        raise Conflict(f"The username '{new.username}' is already taken")
    known = {r for (r,) in session.execute(select(Role.id))}
    unknown = [r for r in new.roles if r not in known]
    if unknown:
        raise NotFound(f"Unknown role(s): {', '.join(unknown)}. Known roles: {', '.join(sorted(known))}")
    organisation = None
    if new.organisation:
        organisation = session.scalars(select(Organisation).where(Organisation.name == new.organisation)).first()
        if organisation is None:
            organisation = Organisation(name=new.organisation, constituency=new.constituency)
            session.add(organisation)
    user = User(username=new.username, display_name=new.display_name, email=new.email,
                password_hash=hash_password(new.password) if new.password else "",
                organisation=organisation, created_at=at, active=True)
    user.roles = [UserRole(role_id=r) for r in new.roles]
    session.add(user)
    session.flush()
    return user


def load_users_file(path: Path) -> list[NewUser]:
    """Read the demo users file (username, name, roles, organisation)."""
    data = read_yaml(path) or {}
    password = data.get("password", "")
    return [NewUser(username=u["username"], display_name=u["name"], email=u.get("email", ""),
                    password=u.get("password", password), roles=tuple(u.get("roles", [])),
                    organisation=u.get("organisation"), constituency=u.get("constituency"))
            for u in data.get("users", [])]
