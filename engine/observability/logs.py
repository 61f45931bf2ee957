"""JSON log lines (python-json-logger), one per event, with the work's context and no secrets.

GOVFLOW_LOG_FORMAT=text gives plain lines for a terminal; GOVFLOW_LOG_LEVEL sets the level (INFO). Every line carries
the bound context (request id, user, instance, task); passwords, tokens, secrets and the password inside a database
URL are masked in messages and in fields alike.
"""
from __future__ import annotations

import logging
import os
import re
import sys

from pythonjsonlogger.json import JsonFormatter

from engine.observability import context

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]*)(?=@)", re.IGNORECASE)
_SECRET_WORDS = ("password", "passwd", "secret", "token", "authorization", "cookie", "api_key")
_SECRET_ASSIGNMENT = re.compile(r"(?P<key>\b(?:%s)\w*\s*[=:]\s*)(?P<value>[^\s,;&]+)" % "|".join(_SECRET_WORDS),
                                re.IGNORECASE)
QUIET = {"spiff": "WARNING", "apscheduler": "WARNING", "alembic": "WARNING"}  # libraries chatty at INFO
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def mask_url(url: str) -> str:
    """A URL with its password replaced by *** (`postgresql+psycopg://govflow:***@db/govflow`)."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, str(url))


def mask_text(text: str) -> str:
    """Passwords in URLs and `password=…`, `token: …` style assignments masked."""
    return _SECRET_ASSIGNMENT.sub(lambda m: m.group("key") + MASK, mask_url(text))


def _secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


class ContextAndMasking(logging.Filter):
    """Stamps the bound context on each record and masks secrets in its message and extra fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in context.current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        if record.args:
            try:
                record.msg, record.args = record.getMessage(), None
            except Exception:  # a malformed call: keep it as it is
                pass
        if isinstance(record.msg, str):
            record.msg = mask_text(record.msg)
        for key, value in list(vars(record).items()):
            if key in _STANDARD:
                continue
            if _secret_key(key):
                setattr(record, key, MASK)
            elif isinstance(value, str):
                setattr(record, key, mask_text(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         datefmt="%Y-%m-%dT%H:%M:%S%z")


def text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def formatter() -> logging.Formatter:
    return text_formatter() if os.environ.get("GOVFLOW_LOG_FORMAT", "json") == "text" else json_formatter()


def configure(level: str | None = None, stream=None) -> logging.Handler:
    """Send every log record (govflow's, the libraries', gunicorn's) through one handler on stderr in one format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter())
    handler.addFilter(ContextAndMasking())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "govflow", False)]:
        root.removeHandler(old)
    handler.govflow = True
    root.addHandler(handler)
    root.setLevel((level or os.environ.get("GOVFLOW_LOG_LEVEL") or "INFO").upper())
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(quiet_level)
    return handler
