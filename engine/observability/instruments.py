"""The Prometheus instruments the processes update as they work (prometheus_client). Figures read from the
database at scrape time (outbox, incidents, tasks, timer lag) are collected by the web's /metrics itself.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR (set by web/gunicorn_conf.py) lets /metrics add up every worker's figures."""
from __future__ import annotations

from prometheus_client import Histogram, disable_created_metrics

disable_created_metrics()  # no *_created series: a start time per label set adds nothing to a scrape

REQUEST_SECONDS = Histogram(
    "govflow_request_seconds", "Time to answer an HTTP request, by route.", ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
SQL_PER_REQUEST = Histogram(
    "govflow_sql_statements_per_request", "SQL statements run to answer one HTTP request, by route.", ["route"],
    buckets=(0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
COMMAND_SECONDS = Histogram(
    "govflow_command_seconds", "Time an engine command took, transaction included, by kind.", ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
TIMER_FIRE_LAG_SECONDS = Histogram(
    "govflow_timer_fire_lag_seconds", "How late each timer fired after its due time.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 3600))
