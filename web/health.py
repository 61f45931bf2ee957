"""/healthz (the process answers) and /readyz (it can do its work: database reachable, migrations current, a
scheduler beating, the outbox moving), for load balancers and the compose health checks. Neither needs a login;
/readyz answers 503 with the failing checks when it is not ready."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    report = current_app.extensions["govflow"].health.readiness()
    return jsonify(report), 200 if report["ready"] else 503
