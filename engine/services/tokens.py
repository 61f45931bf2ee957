"""API tokens: made with a random secret shown once, kept only as its SHA-256, checked on every API request.

A personal token acts as the person who made it; a service token (made by whoever may `integrate`) acts as a
service account. Either is limited to its scopes, expires, can be revoked, and counts its requests per minute in
the database (every worker shares the limit; a burst of concurrent requests may pass it by as many as run at
once). Every use is an audit event `token.used`, written with the count in the request's own write transaction (no
transaction of its own for a command) or, for a read, in one at the request's end.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import bindparam, case, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.errors import Forbidden, FormInvalid, NotFound, TooManyRequests, Unauthenticated
from engine.governance.policy import INTEGRATE, policy_in, policy_of
from engine.services.identity import find_user, require_user
from engine.store import audit
from engine.store.db import Database
from engine.store.models import ApiToken, User, UserRole

PREFIX = "gft_"  # every secret starts so: secret scanners and people recognise it
#: what a token may be allowed: read everything its person may read; act on work (tasks, requests, messages,
#: comments, drafts, notifications); the process library (validate, deploy, publish); administration
SCOPES = {"read": "Read what the account may read",
          "work": "Act on tasks and requests: start, claim, complete, send messages, comment, withdraw",
          "library": "Validate, deploy and publish processes",
          "admin": "Suspend, resume, retry, move back; webhooks"}
KINDS = ("personal", "service")
DEFAULT_RATE_LIMIT = 600  # requests per minute
MAX_RATE_LIMIT = 100_000
MAX_DAYS = 366
WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenUse:
    """Who an authenticated request acts as, and what its token allows."""

    token_id: int
    username: str
    scopes: frozenset[str]
    kind: str
    capabilities: frozenset[str] = frozenset()  # what the account's roles let it do (processes/roles.yaml)


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiTokens:
    """The tokens over one database and clock."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock

    def issue(self, by: str, name: str, scopes: list[str], *, kind: str = "personal", username: str | None = None,
              days: int | None = 90, rate_limit: int = DEFAULT_RATE_LIMIT) -> tuple[str, dict]:
        """Make a token; returns (the secret, shown only now; the token as listed). A personal token is `by`'s own;
        a service token acts as `username` and needs `integrate`."""
        problems = {}
        name = (name or "").strip()
        if not name or len(name) > 120:
            problems["name"] = "Give the token a name of 1 to 120 characters"
        unknown = sorted(set(scopes) - set(SCOPES))
        if not scopes or unknown:
            problems["scopes"] = (f"Unknown scope {', '.join(unknown)}" if unknown else "Choose at least one scope") \
                + f" (scopes: {', '.join(SCOPES)})"
        if kind not in KINDS:
            problems["kind"] = "A token is personal or service"
        if days is not None and not (1 <= days <= MAX_DAYS):
            problems["days"] = f"A token lasts 1 to {MAX_DAYS} days"
        if not (1 <= rate_limit <= MAX_RATE_LIMIT):
            problems["rate_limit"] = f"The rate limit is 1 to {MAX_RATE_LIMIT} requests a minute"
        if problems:
            raise FormInvalid(problems)
        now = self.clock.now()
        secret = PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as session:
            maker = require_user(session, by)
            if kind == "service":
                if not policy_of(session).allows(maker, INTEGRATE):
                    raise Forbidden("Only whoever may integrate (an admin) makes service tokens")
                account = find_user(session, username or "")
                if account is None or not account.active:
                    raise FormInvalid({"username": f"There is no active account '{username}' for the service"})
                acts_as = account.username
            else:
                if username not in (None, "", maker.username):
                    raise Forbidden("A personal token acts as the person who makes it")
                acts_as = maker.username
            row = ApiToken(digest=digest_of(secret), prefix=secret[:10], name=name, kind=kind, username=acts_as,
                           scopes=sorted(set(scopes)), rate_limit=rate_limit, created_by=maker.username,
                           created_at=now, expires_at=now + timedelta(days=days) if days else None, window_count=0)
            session.add(row)
            session.flush()
            audit.record(session, now, maker.username, "token.created", token_id=row.id, name=name, kind=kind,
                         acts_as=acts_as, scopes=row.scopes, expires_at=row.expires_at)
            return secret, _listed(row, now)

    def listing(self, username: str, everyone: bool = False) -> list[dict]:
        """The tokens acting as `username` or made by them; every token when `everyone` (needs `integrate`)."""
        now = self.clock.now()
        with self.db.read() as session:
            query = select(ApiToken).order_by(ApiToken.id)
            if everyone:
                if not policy_of(session).allows(find_user(session, username), INTEGRATE):
                    raise Forbidden("Only whoever may integrate (an admin) lists every token")
            else:
                query = query.where((ApiToken.username == username) | (ApiToken.created_by == username))
            return [_listed(row, now) for row in session.scalars(query)]

    def revoke(self, token_id: int, by: str, reason: str = "") -> dict:
        """Revoke a token at once: its maker, the person it acts as, or whoever may integrate."""
        now = self.clock.now()
        with self.db.write() as session:
            row = session.get(ApiToken, token_id)
            user = require_user(session, by)
            if row is None:
                raise NotFound(f"There is no token {token_id}")
            if by not in (row.username, row.created_by) and not policy_of(session).allows(user, INTEGRATE):
                raise Forbidden("Only the token's owner or an admin may revoke it")
            if row.revoked_at is None:
                row.revoked_at, row.revoked_by = now, by
                audit.record(session, now, by, "token.revoked", token_id=row.id, name=row.name, reason=reason)
            return _listed(row, now)

    def authenticate(self, secret: str, method: str, path: str, address: str | None = None) -> TokenUse:
        """The token's use for this request; Unauthenticated for an unknown, expired or revoked token or an inactive
        account, TooManyRequests past its rate limit. The use is counted and audited in the request's next write
        transaction (its command's), or at the request's end (`Database.settle_deferred`)."""
        if not secret.startswith(PREFIX) or len(secret) > 200:
            raise Unauthenticated("The API token is not valid")
        now = self.clock.now()
        with self.db.lookup() as connection:
            rows = connection.execute(_TOKEN_WITH_HOLDER, {"digest": digest_of(secret)}).all()
        if not rows:
            raise Unauthenticated("The API token is not valid")
        row = rows[0]
        if row.revoked_at is not None:
            raise Unauthenticated("The API token was revoked")
        if row.expires_at is not None and row.expires_at <= now:
            raise Unauthenticated("The API token has expired")
        if not row.active:  # no such account (None) or deactivated
            raise Unauthenticated("The API token's account is not active")
        window_open = row.window_started_at is not None and now - row.window_started_at < WINDOW
        if window_open and row.window_count >= row.rate_limit:
            wait = WINDOW - (now - row.window_started_at)
            raise TooManyRequests(f"This token may make {row.rate_limit} requests a minute",
                                  max(1, int(wait.total_seconds() + 0.999)))
        roles = [r.role_id for r in rows if r.role_id is not None]
        use = TokenUse(row.id, row.username, frozenset(row.scopes), row.kind,
                       policy_in(self.db.session_info).capabilities_of(roles))
        self.db.defer(partial(_count_use, use, now, method, path[:300], (address or "")[:64]))
        return use


_TOKENS = ApiToken.__table__
# a token with its account's state and roles (a row per role), in one read: asked on every API request
_TOKEN_WITH_HOLDER = (
    select(_TOKENS.c.id, _TOKENS.c.username, _TOKENS.c.scopes, _TOKENS.c.kind, _TOKENS.c.revoked_at,
           _TOKENS.c.expires_at, _TOKENS.c.rate_limit, _TOKENS.c.window_started_at, _TOKENS.c.window_count,
           User.__table__.c.active, UserRole.__table__.c.role_id)
    .select_from(_TOKENS.outerjoin(User.__table__, User.__table__.c.username == _TOKENS.c.username)
                 .outerjoin(UserRole.__table__, UserRole.__table__.c.user_id == User.__table__.c.id))
    .where(_TOKENS.c.digest == bindparam("digest")))
_NOW = bindparam("now", type_=_TOKENS.c.last_used_at.type)
_FRESH_WINDOW = _TOKENS.c.window_started_at.is_(None) | (_TOKENS.c.window_started_at <= bindparam("window_from"))
_COUNT_USE = update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id")).values(
    window_started_at=case((_FRESH_WINDOW, _NOW), else_=_TOKENS.c.window_started_at),
    window_count=case((_FRESH_WINDOW, 1), else_=_TOKENS.c.window_count + 1),
    last_used_at=_NOW)


def _count_use(use: TokenUse, now: datetime, method: str, path: str, address: str, session: Session) -> None:
    """One more request in the token's rate window (a new window after a minute), and its audit event."""
    session.execute(_COUNT_USE, {"token_id": use.token_id, "now": now, "window_from": now - WINDOW})
    audit.record(session, now, use.username, "token.used", token_id=use.token_id, method=method, path=path,
                 address=address)


def _listed(row: ApiToken, now: datetime) -> dict:
    status = "revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at <= now else "active"
    return {"id": row.id, "name": row.name, "kind": row.kind, "username": row.username, "prefix": row.prefix,
            "scopes": list(row.scopes), "rate_limit": row.rate_limit, "created_by": row.created_by,
            "created_at": row.created_at.isoformat(),
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None, "status": status}
