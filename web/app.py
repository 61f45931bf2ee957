"""The Flask application factory: wires the engine, sessions, CSRF, security headers and one blueprint per area."""
from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask, current_app, request

from engine.platform import Govflow

from . import after_response, auth, bounds, csrf, errors, inbox, proxies, requests, static_cache, tasks
from .display import register_filters


_SignedCookies = type(Flask.session_interface)  # Flask's own signed-cookie sessions


class _SecureWhenHttps(_SignedCookies):
    """Signed cookie sessions whose Secure flag follows the request: always on HTTPS, or when configured."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure


def create_app(govflow: Govflow | None = None, **overrides) -> Flask:
    """Build the web application over one Govflow (made from the environment when not given)."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    govflow = govflow or Govflow()
    app.extensions["govflow"] = govflow
    app.config.update(
        SECRET_KEY=os.environ.get("GOVFLOW_SECRET_KEY") or _instance_secret(govflow.config.instance_dir),
        SESSION_COOKIE_NAME="govflow_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("GOVFLOW_SECURE_COOKIES") == "1",
        IDLE_TIMEOUT=timedelta(minutes=30),
        ABSOLUTE_TIMEOUT=timedelta(hours=12),
        LOGIN_FAILURE_LIMIT=5,
        LOGIN_FAILURE_WINDOW=timedelta(minutes=15),
        INBOX_PAGE_SIZE=25,
        MAX_CONTENT_LENGTH=govflow.config.max_upload_bytes,
        WALL_CLOCK=time.time,  # sessions age on real time even when the engine clock is frozen
        HSTS_SECONDS=31_536_000,  # Strict-Transport-Security on every HTTPS response: a year
        TRUSTED_PROXIES=os.environ.get("GOVFLOW_TRUSTED_PROXIES", ""),  # who may say X-Forwarded-*: web/proxies.py
        PROXY_HOPS=os.environ.get("GOVFLOW_PROXY_HOPS", "1"),
    )
    app.config.update(overrides)
    app.session_interface = _SecureWhenHttps()
    if os.environ.get("GOVFLOW_BEHIND_PROXY"):
        raise ValueError("GOVFLOW_BEHIND_PROXY is replaced by GOVFLOW_TRUSTED_PROXIES: the addresses of the proxies "
                         "whose X-Forwarded-* headers to believe (for example 127.0.0.1 or 10.0.0.0/8)")
    bounds.init_app(app)  # before any route: ids in paths beyond what a database holds are a 404
    from . import api; api.mount(app)  # noqa: E702 (the JSON API at /api/v1, on this app's session)
    # a command's background deliveries wait until its response is sent (web/after_response.py)
    app.wsgi_app = after_response.DeliverAfterResponse(app.wsgi_app, govflow.effects)
    app.test_client_class = after_response.ClosingClient
    # outermost, so the web and the API alike see only what a trusted proxy forwarded (web/proxies.py)
    app.wsgi_app = proxies.TrustedProxies(app.wsgi_app, proxies.networks(app.config["TRUSTED_PROXIES"]),
                                          proxies.hops(app.config["PROXY_HOPS"]))

    csrf.init_app(app)
    auth.init_app(app)
    from . import sso; sso.init_app(app)  # noqa: E702 (single sign-on with OpenID Connect)
    register_filters(app)
    static_cache.init_app(app)  # static files linked by fingerprint, cached a year
    for blueprint in (auth.bp, inbox.bp, tasks.bp, requests.bp):
        app.register_blueprint(blueprint)
    from . import manage
    app.register_blueprint(manage.bp)
    from . import library  # the process library and its editors
    app.register_blueprint(library.bp)
    from . import seats; app.register_blueprint(seats.bp)  # noqa: E702 (the seat register)
    from . import logs; app.register_blueprint(logs.bp)  # noqa: E702 (the PMO's logs)
    from . import agendas; app.register_blueprint(agendas.bp)  # noqa: E702 (the secretariat's meeting actions)
    from . import attachments; attachments.init_app(app)  # noqa: E702 (files on forms)
    from . import search; app.register_blueprint(search.bp)  # noqa: E702 (the header's search)
    from . import notifications
    app.register_blueprint(notifications.bp)
    from . import account_tokens; app.register_blueprint(account_tokens.bp)  # noqa: E702 (my API tokens)
    from . import webhooks; app.register_blueprint(webhooks.bp)  # noqa: E702 (webhook subscriptions, admins)
    notifications.init_app(app)
    from . import health; app.register_blueprint(health.bp)  # noqa: E702 (/healthz, /readyz)
    from . import telemetry; telemetry.init_app(app)  # noqa: E702 (request ids, latency, /metrics)
    errors.init_app(app)
    app.after_request(_security_headers)
    return app


def _instance_secret(instance_dir: Path) -> str:
    """A random key made once per install and kept (mode 0600) in the instance folder, never in the repository."""
    path = Path(instance_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:  # direct HTTPS, or a trusted proxy's X-Forwarded-Proto (web/proxies.py)
        response.headers.setdefault("Strict-Transport-Security",
                                    f"max-age={int(current_app.config['HSTS_SECONDS'])}")
    return response
