"""My API tokens in the browser: make one (its secret shown once, on the page that made it), see them, revoke one.
Whoever may `integrate` also makes service tokens and sees every token."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for

from engine.errors import FormInvalid
from engine.services.tokens import SCOPES

from .auth import login_required

bp = Blueprint("tokens", __name__, url_prefix="/account/tokens")


def _gov():
    return current_app.extensions["govflow"]


def _page(made: dict | None = None, secret: str | None = None, errors: dict | None = None, status: int = 200):
    everyone = g.user.may("integrate")
    return render_template("account/tokens.html", rows=_gov().tokens.listing(g.user.username, everyone),
                           scopes=SCOPES, may_integrate=everyone, made=made, secret=secret, errors=errors or {},
                           values=request.form if errors else {},
                           chosen=set(request.form.getlist("scopes")) if errors else {"read"}), status


@bp.get("/", endpoint="index")
@login_required
def index():
    return _page()


@bp.post("/", endpoint="add")
@login_required
def add():
    form = request.form
    try:
        days = int(form.get("days") or 0) or None
    except ValueError:
        return _page(errors={"days": "Enter the number of days as a whole number"}, status=422)
    service = (form.get("service_account") or "").strip() if g.user.may("integrate") else ""
    try:
        secret, made = _gov().tokens.issue(g.user.username, form.get("name", ""), form.getlist("scopes"),
                                           kind="service" if service else "personal", username=service or None,
                                           days=days)
    except FormInvalid as err:
        return _page(errors=err.errors, status=422)
    return _page(made=made, secret=secret)  # shown on this page only: never stored, never shown again


@bp.post("/<int:token_id>/revoke", endpoint="revoke")
@login_required
def revoke(token_id: int):
    found = _gov().tokens.revoke(token_id, g.user.username, "revoked in the browser")
    flash(f"The token ‘{found['name']}’ is revoked: it no longer works.", "success")
    return redirect(url_for("tokens.index"))
