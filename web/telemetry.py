"""What each request leaves for operators: a request id (taken from a proxy's X-Request-Id or made, returned in the
response, bound to every log line of the request, its engine commands and their deliveries), latency and SQL
statement histograms by route, and /metrics for Prometheus.

/metrics answers only with `Authorization: Bearer $GOVFLOW_METRICS_TOKEN`; without that setting it does not exist.
It adds up every gunicorn worker's instruments (PROMETHEUS_MULTIPROC_DIR) and reads the database's figures — outbox,
timer lag, incidents, open and overdue tasks by group, schedulers — at each scrape.
"""
from __future__ import annotations

import hmac
import os
import time

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from engine.observability import context
from engine.observability.instruments import REQUEST_SECONDS, SQL_PER_REQUEST

bp = Blueprint("telemetry", __name__)
REQUEST_ID_HEADER = "X-Request-Id"


def init_app(app: Flask) -> None:
    app.before_request_funcs.setdefault(None, []).insert(0, _start)  # first: time and count everything
    app.before_request(_bind_user)  # after the session's person is loaded
    app.after_request(_return_request_id)
    app.teardown_request(_finish)
    app.register_blueprint(bp)


def _start() -> None:
    g.telemetry_started = time.perf_counter()
    g.request_id = context.new_request_id(request.headers.get(REQUEST_ID_HEADER))
    args = request.view_args or {}
    g.telemetry_tokens = [context.start_counting(),
                          context.bind(request_id=g.request_id, task_id=args.get("task_id"),
                                       instance_id=args.get("instance_id"))]


def _bind_user() -> None:
    user = g.get("user")
    if user is not None and "telemetry_tokens" in g:
        g.telemetry_tokens.append(context.bind(user=user.username))


def _return_request_id(response: Response) -> Response:
    if "request_id" in g:
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def _finish(_error=None) -> None:
    tokens = g.pop("telemetry_tokens", None)
    if not tokens:
        return
    route = request.url_rule.rule if request.url_rule else "(no route)"
    REQUEST_SECONDS.labels(route=route, method=request.method).observe(time.perf_counter() - g.telemetry_started)
    for token in reversed(tokens[1:]):
        context.reset(token)
    SQL_PER_REQUEST.labels(route=route).observe(context.stop_counting(tokens[0]))


# --- /metrics --------------------------------------------------------------------------------------------------


@bp.get("/metrics")
def metrics():
    expected = os.environ.get("GOVFLOW_METRICS_TOKEN", "")
    if not expected:
        abort(404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {expected}".encode()):
        return Response("a bearer token is required\n", 401, {"WWW-Authenticate": 'Bearer realm="metrics"'})
    figures = CollectorRegistry()
    figures.register(_Figures(current_app.extensions["govflow"]))
    body = generate_latest(_process_registry()) + generate_latest(figures)
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST})


def _process_registry():
    """Every worker's instruments under gunicorn (multiprocess mode), this process's otherwise."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    from prometheus_client import multiprocess
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


class _Figures:
    """The database's figures, read at each scrape (the same in every process, so never summed)."""

    def __init__(self, govflow):
        self.govflow = govflow

    def collect(self):
        figures = self.govflow.health.figures()
        yield GaugeMetricFamily("govflow_outbox_depth", "Effects waiting in the outbox.",
                                value=figures["outbox_depth"])
        yield GaugeMetricFamily("govflow_outbox_oldest_seconds", "Age of the oldest effect waiting in the outbox.",
                                value=figures["outbox_oldest_seconds"])
        yield GaugeMetricFamily("govflow_timer_lag_seconds", "How long the oldest due timer has waited to fire.",
                                value=figures["timer_lag_seconds"])
        yield _labelled("govflow_incidents_open", "Open incidents, by kind.", "kind", figures["incidents_open"])
        yield _labelled("govflow_tasks_open", "Open tasks, by group (or role).", "group", figures["tasks_open"])
        yield _labelled("govflow_tasks_overdue", "Overdue open tasks, by group (or role).", "group",
                        figures["tasks_overdue"])
        schedulers = self.govflow.health.schedulers()
        family = GaugeMetricFamily("govflow_schedulers", "Scheduler processes by state (missing: stopped beating).",
                                   labels=["state"])
        family.add_metric(["running"], sum(s["fresh"] for s in schedulers))
        family.add_metric(["missing"], sum(not s["fresh"] for s in schedulers))
        yield family


def _labelled(name: str, documentation: str, label: str, counts: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, count in sorted(counts.items()):
        family.add_metric([str(key)], count)
    return family
