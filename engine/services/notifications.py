"""Notifications: who hears about a task, a deadline or a decision, in the app and by e-mail (at once or daily).

Every notice is a `notification` row for one person, written before any e-mail goes out; the rows are the outbox.
Each kind fires exactly once per task, guarded by a column claimed atomically (`announced_at`, `reminded_at`,
`overdue_notified_at` on the task; `email_status` on the notice), so several web and scheduler processes on one
database never send a notice twice. Recipients are only the people who may act on the task (its claimant, its
assignee, or its role's holders within its group) and the escalation contacts the diagram names (`escalateTo`);
`notify('participants', …)` from a diagram reaches the programme participants and the instance's raiser.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from engine.calendar import ENGLAND_AND_WALES
from engine.clock import Clock
from engine.store import audit, keyset
from engine.store.db import Database
from engine.errors import Forbidden, NotFound
from engine.store.models import (
    NOTIFICATION_PREFERENCES,
    HumanTask,
    Instance,
    Notification,
    User,
)
from engine.delivery import wording
from engine.delivery.mailer import Mailer
from engine.delivery.notices import NoticeMailer, add_notice, recipients_of
from engine.governance.audiences import escalation_roles, role_holders, task_actors, users_named

log = logging.getLogger(__name__)

LONDON = ZoneInfo("Europe/London")
DEFAULT_REMINDER_WORKING_DAYS = 2
NOTIFICATION_ORDER = [keyset.SortKey(Notification.created_at, descending=True),  # newest first
                      keyset.SortKey(Notification.id, descending=True)]
REMINDER_SETTING = "reminder_working_days"
REMINDER_PROPERTY = "reminderWorkingDays"  # a task may override the process's setting
BATCH = 200

_TASKS = HumanTask.__table__
# announcing claims the new tasks (the ids given, or every open one) so that each is announced once
_ANNOUNCE_ALL = (update(_TASKS).where(_TASKS.c.announced_at.is_(None), _TASKS.c.status == "ready")
                 .values(announced_at=bindparam("at")).returning(_TASKS.c.id))
_ANNOUNCE = _ANNOUNCE_ALL.where(_TASKS.c.id.in_(bindparam("task_ids", expanding=True)))
_NEW_TASKS = (select(HumanTask, Instance).join(Instance).where(HumanTask.id.in_(bindparam("ids", expanding=True)))
              .order_by(HumanTask.created_at))


def describe_moment(moment: datetime) -> str:
    """A due time as people read it: 'Tuesday 8 December 2026 at 09:00' (London time)."""
    local = moment.astimezone(LONDON)
    return f"{local:%A} {local.day} {local:%B %Y} at {local:%H:%M}"


# --- the service ---------------------------------------------------------------------------------------------------


class Notifier:
    """Turns new tasks, assignments and passing deadlines into notices (rows in the caller's or its own
    transaction), and lists, marks and tunes each person's notices. E-mails go out from the rows
    (delivery/notices.py); announcements after a command are effects in the outbox (services/effects.py)."""

    def __init__(self, db: Database, repository, clock: Clock, mailer: Mailer | None = None):
        self.db = db
        self.repository = repository
        self.clock = clock
        self.mailer = mailer or Mailer()

    @property
    def notice_mailer(self) -> NoticeMailer:
        return NoticeMailer(self.db, self.clock, self.mailer)  # the mailer may be replaced (settings, tests)

    @property
    def email_on(self) -> bool:
        return self.mailer.enabled

    # --- announcements --------------------------------------------------------------------------------------------

    def announce_tasks(self, task_ids: list[str] | None = None, actor: str | None = None,
                       now: datetime | None = None) -> int:
        """Tell the people who may do each new task about it, once. Without ids: every unannounced open task."""
        with self.db.write() as session:
            return self.announce_tasks_in(session, task_ids, actor, now or self.clock.now())

    def announce_tasks_in(self, session: Session, task_ids: list[str] | None, actor: str | None,
                          now: datetime) -> int:
        """`announce_tasks` in the caller's transaction (an outbox delivery's, after its claim). The tasks are claimed
        with a statement on the table, which leaves objects already loaded in the session as they were: they are
        read here, after it."""
        if task_ids is None:
            ids = list(session.scalars(_ANNOUNCE_ALL, {"at": now}))
        else:
            ids = list(session.scalars(_ANNOUNCE, {"at": now, "task_ids": list(task_ids)})) if task_ids else []
        if not ids:
            return 0
        sent = 0
        for row, instance in session.execute(_NEW_TASKS, {"ids": ids}):
            people = [p for p in recipients_of(task_actors(session, row, include_claimant=False))
                      if p.username != actor]
            if not people:
                continue
            subject, body = wording.render("new_task", task=row.name, label=_label(instance),
                                           for_you=bool(row.assignee), role=row.lane or row.role_id,
                                           due=_due(row), task_url=self._task_url(row))
            sent += add_notice(session, people, "new_task", subject, body, _task_link(row), now, self.email_on,
                               instance.id, row.id)
        return sent

    def announce_assignment(self, instance_id: int | None, username: str, task_id: str | None = None,
                            actor: str | None = None) -> int:
        with self.db.write() as session:
            return self.announce_assignment_in(session, instance_id, username, task_id, actor, self.clock.now())

    def announce_assignment_in(self, session: Session, instance_id: int | None, username: str, task_id: str | None,
                               actor: str | None, now: datetime) -> int:
        """Tell someone a task was given to them, in the caller's transaction."""
        query = select(HumanTask, Instance).join(Instance).where(HumanTask.status == "ready",
                                                                 HumanTask.claimed_by == username)
        query = query.where(HumanTask.id == task_id) if task_id else query.where(
            HumanTask.instance_id == instance_id)
        found = session.execute(query.order_by(HumanTask.created_at.desc()).limit(1)).first()
        if found is None:
            return 0
        row, instance = found
        people = recipients_of(users_named(session, [username]))
        subject, body = wording.render("assigned", task=row.name, label=_label(instance),
                                       by=actor if actor != "system" else None, due=_due(row),
                                       task_url=self._task_url(row))
        return add_notice(session, people, "assigned", subject, body, _task_link(row), now, self.email_on,
                          instance.id, row.id)

    # --- deadlines -------------------------------------------------------------------------------------------------

    def reminder_days(self, session: Session, instance: Instance, row: HumanTask) -> int:
        compiled = self.repository.compiled(session, instance.process_version_id)
        info = compiled.elements.get(row.element_id)
        value = (info.properties.get(REMINDER_PROPERTY) if info else None) or \
            compiled.settings.get(REMINDER_SETTING, DEFAULT_REMINDER_WORKING_DAYS)
        try:
            return max(0, int(value))
        except (TypeError, ValueError):
            return DEFAULT_REMINDER_WORKING_DAYS

    def reminder_moment(self, session: Session, instance: Instance, row: HumanTask) -> datetime | None:
        days = self.reminder_days(session, instance, row)
        if not days or row.due_at is None:
            return None
        return ENGLAND_AND_WALES.add_working_days(row.due_at, -days)

    def check_deadlines(self, now: datetime | None = None) -> dict[str, int]:
        """Send every reminder and overdue notice that has fallen due, each exactly once."""
        now = now or self.clock.now()
        return {"overdue": self._send_overdue(now), "reminders": self._send_reminders(now)}

    def _send_overdue(self, now: datetime) -> int:
        total = 0
        while True:
            with self.db.write() as session:
                candidates = list(session.scalars(
                    select(HumanTask.id).where(HumanTask.status == "ready", HumanTask.due_at <= now,
                                               HumanTask.overdue_notified_at.is_(None))
                    .order_by(HumanTask.due_at).limit(BATCH)))
                if not candidates:
                    return total
                ids = list(session.scalars(
                    update(HumanTask).where(HumanTask.id.in_(candidates), HumanTask.overdue_notified_at.is_(None))
                    .values(overdue_notified_at=now,
                            reminded_at=func.coalesce(HumanTask.reminded_at, now))
                    .returning(HumanTask.id)))
                for row, instance in session.execute(select(HumanTask, Instance).join(Instance)
                                                     .where(HumanTask.id.in_(ids)).order_by(HumanTask.due_at)):
                    total += self._overdue_notices(session, row, instance, now)
            if len(candidates) < BATCH:
                return total

    def _overdue_notices(self, session: Session, row: HumanTask, instance: Instance, now: datetime) -> int:
        actors = recipients_of(task_actors(session, row))
        when = describe_moment(row.due_at)
        subject, body = wording.render("overdue", task=row.name, label=_label(instance), due=when,
                                       task_url=self._task_url(row))
        count = add_notice(session, actors, "overdue", subject, body, _task_link(row), now, self.email_on,
                           instance.id, row.id)
        compiled = self.repository.compiled(session, instance.process_version_id)
        info = compiled.elements.get(row.element_id)
        told = {p.id for p in actors}
        contacts = [p for p in recipients_of(role_holders(session, escalation_roles(
            info.properties if info else {}))) if p.id not in told]
        if contacts:
            subject, body = wording.render("overdue_escalation", task=row.name, label=_label(instance), due=when,
                                           holder=row.claimed_by or row.assignee, role=row.lane or row.role_id,
                                           task_url=self._task_url(row))
            count += add_notice(session, contacts, "escalation", subject, body, _task_link(row), now, self.email_on,
                                instance.id, row.id)
        return count

    def _send_reminders(self, now: datetime) -> int:
        total, after_id = 0, ""
        horizon = now + timedelta(days=62)  # reminders are working days before; holidays never stretch that far
        while True:
            with self.db.write() as session:
                rows = session.execute(
                    select(HumanTask, Instance).join(Instance)
                    .where(HumanTask.status == "ready", HumanTask.due_at > now, HumanTask.due_at <= horizon,
                           HumanTask.reminded_at.is_(None), HumanTask.id > after_id)
                    .order_by(HumanTask.id).limit(BATCH)).all()
                if not rows:
                    return total
                after_id = rows[-1][0].id
                for row, instance in rows:
                    remind_at = self.reminder_moment(session, instance, row)
                    if remind_at is None or remind_at > now:
                        continue
                    claimed = session.execute(update(HumanTask).where(HumanTask.id == row.id,
                                                                      HumanTask.reminded_at.is_(None))
                                              .values(reminded_at=now)).rowcount
                    if not claimed or row.created_at >= remind_at:
                        continue  # someone else sent it, or the task began inside the reminder window
                    days = self.reminder_days(session, instance, row)
                    subject, body = wording.render("reminder", task=row.name, label=_label(instance),
                                                   due=describe_moment(row.due_at), days=days,
                                                   task_url=self._task_url(row))
                    total += add_notice(session, recipients_of(task_actors(session, row)), "reminder",
                                        subject, body, _task_link(row), now, self.email_on,
                                        instance.id, row.id)
            if len(rows) < BATCH:
                return total

    def next_deadline(self, now: datetime | None = None) -> datetime | None:
        """The next moment a reminder or overdue notice falls due (for the scheduler's date job)."""
        now = now or self.clock.now()
        best = None
        with self.db.read() as session:
            for row, instance in session.execute(
                    select(HumanTask, Instance).join(Instance)
                    .where(HumanTask.status == "ready", HumanTask.due_at.is_not(None),
                           HumanTask.overdue_notified_at.is_(None))
                    .order_by(HumanTask.due_at).limit(BATCH)):
                moments = [row.due_at]
                if row.reminded_at is None:
                    remind_at = self.reminder_moment(session, instance, row)
                    if remind_at is not None:
                        moments.append(remind_at)
                soonest = min(moments)
                best = soonest if best is None else min(best, soonest)
                if best <= now:
                    return best
        return best

    # --- e-mail ----------------------------------------------------------------------------------------------------

    def send_pending(self, now: datetime | None = None) -> int:
        """E-mail every pending notice of people who want them at once (delivery/notices.py)."""
        return self.notice_mailer.send_pending(now)

    def send_digests(self, now: datetime | None = None) -> int:
        """The daily digest of every notice not yet e-mailed, for those who chose it."""
        return self.notice_mailer.send_digests(now)

    def _task_url(self, row: HumanTask) -> str:
        return self.mailer.url(_task_link(row))

    # --- the in-app list ------------------------------------------------------------------------------------------

    def list_for(self, username: str, unread_only: bool = False, limit: int = 50) -> list[dict]:
        return self.list_after(username, unread_only, None, limit)[0]

    def list_after(self, username: str, unread_only: bool, key: list | None,
                   limit: int) -> tuple[list[dict], list | None]:
        """Up to `limit` of my notifications, newest first, after the one whose key (created_at, id) is `key`, and
        the last one's key when more follow."""
        with self.db.read() as session:
            user = _require(session, username)
            query = select(Notification, _task_done()).where(Notification.user_id == user.id)
            if unread_only:
                query = query.where(_unread())
            rows, next_key = keyset.rows_after(session, query, NOTIFICATION_ORDER, key, limit)
            return [{**_as_dict(n), "task_done": done, "read": n.read_at is not None or done}
                    for n, done in rows], next_key

    def unread_count(self, username: str) -> int:
        with self.db.read() as session:
            user = _require(session, username)
            return session.scalar(select(func.count()).select_from(Notification)
                                  .where(Notification.user_id == user.id, _unread())) or 0

    def mark_read(self, username: str, notification_ids: Iterable[int] | None = None) -> int:
        """Mark some (or all) of my notifications read; someone else's notification is refused."""
        now = self.clock.now()
        with self.db.write() as session:
            user = _require(session, username)
            query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
            if notification_ids is not None:
                ids = [int(i) for i in notification_ids]
                others = session.scalar(select(func.count()).select_from(Notification)
                                        .where(Notification.id.in_(ids), Notification.user_id != user.id))
                if others:
                    raise Forbidden("You can only mark your own notifications as read")
                query = query.where(Notification.id.in_(ids))
            marked = sorted(session.scalars(query.values(read_at=now).returning(Notification.id)))
            if marked:
                audit.record(session, now, username, "notifications.read", notifications=marked,
                             all=notification_ids is None)
            return len(marked)

    def preference(self, username: str) -> str:
        with self.db.read() as session:
            return _require(session, username).notification_preference

    def set_preference(self, username: str, preference: str) -> None:
        if preference not in NOTIFICATION_PREFERENCES:
            raise ValueError(f"choose one of {', '.join(NOTIFICATION_PREFERENCES)}, not '{preference}'")
        with self.db.write() as session:
            user = _require(session, username)
            if user.notification_preference != preference:
                audit.record(session, self.clock.now(), username, "notification_preference.changed",
                             before=user.notification_preference, after=preference)
                user.notification_preference = preference


# --- small pieces --------------------------------------------------------------------------------------------------


def _require(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user '{username}'")
    return user


def _label(instance: Instance) -> str:
    title = instance.title or instance.process_id.replace("_", " ")
    return f"{instance.reference}: {title}" if instance.reference else title


def _due(row: HumanTask) -> str | None:
    return describe_moment(row.due_at) if row.due_at else None


def _task_done():
    """A notice about a task that is no longer open (done, cancelled): it reads as read, nothing is left to do."""
    return select(HumanTask.id).where(HumanTask.id == Notification.task_id,
                                      HumanTask.status != "ready").exists()


def _unread():
    return Notification.read_at.is_(None) & ~_task_done()


def _task_link(row: HumanTask) -> str:
    return f"/tasks/{row.id}"


def _as_dict(n: Notification) -> dict:
    return {"id": n.id, "kind": n.kind, "subject": n.subject, "body": n.body, "link": n.link,
            "instance_id": n.instance_id, "task_id": n.task_id, "created_at": n.created_at.isoformat(),
            "read": n.read_at is not None, "read_at": n.read_at.isoformat() if n.read_at else None,
            "emailed_at": n.emailed_at.isoformat() if n.emailed_at else None, "email_status": n.email_status}
