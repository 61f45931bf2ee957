"""The shape every command has: one transaction, a refusal audited in its own transaction after the rollback, a
concurrent change reported as a conflict, and what the command changed (with the outbox effects it wrote) handed to
listeners after the commit — to deliver those effects at once, which the scheduler would otherwise do."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.execution import Snapshot
from engine.clock import Clock
from engine.delivery import outbox, webhooks
from engine.errors import Conflict, Forbidden, NotFound
from engine.observability import context
from engine.observability.instruments import COMMAND_SECONDS
from engine.services import preconditions
from engine.store import audit
from engine.store.db import Database
from engine.store.models import HumanTask, Instance, User

log = logging.getLogger(__name__)

# FOR NO KEY UPDATE: it serialises commands on an instance, yet lets other transactions insert rows that refer to
# the instance (a plain FOR UPDATE would block those foreign-key checks).
INSTANCE_ROW_LOCK = {"key_share": True}

CONCURRENT_CHANGE = ("Someone else changed this process at the same moment; nothing of yours was saved. Reload and "
                     "try again.")


@dataclass
class Change:
    """What a committed command changed, for listeners (notifications, the scheduler)."""

    action: str
    actor: str
    instance_id: int | None
    at: datetime
    new_task_ids: list[str] = field(default_factory=list)
    timers_changed: bool = False
    details: dict[str, Any] = field(default_factory=dict)
    before: Snapshot = field(default_factory=Snapshot, repr=False)
    created_tasks: list = field(default_factory=list, repr=False)
    effects: list[outbox.Effect] = field(default_factory=list)  # the outbox effects it wrote


@dataclass(frozen=True)
class CommandResult:
    instance_id: int
    status: str
    state: str
    reference: str | None
    next_task_id: str | None = None
    new_task_ids: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return dict(self.__dict__, new_task_ids=list(self.new_task_ids))


class Commands:
    """Opens command scopes on one database and clock, and tells its listeners what each committed command did."""

    def __init__(self, db: Database, clock: Clock):
        self.db = db
        self.clock = clock
        self.listeners: list[Callable[[Change], None]] = []

    def scope(self, action: str, actor: str) -> "CommandScope":
        return CommandScope(self, action, actor)

    def lock_instance(self, session: Session, instance_id: int) -> Instance:
        """The instance row, locked for this command (PostgreSQL; SQLite's write transaction is already exclusive)."""
        if self.db.is_sqlite:  # one writer at a time: a row already in the session is current
            instance = session.get(Instance, instance_id)
        else:  # read again under the lock, over any copy the session holds
            instance = session.get(Instance, instance_id, with_for_update=INSTANCE_ROW_LOCK, populate_existing=True)
        if instance is None:
            raise NotFound(f"There is no instance {instance_id}")
        return instance

    def record_denial(self, denial: dict) -> None:
        with self.db.write() as session:
            d = dict(denial)
            audit.record(session, self.clock.now(), d.pop("actor"), "access.denied", instance_id=d.pop("instance_id"),
                         task_id=d.pop("task_id"), element_id=d.pop("element_id"), **d)


def deny(user: User, attempted: str, message: str, row: HumanTask | None = None,
         instance_id: int | None = None) -> Forbidden:
    """The refusal to raise; the command scope records it in its own transaction after the rollback."""
    error = Forbidden(message)
    error.denial = dict(actor=user.username, instance_id=row.instance_id if row else instance_id,
                        task_id=row.id if row else None, element_id=row.element_id if row else None,
                        attempted=attempted, reason=message)
    return error


class CommandScope:
    """`with commands.scope(action, actor) as (session, change):` — one command, one transaction."""

    def __init__(self, commands: Commands, action: str, actor: str):
        self.commands, self.change = commands, Change(action, actor, None, commands.clock.now())

    def __enter__(self):
        self._started = time.perf_counter()
        self._context = context.bind(command=self.change.action, user=self.change.actor)
        self._ctx = self.commands.db.write()
        self._session = self._ctx.__enter__()
        try:
            preconditions.check(self._session)  # the version the caller read (If-Match), before anything changes
        except BaseException as err:
            self.__exit__(type(err), err, err.__traceback__)
            raise
        return self._session, self.change

    def __exit__(self, exc_type, exc, tb):
        try:
            return self._finish(exc_type, exc, tb)
        finally:
            context.reset(self._context)

    def _finish(self, exc_type, exc, tb):
        if exc_type is None:  # the events that webhooks subscribe to, as effects of this transaction
            webhooks.enqueue_for_events(self._session, self.change.at, self.change.actor)
        self.change.effects = [*self.change.effects, *outbox.enqueued_by(self._session)]
        try:
            suppressed = self._ctx.__exit__(exc_type, exc, tb)
        except StaleDataError:
            self._measure("conflict")
            raise Conflict(CONCURRENT_CHANGE)
        self._measure("committed" if exc_type is None else type(exc).__name__)
        if isinstance(exc, Forbidden) and getattr(exc, "denial", None):
            self.commands.record_denial(exc.denial)
        if exc_type is StaleDataError:
            raise Conflict(CONCURRENT_CHANGE) from exc
        if exc_type is None:
            with context.bound(instance_id=self.change.instance_id):
                self._run_listeners()
        return suppressed

    def _measure(self, outcome: str) -> None:
        seconds = time.perf_counter() - self._started
        COMMAND_SECONDS.labels(kind=self.change.action).observe(seconds)
        log.info("command %s by %s: %s", self.change.action, self.change.actor, outcome,
                 extra={"outcome": outcome, "duration_ms": round(seconds * 1000, 1),
                        "instance_id": self.change.instance_id,
                        "new_task_ids": list(self.change.new_task_ids) or None})

    def _run_listeners(self) -> None:
        for listener in self.commands.listeners:
            try:
                listener(self.change)
            except Exception:  # a listener never undoes a committed command
                log.exception("listener failed after %s", self.change.action)
