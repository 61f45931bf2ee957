"""Single sign-on with OpenID Connect (Authlib): authorization code with PKCE (S256), the ID token verified (the
provider's keys, issuer, audience, expiry, nonce), the person's account made or updated from its claims
(engine/services/single_sign_on.py, processes/sso.yaml), and sign-out at the provider too.

Configured by GOVFLOW_OIDC_ISSUER, GOVFLOW_OIDC_CLIENT_ID and GOVFLOW_OIDC_CLIENT_SECRET; GOVFLOW_LOCAL_PASSWORDS=off
turns local passwords off (single sign-on only)."""
from __future__ import annotations

import os
from urllib.parse import urlencode

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for

from engine.errors import Forbidden

from .auth import GENERATION, _now
from .redirects import safe_target

bp = Blueprint("sso", __name__, url_prefix="/sign-in/sso")


def init_app(app: Flask) -> None:
    app.config.setdefault("OIDC_ISSUER", os.environ.get("GOVFLOW_OIDC_ISSUER", ""))
    app.config.setdefault("OIDC_CLIENT_ID", os.environ.get("GOVFLOW_OIDC_CLIENT_ID", ""))
    app.config.setdefault("OIDC_CLIENT_SECRET", os.environ.get("GOVFLOW_OIDC_CLIENT_SECRET", ""))
    app.config.setdefault("LOCAL_PASSWORDS", os.environ.get("GOVFLOW_LOCAL_PASSWORDS", "on") != "off")
    app.jinja_env.globals["sso_enabled"] = lambda: bool(current_app.config["OIDC_ISSUER"])
    app.jinja_env.globals["local_passwords"] = lambda: bool(current_app.config["LOCAL_PASSWORDS"])
    oauth = OAuth(app)
    if app.config["OIDC_ISSUER"]:
        oauth.register("provider", client_id=app.config["OIDC_CLIENT_ID"],
                       client_secret=app.config["OIDC_CLIENT_SECRET"],
                       server_metadata_url=app.config["OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
                       client_kwargs={"scope": "openid email profile", "code_challenge_method": "S256"})
    app.extensions["govflow_oauth"] = oauth
    app.register_blueprint(bp)


def client():
    found = current_app.extensions["govflow_oauth"].create_client("provider")
    if found is None:
        raise Forbidden("Single sign-on is not set up here")
    return found


@bp.post("", endpoint="start")
def start():
    """To the identity provider (a POST with the CSRF token, so no other site can start a sign-in)."""
    session["sso_next"] = safe_target(request.args.get("next"), url_for("inbox.index"))
    return client().authorize_redirect(url_for("sso.callback", _external=True))


@bp.get("/callback", endpoint="callback")
def callback():
    """Back from the provider: exchange the code (with the PKCE verifier), verify the ID token, sign the person
    in."""
    provider = client()
    try:
        token = provider.authorize_access_token()
    except Exception as err:  # noqa: BLE001 (any refusal of the provider's answer: shown, nobody signed in)
        current_app.logger.warning("single sign-on refused: %s", err)
        return _refused("The sign-in could not be checked. Try again.")
    claims = token.get("userinfo") or {}
    try:
        account = current_app.extensions["govflow"].sso.sign_in(dict(claims), str(claims.get("iss", "")),
                                                                request.remote_addr)
    except Forbidden as err:
        return _refused(str(err))
    target = session.get("sso_next") or url_for("inbox.index")
    session.clear()  # a fresh session: nothing from before sign-in survives
    session["user"] = account.username
    session[GENERATION] = account.session_generation
    session["signed_in_at"] = session["seen_at"] = _now()
    session["sso_id_token"] = token.get("id_token")
    flash(f"Signed in as {account.name}.", "success")
    return redirect(target)


def verified_claims(token: dict, nonce: str | None) -> dict:
    """The claims of an ID token once Authlib has checked it against the provider's keys, issuer, audience, expiry
    and nonce; raises when any check fails."""
    return dict(client().parse_id_token(token, nonce))


def provider_sign_out(id_token: str | None):
    """After a local sign-out: a redirect to the provider's end-session endpoint when signed in through it."""
    if not id_token or not current_app.config.get("OIDC_ISSUER"):
        return None
    provider = client()
    endpoint = provider.load_server_metadata().get("end_session_endpoint")
    if not endpoint:
        return None
    return redirect(endpoint + "?" + urlencode({"id_token_hint": id_token, "client_id": provider.client_id,
                                                "post_logout_redirect_uri": url_for("auth.login", _external=True)}))


def _refused(message: str):
    session.pop("sso_next", None)
    return render_template("auth/login.html", username="", too_many=False, error=message), 403
