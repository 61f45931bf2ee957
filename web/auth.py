"""Sign-in and sign-out with local accounts, session timeouts, the signed-in user, and a failed-login rate limit.

A session holds its person's session generation (engine/services/accounts.py), compared with the database's on every
request: signing out, a new password or deactivation raises it, and every session made before ends at once, whatever
cookie a browser kept.

The rate limit counts failures in the database (engine/services/login_attempts.py), so every gunicorn worker and a restarted
one share it: LOGIN_FAILURE_LIMIT failures per (username, address) within LOGIN_FAILURE_WINDOW, on the wall clock.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from functools import wraps

from flask import (Blueprint, Flask, abort, current_app, flash, g, redirect, render_template, request, session,
                   url_for)

from engine.clock import Clock
from engine.errors import FormInvalid
from engine.services.accounts import MIN_PASSWORD
from engine.services.login_attempts import LoginAttempts

from .redirects import safe_target

bp = Blueprint("auth", __name__)

PUBLIC_ENDPOINTS = {"auth.login", "static"}
GENERATION = "generation"  # the session key holding the person's session generation at sign-in


@dataclass(frozen=True)
class CurrentUser:
    username: str
    name: str
    roles: frozenset[str]
    capabilities: frozenset[str] = frozenset()  # what the engine's policy lets them do (processes/roles.yaml)

    def may(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def observer_only(self) -> bool:
        """Reads everything, acts on nothing (an Ofgem observer without any acting role)."""
        return self.may("observe") and not self.may("act")

    @property
    def is_staff(self) -> bool:
        """Sees every request (programme staff and observers)."""
        return self.may("see_all_requests")

    @property
    def can_reassign(self) -> bool:
        return self.may("reassign")


class WallClock(Clock):
    """The engine's Clock on the web's wall clock (WALL_CLOCK): sign-in limits age on real time, like sessions,
    even when the engine clock is frozen (`--at`, tests)."""

    def now(self) -> datetime:
        return datetime.fromtimestamp(current_app.config["WALL_CLOCK"](), timezone.utc)


def login_attempts() -> LoginAttempts:
    """The shared failed-sign-in counter, with this app's window and limit."""
    return govflow().login_attempts(WallClock(), current_app.config["LOGIN_FAILURE_WINDOW"],
                                    current_app.config["LOGIN_FAILURE_LIMIT"])


def govflow():
    return current_app.extensions["govflow"]


def _now() -> float:
    return current_app.config["WALL_CLOCK"]()


def init_app(app: Flask) -> None:
    app.before_request(_load_user)
    app.jinja_env.globals["current_user"] = lambda: g.get("user")


def _load_user():
    """Expire idle or too-old sessions, then load the signed-in person (with their current roles) into g.user."""
    g.user = None
    username = session.get("user")
    if not username:
        return None
    now = _now()
    idle = current_app.config["IDLE_TIMEOUT"].total_seconds()
    absolute = current_app.config["ABSOLUTE_TIMEOUT"].total_seconds()
    if now - session.get("seen_at", 0) > idle or now - session.get("signed_in_at", 0) > absolute:
        session.clear()
        flash("You were signed out because your session timed out. Sign in again to continue.", "info")
        return _to_login()
    user = govflow().accounts.find(username)
    if user is None or not user.active or session.get(GENERATION) != user.session_generation:
        session.clear()  # gone, deactivated, signed out elsewhere or given a new password: this session has ended
        if user is not None and user.active:
            flash("You were signed out: you signed out on another device, or your password was changed. "
                  "Sign in again to continue.", "info")
        return _to_login()
    g.user = CurrentUser(user.username, user.name, user.roles, user.capabilities)
    session["seen_at"] = now
    return None


def _to_login():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path if request.method == "GET" else None))
        return view(*args, **kwargs)
    return wrapped


def _safe_next(target: str | None) -> str:
    """Only a path on this site (web/redirects.py): never another site after sign-in."""
    return safe_target(target, url_for("inbox.index")).rstrip("?")


@bp.route("/sign-in", methods=["GET", "POST"], endpoint="login")
def login():
    if g.get("user") is not None and request.method == "GET":
        return redirect(url_for("inbox.index"))
    error = None
    username = ""
    if request.method == "POST" and not current_app.config.get("LOCAL_PASSWORDS", True):
        return render_template("auth/login.html", username="", too_many=False,
                               error="Passwords are turned off here: sign in with your organisation's account"), 403
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        address = request.remote_addr or ""
        attempts = login_attempts()
        if attempts.blocked(username, address):
            minutes = int(attempts.window.total_seconds() // 60)
            return render_template("auth/login.html", username=username, too_many=True, minutes=minutes,
                                   error=None), 429
        if not username or not password:
            error = "Enter your username and password"
        else:
            # one command: the check, its audit event and the failure count (forgotten on success)
            user = govflow().accounts.sign_in(username, password, request.remote_addr, attempts)
            if user is not None:
                target = _safe_next(request.args.get("next"))
                session.clear()  # a fresh session: nothing from before sign-in survives
                session["user"] = user.username
                session[GENERATION] = user.session_generation
                session["signed_in_at"] = session["seen_at"] = _now()
                flash(f"Signed in as {user.name}.", "success")
                return redirect(target)
            error = "The username or password is not right"
    return render_template("auth/login.html", username=username, error=error, too_many=False), \
        (401 if error and request.method == "POST" else 200)


@bp.post("/sign-out", endpoint="logout")
def logout():
    """Sign out: every session of this person ends (on this device and any other)."""
    if g.get("user") is not None:
        govflow().accounts.sign_out(g.user.username, request.remote_addr)
    id_token = session.get("sso_id_token")
    session.clear()
    flash("You have signed out.", "success")
    from . import sso  # signed in through the identity provider: signed out there too
    return sso.provider_sign_out(id_token) or redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"], endpoint="password")
@login_required
def password():
    """Change my own password (the current one first): every session of mine ends, this one too, and I sign in
    again with the new one."""
    errors: dict[str, str] = {}
    attempts = login_attempts()  # a wrong current password counts as a failed sign-in
    address = request.remote_addr or ""
    if request.method == "POST" and attempts.blocked(g.user.username, address):
        minutes = int(attempts.window.total_seconds() // 60)
        errors["current_password"] = (f"Your current password was wrong too many times. Wait {minutes} minutes and "
                                      "try again")
        return render_template("auth/password.html", errors=errors, minimum=MIN_PASSWORD), 429
    if request.method == "POST":
        new, again = request.form.get("new_password", ""), request.form.get("confirm_password", "")
        if new != again:
            errors["confirm_password"] = "The two new passwords are not the same"
        else:
            try:
                govflow().accounts.change_password(g.user.username, new, g.user.username,
                                                   current=request.form.get("current_password", ""),
                                                   address=address)
            except FormInvalid as err:
                errors = dict(err.errors)
                if "current_password" in errors:
                    attempts.fail(g.user.username, address)
            else:
                session.clear()
                flash("Your password was changed and every session of yours has ended. Sign in with the new one.",
                      "success")
                return redirect(url_for("auth.login"))
    return render_template("auth/password.html", errors=errors, minimum=MIN_PASSWORD), 422 if errors else 200


def require_actor():
    """Refuse an action to people who only observe."""
    if g.user.observer_only:
        abort(403, description="Observers can read but not act.")
