"""A write's precondition (HTTP `If-Match`): the version of the task or instance the caller last read, checked inside
the write's own transaction before it changes anything. A change that someone else committed after that read —
however shortly before the write — refuses it (PreconditionFailed, 412) rather than being overwritten.

The caller names what it expects around one engine call (`with expecting(tags, task_id=…):`); the first command the
call opens (engine/services/commands.py `CommandScope`, and a draft's save) checks it, with the rows locked on
PostgreSQL — the instance first, then the task, the order every command takes them in — and under SQLite's write
lock. A version is a task's status, holder and assignee with its instance's revision, or an instance's revision.
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import GovflowError
from engine.store.models import HumanTask, Instance

ANY = "*"


class PreconditionFailed(GovflowError):
    """The task or instance is no longer at the version the caller read (`If-Match`)."""

    status = 412


def instance_version(instance_id: int, revision: int) -> str:
    """An instance's version, as an ETag."""
    return f'"i{instance_id}-r{revision}"'


def task_version(task_id: str, status: str, claimed_by: str | None, assignee: str | None, revision: int) -> str:
    """A task's version, as an ETag: what it is and who holds it, with its instance's revision."""
    state = f"{task_id}|{status}|{claimed_by}|{assignee}|{revision}"
    return '"t' + hashlib.sha256(state.encode()).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class _Expected:
    tags: frozenset[str]
    task_id: str | None
    instance_id: int | None


_expected: ContextVar[_Expected | None] = ContextVar("govflow_expected_version", default=None)


@contextmanager
def expecting(tags: Iterable[str], *, task_id: str | None = None, instance_id: int | None = None) -> Iterator[None]:
    """Within this block, the first write must find the task (or the instance) at one of these versions."""
    token = _expected.set(_Expected(frozenset(tags), task_id, instance_id))
    try:
        yield
    finally:
        _expected.reset(token)


def check(session: Session) -> None:
    """At the start of a write transaction: refuse it unless what the caller expects is still so (once per
    `expecting` block: a later write of the same call, such as an audited refusal, is not checked again)."""
    expected = _expected.get()
    if expected is None:
        return
    _expected.set(None)
    if ANY in expected.tags:
        return
    current = _current_version(session, expected)
    if current is not None:
        require(expected.tags, current)


def require(tags: Iterable[str], current: str) -> None:
    """PreconditionFailed unless `current` is one of the versions named (or they accept any)."""
    if ANY not in tags and current not in tags:
        raise PreconditionFailed(f"The resource changed since you read it (it is now {current}): read it again, "
                                 "then retry")


def _current_version(session: Session, expected: _Expected) -> str | None:
    """The version now, its rows locked until the transaction ends; None when it does not exist (the command says
    so itself)."""
    if expected.task_id is None:
        revision = _locked_revision(session, expected.instance_id)
        return None if revision is None else instance_version(expected.instance_id, revision)
    instance_id = session.scalar(select(HumanTask.instance_id).where(HumanTask.id == expected.task_id))
    if instance_id is None:
        return None
    revision = _locked_revision(session, instance_id)
    task = session.execute(select(HumanTask.status, HumanTask.claimed_by, HumanTask.assignee)
                           .where(HumanTask.id == expected.task_id).with_for_update()).first()
    if task is None or revision is None:
        return None
    return task_version(expected.task_id, task.status, task.claimed_by, task.assignee, revision)


def _locked_revision(session: Session, instance_id: int | None) -> int | None:
    # FOR NO KEY UPDATE, as a command locks it (engine/services/commands.py INSTANCE_ROW_LOCK)
    return session.scalar(select(Instance.revision).where(Instance.id == instance_id).with_for_update(key_share=True))
