"""Who an API request acts as: a bearer token (its scopes), or the browser's signed-in session (every scope, and
the session's CSRF token in `X-CSRF-Token` on every state-changing request). The engine's policy then decides what
that person may do, as for the web."""
from __future__ import annotations

import hmac
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from typing import Iterator

from flask import current_app, g, request, session

from engine.errors import Forbidden, Unauthenticated
from engine.services import preconditions

from ..auth import GENERATION
from .problems import problem

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
PUBLIC_ENDPOINTS = {"reference.openapi", "reference.page", "static"}
ALL_SCOPES = frozenset({"read", "work", "library", "admin"})


@dataclass(frozen=True)
class Caller:
    """The person a request acts as, what their roles let them do, and what the credential allows."""

    username: str
    capabilities: frozenset[str]
    scopes: frozenset[str]
    via: str  # token | session
    token_id: int | None = None

    def may(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def observer_only(self) -> bool:
        return self.may("observe") and not self.may("act")


def gov():
    return current_app.extensions["govflow"]


def caller() -> Caller:
    return g.caller


LARGEST_ID = 2**31 - 1  # no row has a larger id (SQLite and PostgreSQL integers)


def authenticate():
    """Before each request: the caller from the token or the session; 401 without either (the reference and the
    OpenAPI document are public)."""
    g.caller = None
    if any(isinstance(v, int) and not 0 < v <= LARGEST_ID for v in (request.view_args or {}).values()):
        return problem(404, "There is no such item")
    header = request.headers.get("Authorization", "")
    if header:
        kind, _, secret = header.partition(" ")
        if kind.lower() != "bearer" or not secret.strip():
            return problem(401, "Send the token as 'Authorization: Bearer <token>'")
        use = gov().tokens.authenticate(secret.strip(), request.method,
                                        request.script_root + request.full_path.rstrip("?"),
                                        request.remote_addr)
        g.caller = Caller(use.username, use.capabilities, use.scopes, "token", use.token_id)
        return None
    username = _session_user()
    if username:
        if request.method not in SAFE_METHODS and not _csrf_ok():
            return problem(403, "A request from a browser session needs the session's CSRF token in X-CSRF-Token")
        account = gov().accounts.find(username)
        if account is None or not account.active or session.get(GENERATION) != account.session_generation:
            return problem(401, "Sign in again")  # signed out, a new password or deactivated: the session ended
        g.caller = Caller(username, account.capabilities, ALL_SCOPES, "session")
        return None
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    return problem(401, "Authenticate with an API token ('Authorization: Bearer <token>') or a signed-in session")


def settle(response):
    """After each request: the token's use is counted and audited, if no command of the request did it already (a
    failure here is the request's: a 500 problem, not a use gone unrecorded)."""
    gov().settle_request()
    return response


def abandon(error: BaseException | None) -> None:
    """The request's end whatever happened: nothing deferred outlives it; a use left unrecorded is logged."""
    dropped = gov().abandon_request()
    if dropped:
        current_app.logger.error("%d deferred write(s) of a failed request dropped (%s)", dropped, error)


def _session_user() -> str | None:
    """The web's signed-in person, if the session has neither idled nor grown too old (the web's own limits)."""
    username = session.get("user")
    if not username:
        return None
    config = current_app.extensions["web"].config  # the web's limits, as they are now
    now = config["WALL_CLOCK"]()
    if now - session.get("seen_at", 0) > config["IDLE_TIMEOUT"].total_seconds() or \
            now - session.get("signed_in_at", 0) > config["ABSOLUTE_TIMEOUT"].total_seconds():
        return None
    return username


def _csrf_ok() -> bool:
    expected = session.get("csrf_token") or ""
    sent = request.headers.get("X-CSRF-Token", "")
    return bool(expected) and hmac.compare_digest(expected.encode(), sent.encode())


def needs(scope: str, capability: str | None = None, *, act: bool = False):
    """A view's requirement: the credential's scope, and (optionally) a capability of the policy or being someone
    who acts (not an observer). Refusals of the policy are audited as the web's are."""
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            who = g.get("caller")
            if who is None:
                raise Unauthenticated("Authenticate with an API token or a signed-in session")
            if scope not in who.scopes:
                raise Forbidden(f"This token does not have the '{scope}' scope")
            if capability and not who.may(capability):
                raise deny(f"Your roles do not allow this ({capability})", attempted=request.endpoint or "api")
            if act and who.observer_only:
                raise deny("Observers can read but not act", attempted=request.endpoint or "api")
            return view(*args, **kwargs)
        return wrapped
    return decorate


def deny(message: str, *, instance_id: int | None = None, task_id: str | None = None,
         attempted: str = "view") -> Forbidden:
    """Record an access.denied audit event (its own transaction) and return the Forbidden to raise."""
    gov().record_denial(g.caller.username, message, attempted=attempted, instance_id=instance_id, task_id=task_id)
    return Forbidden(message)


# --- ETags: a stale write is refused (412) rather than silently applied -------------------------------------------


def instance_etag(summary: dict) -> str:
    return preconditions.instance_version(summary["id"], summary["revision"])


def task_etag(task, revision: int) -> str:
    return preconditions.task_version(task.id, task.status, task.claimed_by, task.assignee, revision)


def if_match() -> frozenset[str] | None:
    """The versions the request's If-Match accepts (None: it has none)."""
    sent = request.headers.get("If-Match")
    if sent is None:
        return None
    return frozenset(t.strip().removeprefix("W/") for t in sent.split(","))


@contextmanager
def unchanged(*, task_id: str | None = None, instance_id: int | None = None) -> Iterator[None]:
    """The engine call inside writes only if the task (or instance) is still at a version the request's If-Match
    names: checked in the write's own transaction, so a change committed after the caller's read is never
    overwritten (412); without If-Match the write goes ahead."""
    tags = if_match()
    if tags is None:
        yield
        return
    with preconditions.expecting(tags, task_id=task_id, instance_id=instance_id):
        yield


def check_if_match(current) -> None:
    """412 when the request's If-Match names another version than `current` (its ETag, or a function that makes it,
    called only when there is an If-Match): for a read that asks."""
    tags = if_match()
    if tags is None:
        return
    preconditions.require(tags, current() if callable(current) else current)
