"""Working together around tasks: private drafts of a task's answers, comments on an instance, and inbox filters
saved on the server and shared with a role or governance group. Every change is one transaction with its audit event;
every refusal leaves an access.denied event."""
from __future__ import annotations

import json
from typing import Any, Iterable

from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.orm import Session

from engine.store import audit, keyset
from engine.clock import Clock
from engine.store.db import Database
from engine.governance.policy import ACT, groups_of, industry_states, policy_of
from engine.errors import Conflict, Forbidden, FormInvalid, NotFound
from engine.services.identity import require_user
from engine.services import preconditions
from engine.store.models import Comment, GovernanceGroup, HumanTask, Instance, Role, SavedFilter, TaskDraft, User

MAX_DRAFT_BYTES = 100_000
MAX_COMMENT_CHARS = 5000
MAX_FILTER_NAME = 120
MAX_FILTER_KEYS = 30
MAX_FILTER_VALUE = 200
INSTANCE_ORDER = [keyset.SortKey(Instance.started_at, descending=True),  # newest first
                  keyset.SortKey(Instance.id, descending=True)]


_DRAFTS = TaskDraft.__table__
_DROP_DRAFTS = delete(_DRAFTS).where(_DRAFTS.c.task_id.in_(bindparam("task_ids", expanding=True)))


def drop_drafts(session: Session, task_ids: Iterable[str]) -> None:
    """Forget every draft of these tasks (they were completed or cancelled): part of the runtime's command."""
    ids = list(task_ids)
    if ids:
        session.execute(_DROP_DRAFTS, {"task_ids": ids})


_MY_DRAFT = select(_DRAFTS.c.data).where(_DRAFTS.c.task_id == bindparam("task_id"),
                                         _DRAFTS.c.username == bindparam("username"))


def my_draft(session: Session, task_id: str, username: str) -> dict[str, Any] | None:
    """`username`'s saved answers to the task, or None."""
    return session.execute(_MY_DRAFT, {"task_id": task_id, "username": username}).scalar()


def draft_problem(data: Any) -> str | None:
    """Why these answers cannot be kept as a draft, or None."""
    if not isinstance(data, dict):
        return "A draft is a set of answers"
    if len(json.dumps(data, default=str)) > MAX_DRAFT_BYTES:
        return f"This draft is too long to keep (over {MAX_DRAFT_BYTES // 1000} KB)"
    return None


def put_draft(session: Session, now, username: str, row: HumanTask, data: dict[str, Any]) -> None:
    """In the command's transaction: keep `username`'s answers to the open task `row` (already authorised), with
    its audit event."""
    draft = session.scalar(select(TaskDraft).where(TaskDraft.task_id == row.id, TaskDraft.username == username))
    if draft is None:
        session.add(TaskDraft(task_id=row.id, username=username, data=data, updated_at=now))
    else:
        draft.data, draft.updated_at = data, now
    audit.record(session, now, username, "task.draft_saved", instance_id=row.instance_id, task_id=row.id,
                 element_id=row.element_id, fields=len(data))


class Collaboration:
    """Drafts, comments and saved filters; one instance per Govflow."""

    def __init__(self, db: Database, repository, clock: Clock):
        self.db = db
        self.repository = repository
        self.clock = clock

    # --- refusals ------------------------------------------------------------------------------------------

    def _deny(self, actor: str, attempted: str, reason: str, *, instance_id: int | None = None,
              task_id: str | None = None, element_id: str | None = None, **details: Any) -> Forbidden:
        """Record the refusal in its own transaction and return the error to raise."""
        with self.db.write() as session:
            audit.record(session, self.clock.now(), actor, "access.denied", instance_id=instance_id, task_id=task_id,
                         element_id=element_id, attempted=attempted, reason=reason, **details)
        return Forbidden(reason)

    # --- drafts --------------------------------------------------------------------------------------------

    def save_draft(self, task_id: str, username: str, data: dict[str, Any]) -> None:
        """Keep my unfinished answers to an open task of mine; only I see them; gone when the task ends."""
        problem = draft_problem(data)
        if problem:
            raise FormInvalid({"": problem})
        now = self.clock.now()
        refusal = None
        with self.db.write() as session:
            preconditions.check(session)  # the version the caller read (If-Match)
            user = require_user(session, username)
            row = _open_task(session, task_id)
            refusal = _act_refusal(session, user, row)
            if refusal is None:
                put_draft(session, now, username, row, data)
            where = dict(instance_id=row.instance_id, task_id=task_id, element_id=row.element_id)
        if refusal:
            raise self._deny(username, "draft", refusal, **where)

    def draft(self, task_id: str, username: str) -> dict[str, Any] | None:
        """My saved answers to this task, or None."""
        with self.db.read() as session:
            return my_draft(session, task_id, username)

    def discard_draft(self, task_id: str, username: str) -> bool:
        """Forget my draft of this task; True if there was one."""
        with self.db.write() as session:
            draft = session.scalar(select(TaskDraft).where(TaskDraft.task_id == task_id,
                                                           TaskDraft.username == username))
            if draft is None:
                return False
            row = session.get(HumanTask, task_id)
            session.delete(draft)
            audit.record(session, self.clock.now(), username, "task.draft_discarded",
                         instance_id=row.instance_id if row else None, task_id=task_id,
                         element_id=row.element_id if row else None)
            return True

    # --- who sees an instance -------------------------------------------------------------------------------

    def states_open_to_industry(self, session: Session, version_id: int) -> set[str]:
        return industry_states(self.repository.compiled(session, version_id).settings)

    def may_view(self, instance_id: int, username: str) -> bool:
        with self.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            return self._may_view(session, require_user(session, username), instance)

    def _may_view(self, session: Session, user: User, instance: Instance) -> bool:
        return policy_of(session).may_see(session, user, instance,
                                          self.states_open_to_industry(session, instance.process_version_id))

    def instances(self, username: str, scope: str = "mine", page: int = 1,
                  size: int = 25) -> tuple[list[dict[str, Any]], int]:
        """A page of instances, newest first, and how many in all: `mine` (raised by me) or `visible` (all I may
        read: everything for staff; for a participant theirs, those open to the industry and those they work on)."""
        with self.db.read() as session:
            condition = self._scope_condition(session, username, scope)
            total = session.scalar(select(func.count()).select_from(Instance).where(condition)) or 0
            rows = session.scalars(select(Instance).where(condition)
                                   .order_by(*keyset.order_by(INSTANCE_ORDER))
                                   .limit(size).offset((max(page, 1) - 1) * size)).all()
            return [_instance_dict(r) for r in rows], total

    def instances_after(self, username: str, scope: str, key: list | None,
                        limit: int) -> tuple[list[dict[str, Any]], int, list | None]:
        """As `instances`, by key: up to `limit` instances after the one whose key (started_at, id) is `key`, how
        many in all, and the last one's key when more follow."""
        with self.db.read() as session:
            condition = self._scope_condition(session, username, scope)
            total = session.scalar(select(func.count()).select_from(Instance).where(condition)) or 0
            rows, next_key = keyset.rows_after(session, select(Instance).where(condition), INSTANCE_ORDER, key,
                                               limit)
            return [_instance_dict(r) for r, in rows], total, next_key

    def _scope_condition(self, session: Session, username: str, scope: str):
        user = require_user(session, username)
        if scope != "visible":
            return Instance.started_by == username
        states: set[str] = set()
        for process_id in self.repository.process_ids(session):
            version = self.repository.latest(session, process_id)
            states |= self.states_open_to_industry(session, version.id)
        return policy_of(session).visible_to(session, user, states)

    # --- comments ------------------------------------------------------------------------------------------

    def add_comment(self, instance_id: int, username: str, body: str) -> dict[str, Any]:
        """Comment on an instance I can see; everyone who can see it reads the comment."""
        text = (body or "").replace("\r\n", "\n").strip()
        if not text:
            raise FormInvalid({"comment": "Enter a comment"})
        if len(text) > MAX_COMMENT_CHARS:
            raise FormInvalid({"comment": f"A comment must be {MAX_COMMENT_CHARS} characters or fewer"})
        now = self.clock.now()
        refusal = None
        with self.db.write() as session:
            user = require_user(session, username)
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            if not policy_of(session).allows(user, ACT):
                refusal = "Observers can read but not comment."
            elif not self._may_view(session, user, instance):
                refusal = "You cannot comment on a request you cannot see."
            else:
                comment = Comment(instance_id=instance_id, author=username, body=text, created_at=now)
                session.add(comment)
                session.flush()
                audit.record(session, now, username, "comment.added", instance_id=instance_id,
                             comment_id=comment.id, text=text)
                return _comment_dict(comment)
        raise self._deny(username, "comment", refusal, instance_id=instance_id)

    def comments(self, instance_id: int) -> list[dict[str, Any]]:
        """An instance's comments, oldest first."""
        with self.db.read() as session:
            return [_comment_dict(c) for c in session.scalars(
                select(Comment).where(Comment.instance_id == instance_id).order_by(Comment.created_at, Comment.id))]

    # --- saved inbox filters --------------------------------------------------------------------------------

    def share_targets(self, username: str) -> list[tuple[str, str]]:
        """(id, name) of the roles and governance groups I belong to: whom I may share a filter with."""
        with self.db.read() as session:
            user = require_user(session, username)
            return self._share_targets(session, user)

    @staticmethod
    def _share_targets(session: Session, user: User) -> list[tuple[str, str]]:
        roles = [(r.id, r.name) for r in session.scalars(select(Role).where(Role.id.in_(user.role_ids or {""}))
                                                         .order_by(Role.name))]
        group_ids = groups_of(session, user)
        groups = [(g.id, g.name) for g in session.scalars(select(GovernanceGroup).where(
            GovernanceGroup.id.in_(group_ids or {""})).order_by(GovernanceGroup.name))]
        return roles + groups

    def saved_filters(self, username: str) -> list[dict[str, Any]]:
        """My saved filters and those shared with one of my roles or groups, by name."""
        with self.db.read() as session:
            user = require_user(session, username)
            audience = set(user.role_ids) | groups_of(session, user)
            names = dict(self._names(session))
            rows = session.scalars(select(SavedFilter).where(or_(
                SavedFilter.owner == username, SavedFilter.shared_with_group.in_(audience or {""})))
                .order_by(SavedFilter.name, SavedFilter.id)).all()
            return [_filter_dict(f, username, names) for f in rows]

    def inbox_views(self, username: str) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """(saved_filters, share_targets) in one look, as the inbox page shows both."""
        with self.db.read() as session:
            user = require_user(session, username)
            groups = groups_of(session, user)
            audience = set(user.role_ids) | groups
            names = dict(self._names(session))
            rows = session.scalars(select(SavedFilter).where(or_(
                SavedFilter.owner == username, SavedFilter.shared_with_group.in_(audience or {""})))
                .order_by(SavedFilter.name, SavedFilter.id)).all()
            targets = sorted(((i, names.get(i, i)) for i in user.role_ids), key=lambda t: t[1]) + \
                sorted(((i, names.get(i, i)) for i in groups), key=lambda t: t[1])
            return [_filter_dict(f, username, names) for f in rows], targets

    def saved_filter(self, filter_id: int, username: str) -> dict[str, Any]:
        """One saved filter I may use (mine, or shared with me): what the inbox applies."""
        with self.db.read() as session:
            user = require_user(session, username)
            found = session.get(SavedFilter, filter_id)
            if found is None:
                raise NotFound(f"There is no saved filter {filter_id}")
            allowed = found.owner == username or (
                found.shared_with_group is not None
                and found.shared_with_group in set(user.role_ids) | groups_of(session, user))
            if allowed:
                return _filter_dict(found, username, dict(self._names(session)))
        raise self._deny(username, "use saved filter", "This saved filter is not shared with you.",
                         filter_id=filter_id)

    def save_filter(self, username: str, name: str, query: dict[str, Any],
                    shared_with: str | None = None) -> dict[str, Any]:
        """Save an inbox filter under a name (saving under the same name again replaces it), optionally shared
        with one of my roles or governance groups."""
        name = " ".join((name or "").split())
        errors = {}
        if not name:
            errors["name"] = "Enter a name for this view"
        elif len(name) > MAX_FILTER_NAME:
            errors["name"] = f"The name must be {MAX_FILTER_NAME} characters or fewer"
        clean = _clean_query(query)
        if clean is None:
            errors["query"] = "This view has too many or too long filters to save"
        shared_with = (shared_with or "").strip() or None
        now = self.clock.now()
        with self.db.write() as session:
            user = require_user(session, username)
            if shared_with and shared_with not in {t for t, _ in self._share_targets(session, user)}:
                errors["shared_with"] = "Choose one of your own roles or groups to share with"
            if errors:
                raise FormInvalid(errors)
            found = session.scalar(select(SavedFilter).where(SavedFilter.owner == username,
                                                             SavedFilter.name == name))
            action = "saved_filter.updated" if found else "saved_filter.created"
            if found is None:
                found = SavedFilter(owner=username, name=name, query=clean, shared_with_group=shared_with,
                                    created_at=now)
                session.add(found)
            else:
                found.query, found.shared_with_group = clean, shared_with
            session.flush()
            audit.record(session, now, username, action, filter_id=found.id, name=name, query=clean,
                         shared_with=shared_with)
            return _filter_dict(found, username, dict(self._names(session)))

    def delete_filter(self, filter_id: int, username: str) -> None:
        """Delete a saved filter: only its owner may."""
        with self.db.write() as session:
            found = session.get(SavedFilter, filter_id)
            if found is None:
                raise NotFound(f"There is no saved filter {filter_id}")
            owner = found.owner
            if owner == username:
                audit.record(session, self.clock.now(), username, "saved_filter.deleted", filter_id=filter_id,
                             name=found.name, shared_with=found.shared_with_group)
                session.delete(found)
                return
        raise self._deny(username, "delete saved filter", f"Only {owner}, who saved it, can delete this view.",
                         filter_id=filter_id)

    @staticmethod
    def _names(session: Session):
        yield from session.execute(select(Role.id, Role.name))
        yield from session.execute(select(GovernanceGroup.id, GovernanceGroup.name))


def _open_task(session: Session, task_id: str) -> HumanTask:
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"There is no task {task_id}")
    if row.status != "ready":
        raise Conflict(f"'{row.name}' was already {row.status}")
    return row


def _act_refusal(session: Session, user: User, row: HumanTask) -> str | None:
    if not policy_of(session).may_act(session, user, row):
        return f"You cannot act on '{row.name}'"
    if row.claimed_by and row.claimed_by != user.username:
        return f"'{row.name}' is claimed by {row.claimed_by}"
    return None


def _clean_query(query: Any) -> dict[str, str] | None:
    if not isinstance(query, dict) or len(query) > MAX_FILTER_KEYS:
        return None
    clean = {}
    for key, value in query.items():
        key, value = str(key), "" if value is None else str(value)
        if len(key) > 40 or len(value) > MAX_FILTER_VALUE:
            return None
        if value:
            clean[key] = value
    return clean


def _comment_dict(comment: Comment) -> dict[str, Any]:
    return {"id": comment.id, "instance_id": comment.instance_id, "author": comment.author, "body": comment.body,
            "created_at": comment.created_at.isoformat()}


def _filter_dict(found: SavedFilter, username: str, names: dict[str, str]) -> dict[str, Any]:
    return {"id": found.id, "owner": found.owner, "name": found.name, "query": dict(found.query or {}),
            "shared_with": found.shared_with_group,
            "shared_with_name": names.get(found.shared_with_group, found.shared_with_group)
            if found.shared_with_group else None,
            "mine": found.owner == username, "created_at": found.created_at.isoformat()}


def _instance_dict(instance: Instance) -> dict[str, Any]:
    return {"id": instance.id, "process_id": instance.process_id, "reference": instance.reference,
            "title": instance.title, "status": instance.status, "state": instance.state,
            "started_by": instance.started_by, "started_at": instance.started_at}
