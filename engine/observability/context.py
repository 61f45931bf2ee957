"""The context of the work under way — request id, person, instance, task — carried by context variables into the
engine's commands and the deliveries after their commit, and stamped on every log line."""
from __future__ import annotations

import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_fields: ContextVar[dict] = ContextVar("govflow_log_context", default={})
_statements: ContextVar[list | None] = ContextVar("govflow_sql_statements", default=None)

FIELDS = ("request_id", "user", "instance_id", "task_id", "command", "effect_id")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_request_id(offered: str | None = None) -> str:
    """The id a proxy offered (X-Request-Id) when it looks like one, else a fresh one."""
    return offered if offered and _REQUEST_ID.match(offered) else uuid.uuid4().hex


def current() -> dict:
    """The fields bound now (only those with a value)."""
    return dict(_fields.get())


def bind(**values):
    """Add fields to the context; returns the token that `reset` takes."""
    merged = {**_fields.get(), **{k: v for k, v in values.items() if v is not None}}
    return _fields.set(merged)


def reset(token) -> None:
    _fields.reset(token)


@contextmanager
def bound(**values) -> Iterator[dict]:
    """`with bound(instance_id=7):` — the fields hold inside the block only."""
    token = bind(**values)
    try:
        yield current()
    finally:
        _fields.reset(token)


# --- SQL statements counted per request -------------------------------------------------------------------------

def start_counting():
    """Count the SQL statements run from here on in this context (one request); `counted` reads them."""
    return _statements.set([0])


def stop_counting(token) -> int:
    counter = _statements.get()
    _statements.reset(token)
    return counter[0] if counter else 0


def count_statement() -> None:
    counter = _statements.get()
    if counter is not None:
        counter[0] += 1
