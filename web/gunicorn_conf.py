"""gunicorn's settings for govflow: `gunicorn -c python:web.gunicorn_conf web.wsgi:app`.

GOVFLOW_BIND (0.0.0.0:8000), GOVFLOW_WORKERS (2), GOVFLOW_THREADS (4). Every log line — the access log included —
is JSON in govflow's format (engine/observability/logs.py), with the request id govflow returns in X-Request-Id.
The workers' Prometheus instruments are written to PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless set)
so that /metrics adds them up.
"""
from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from engine.observability.logs import QUIET

bind = os.environ.get("GOVFLOW_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GOVFLOW_WORKERS", "2"))
threads = int(os.environ.get("GOVFLOW_THREADS", "4"))
graceful_timeout = 20
# no runtime control socket: one fixed path in $HOME would be shared by every master on the host
control_socket_disable = True
access_log_format = '%(m)s %(U)s %(s)s'  # the message; every atom is also a field (AccessFields)

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="govflow-metrics-"))

logconfig_dict = {
    "root": {"level": os.environ.get("GOVFLOW_LOG_LEVEL", "INFO").upper(), "handlers": ["govflow"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True, "filters": ["access"]},
        **{name: {"level": level} for name, level in QUIET.items()},
    },
    "handlers": {"govflow": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                             "formatter": "govflow", "filters": ["govflow"]}},
    "formatters": {"govflow": {"()": "engine.observability.logs.formatter"}},
    "filters": {"govflow": {"()": "engine.observability.logs.ContextAndMasking"},
                "access": {"()": "web.gunicorn_conf.AccessFields"}},
}


class AccessFields(logging.Filter):
    """Turns gunicorn's access atoms into fields of the record: method, path, status, bytes, duration, client,
    user agent and the request id (the query string is left out: it may carry a secret)."""

    ATOMS = {"method": "m", "path": "U", "status": "s", "bytes": "B", "remote": "h", "user_agent": "a",
             "request_id": "{x-request-id}o"}

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if not hasattr(atoms, "__getitem__") or isinstance(atoms, tuple):
            return True
        for field, atom in self.ATOMS.items():
            value = atoms[atom]
            if value not in (None, "-"):
                setattr(record, field, value)
        try:
            record.duration_ms = round(int(atoms["D"]) / 1000, 1)
            record.status = int(atoms["s"])
        except (TypeError, ValueError):
            pass
        return True


def on_starting(server) -> None:
    """A fresh start: no figures of an earlier run's workers."""
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess
    multiprocess.mark_process_dead(worker.pid)
