"""Notices: one `notification` row per person, written in the command's transaction, and the e-mails sent from
those rows afterwards — at once or as a daily digest — each exactly once, even with several processes.

A notice is claimed (`email_status` sent) before its e-mail goes out, so two processes never send one twice; a
failed send puts it back, up to MAX_EMAIL_ATTEMPTS, then leaves it failed and visible in the app.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.delivery import wording
from engine.delivery.mailer import Mailer
from engine.store import audit
from engine.store.db import Database
from engine.store.models import Notification, User

log = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 5
BATCH = 200
STALE_AFTER = timedelta(days=3)  # a notice never e-mailed by then (e-mail was off, or down) stays in-app


@dataclass(frozen=True)
class Recipient:
    """Someone a notice is for, with how they want to hear."""

    id: int
    username: str
    name: str
    email: str
    preference: str

    @classmethod
    def of(cls, user: User) -> "Recipient":
        return cls(user.id, user.username, user.display_name, user.email or "", user.notification_preference)


def recipients_of(users: Iterable[User]) -> list[Recipient]:
    """Each active user once, in the order given."""
    seen, found = set(), []
    for user in users:
        if user.id not in seen and user.active:
            seen.add(user.id)
            found.append(Recipient.of(user))
    return found


def add_notice(session: Session, recipients: Iterable[Recipient], kind: str, subject: str, body: str, link: str | None,
               now: datetime, email_on: bool, instance_id: int | None = None, task_id: str | None = None) -> int:
    """Queue one notice per person (audited as one `notice.sent`); those who want no e-mail (or have no address) get
    it in the app only."""
    count, told = 0, []
    for person in recipients:
        told.append(person.username)
        wants_mail = email_on and person.email and person.preference != "none"
        session.add(Notification(user_id=person.id, kind=kind, subject=subject[:300], body=body, link=link,
                                 instance_id=instance_id, task_id=task_id, created_at=now, read_at=None,
                                 email_status="pending" if wants_mail else "none", email_attempts=0))
        count += 1
    if told:  # in the global chain: a notice is not a step of its instance's history
        audit.record(session, now, "system", "notice.sent", kind=kind, to=told, subject=subject[:300],
                     about_instance=instance_id, about_task=task_id)
    return count


class NoticeMailer:
    """Sends the e-mails of pending notices (SMTP through the Mailer)."""

    def __init__(self, db: Database, clock: Clock, mailer: Mailer):
        self.db = db
        self.clock = clock
        self.mailer = mailer

    @property
    def email_on(self) -> bool:
        return self.mailer.enabled

    def send_pending(self, now: datetime | None = None) -> int:
        """E-mail every pending notice of people who want them at once; one message each. Returns how many sent."""
        if not self.email_on:
            return 0
        now = now or self.clock.now()
        sent = 0
        with self.db.write() as session:  # people who switched to 'none' meanwhile, and stale notices: app only
            none_users = select(User.id).where(User.notification_preference == "none").scalar_subquery()
            session.execute(update(Notification).where(Notification.email_status == "pending",
                                                       or_(Notification.user_id.in_(none_users),
                                                           Notification.created_at < now - STALE_AFTER))
                            .values(email_status="none"))
        while True:
            batch = self._claim(now, "immediate")
            for item in batch:
                if self._deliver(item["ids"], item["person"], item["subject"], item["body"], now):
                    sent += 1
            if len(batch) < BATCH:
                return sent

    def send_digests(self, now: datetime | None = None) -> int:
        """The daily digest: one e-mail per person who chose it, listing every notice not yet e-mailed."""
        if not self.email_on:
            return 0
        now = now or self.clock.now()
        sent = 0
        for item in self._claim(now, "digest"):
            if self._deliver(item["ids"], item["person"], item["subject"], item["body"], now):
                sent += 1
        return sent

    def _claim(self, now: datetime, preference: str) -> list[dict]:
        """Mark pending notices as sent before sending (so two processes never send one twice); a failed send
        puts them back."""
        with self.db.write() as session:
            query = (select(Notification, User).join(User, User.id == Notification.user_id)
                     .where(Notification.email_status == "pending", User.notification_preference == preference)
                     .order_by(Notification.user_id, Notification.id))
            if preference == "immediate":
                query = query.limit(BATCH)
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True, of=Notification)
            rows = session.execute(query).all()
            if not rows:
                return []
            session.execute(update(Notification).where(Notification.id.in_([n.id for n, _ in rows]))
                            .values(email_status="sent", emailed_at=now,
                                    email_attempts=Notification.email_attempts + 1))
            if preference == "immediate":
                return [{"ids": [n.id], "person": Recipient.of(u), **self._email(u, n)._asdict()} for n, u in rows]
            by_user: dict[int, tuple[User, list[Notification]]] = {}
            for n, u in rows:
                by_user.setdefault(u.id, (u, []))[1].append(n)
            return [{"ids": [n.id for n in notes], "person": Recipient.of(u), **self._digest(u, notes)._asdict()}
                    for u, notes in by_user.values()]

    def _deliver(self, ids: list[int], person: Recipient, subject: str, body: str, now: datetime) -> bool:
        try:
            self.mailer.send(person.email, person.name, subject, body)
            return True
        except Exception as err:  # keep the notice; try again on the next sweep, then give up visibly
            log.warning("e-mail to %s failed: %s", person.email, err)
            with self.db.write() as session:
                for note in session.scalars(select(Notification).where(Notification.id.in_(ids))):
                    note.email_error = f"{type(err).__name__}: {err}"
                    note.emailed_at = None
                    note.email_status = "failed" if note.email_attempts >= MAX_EMAIL_ATTEMPTS else "pending"
            return False

    def _email(self, user: User, note: Notification) -> wording.Wording:
        return wording.render("email", name=user.display_name, subject=note.subject, body=note.body,
                              link=self.mailer.url(note.link) if note.kind == "notice" else None,
                              base_url=self.mailer.base_url)

    def _digest(self, user: User, notes: list[Notification]) -> wording.Wording:
        return wording.render("digest", name=user.display_name, count=len(notes), base_url=self.mailer.base_url,
                              notices=[{"subject": n.subject, "link": self.mailer.url(n.link)} for n in notes])
