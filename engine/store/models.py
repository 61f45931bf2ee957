"""The database tables, as SQLAlchemy 2.0 typed models. Alembic migrations in engine/store/migrations mirror them."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """An aware UTC datetime on every backend (SQLite drops the zone; it is put back on load)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: use aware UTC")
        return value

    def process_result_value(self, value, dialect):
        from datetime import timezone
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- identity and governance data -------------------------------------------------------------------------------


class Organisation(Base):
    __tablename__ = "organisation"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    constituency: Mapped[Optional[str]] = mapped_column(String(80))


class Role(Base):
    __tablename__ = "role"
    id: Mapped[str] = mapped_column(String(60), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    acts: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str] = mapped_column(Text, default="")


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    organisation_id: Mapped[Optional[int]] = mapped_column(ForeignKey("organisation.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # raised by signing out, a new password or deactivation: a session made under an older generation has ended
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # the single sign-on identity linked to this account, "<issuer>#<subject>" (sign-in matches it first)
    oidc_subject: Mapped[Optional[str]] = mapped_column(String(1000), unique=True, index=True)
    organisation: Mapped[Optional[Organisation]] = relationship(lazy="joined")
    roles: Mapped[list["UserRole"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def role_ids(self) -> set[str]:
        return {r.role_id for r in self.roles}


class UserRole(Base):
    __tablename__ = "user_role"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("role.id"), primary_key=True)


class GovernanceGroup(Base):
    __tablename__ = "governance_group"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[int]
    parent_id: Mapped[Optional[str]] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="active")
    usual_day: Mapped[Optional[str]] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seats: Mapped[list["Seat"]] = relationship(cascade="all, delete-orphan", order_by="Seat.position")


class Seat(Base):
    __tablename__ = "seat"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("governance_group.id"))
    position: Mapped[int]
    seat_code: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(30))
    label: Mapped[str] = mapped_column(Text)
    holder_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    alternate_id: Mapped[Optional[int]] = mapped_column(ForeignKey("app_user.id"))
    __table_args__ = (UniqueConstraint("group_id", "position"),)


# --- definitions: deployments and process versions ----------------------------------------------------------------


class Blob(Base):
    """A file's bytes, stored once by content hash however many deployments use it."""

    __tablename__ = "blob"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Deployment(Base):
    __tablename__ = "deployment"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str] = mapped_column(String(80))
    note: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[list["DeploymentFile"]] = relationship(cascade="all, delete-orphan")


class DeploymentFile(Base):
    __tablename__ = "deployment_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    path: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(10))  # bpmn | dmn | form
    sha256: Mapped[str] = mapped_column(ForeignKey("blob.sha256"))
    __table_args__ = (UniqueConstraint("deployment_id", "path"),)


class ProcessVersion(Base):
    """One version of one process: its BPMN, the DMN and forms it uses, frozen by content hash."""

    __tablename__ = "process_version"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployment.id"))
    bpmn_path: Mapped[str] = mapped_column(String(300))
    file_hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # path -> sha256 of every file it uses
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
        UniqueConstraint("process_id", "content_hash"),
    )


# --- runtime -----------------------------------------------------------------------------------------------------


class Instance(Base):
    """A running or finished process instance; `revision` is the optimistic lock."""

    __tablename__ = "instance"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    process_id: Mapped[str] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running|completed|suspended|terminated
    reference: Mapped[Optional[str]] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300), default="")
    state: Mapped[str] = mapped_column(String(60), default="")  # the process's own state name (data key `state`)
    started_by: Mapped[str] = mapped_column(String(80))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    ended_at: Mapped[Optional[datetime]]
    facts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    workflow_state: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    process_version: Mapped[ProcessVersion] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": revision}
    __table_args__ = (
        Index("ix_instance_process_status", "process_id", "status"),
        Index("ix_instance_reference", "reference"),
        Index("ix_instance_started_by", "started_by", "started_at", "id"),  # mine, newest first, by key
        Index("ix_instance_started", "started_at", "id"),  # every instance (and the register), newest first
    )


class HumanTask(Base):
    """A user task as the inbox sees it: derived from the workflow after every command, queried without it."""

    __tablename__ = "human_task"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the Spiff task id
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    process_id: Mapped[str] = mapped_column(String(120))
    element_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    lane: Mapped[Optional[str]] = mapped_column(String(120))
    role_id: Mapped[Optional[str]] = mapped_column(String(60))
    assignee: Mapped[Optional[str]] = mapped_column(String(80))
    group_id: Mapped[Optional[str]] = mapped_column(String(40))  # a task for one governance group's members
    claimed_by: Mapped[Optional[str]] = mapped_column(String(80))
    form: Mapped[Optional[str]] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="ready")  # ready|completed|cancelled
    due_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime]
    completed_at: Mapped[Optional[datetime]]
    completed_by: Mapped[Optional[str]] = mapped_column(String(80))
    instance: Mapped[Instance] = relationship(lazy="raise")

    __table_args__ = (
        Index("ix_human_task_role_status", "role_id", "status", "due_at"),
        Index("ix_human_task_claimed_status", "claimed_by", "status"),
        Index("ix_human_task_assignee_status", "assignee", "status"),
        Index("ix_human_task_instance_status", "instance_id", "status", "due_at"),
        Index("ix_human_task_completed_by", "completed_by", "completed_at"),
    )


class MessageWait(Base):
    """A message or signal an instance is waiting for (e.g. a consultation response), and who may send it."""

    __tablename__ = "message_wait"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    kind: Mapped[str] = mapped_column(String(20), default="message", server_default="message")  # message|signal
    message: Mapped[str] = mapped_column(String(120))
    element_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200))
    role_id: Mapped[Optional[str]] = mapped_column(String(60))
    assignee: Mapped[Optional[str]] = mapped_column(String(80))
    form: Mapped[Optional[str]] = mapped_column(String(300))
    __table_args__ = (Index("ix_message_wait_instance", "instance_id", "message"),)


class Timer(Base):
    """A waiting BPMN timer and its due time: the scheduler's source of truth."""

    __tablename__ = "timer"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(200), default="")
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="waiting")  # waiting|fired|cancelled|failed
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    next_attempt_at: Mapped[Optional[datetime]]
    fired_at: Mapped[Optional[datetime]]
    __table_args__ = (
        Index("ix_timer_status_due", "status", "due_at"),
        Index("ix_timer_instance", "instance_id", "status"),
    )


class OutboxEffect(Base):
    """An effect beyond the command's own rows (a follow-up start, task announcements, later webhooks), written in
    the command's transaction and delivered after it commits, with retries, exactly once."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # start_process | announce_tasks | announce_assignment | …
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    actor: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the next attempt
    delivered_at: Mapped[Optional[datetime]]
    last_error: Mapped[Optional[str]] = mapped_column(Text)
    request_id: Mapped[Optional[str]] = mapped_column(String(64))  # the request that wrote it (for the logs)
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),)


class Incident(Base):
    """Something the system found wrong and cannot fix by itself, for an admin: an instance stranded with nothing
    to wait for, a timer whose step kept failing, a task created already overdue, an effect that could not be
    delivered."""

    __tablename__ = "incident"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # stranded | timer_failed | created_overdue | delivery_failed
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    element_ids: Mapped[list] = mapped_column(JSON, default=list)
    command: Mapped[str] = mapped_column(String(80), default="")
    actor: Mapped[str] = mapped_column(String(80), default="")
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    opened_at: Mapped[datetime]
    resolved_at: Mapped[Optional[datetime]]
    resolved_by: Mapped[Optional[str]] = mapped_column(String(80))
    resolution: Mapped[Optional[str]] = mapped_column(Text)
    __table_args__ = (Index("ix_incident_open", "resolved_at", "opened_at"),
                      Index("ix_incident_instance", "instance_id"))


class AuditEvent(Base):
    """Who did what, when, to which instance and task, with the data they submitted. Append-only."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    task_id: Mapped[Optional[str]] = mapped_column(String(36))
    element_id: Mapped[Optional[str]] = mapped_column(String(120))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    __table_args__ = (
        Index("ix_audit_instance_at", "instance_id", "at"),
        Index("ix_audit_actor_at", "actor", "at"),
    )


class ReferenceCounter(Base):
    """The last number given out per reference prefix (CR001, ESC001, ...)."""

    __tablename__ = "reference_counter"
    prefix: Mapped[str] = mapped_column(String(20), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


# --- deadlines and notifications (migration 0002) ----------------------------------------------------------------
# Columns added to existing tables are attached here, so this section stays an addition at the end of the file.

from sqlalchemy.orm import add_mapped_attribute  # noqa: E402  (kept inside this section on purpose)

NOTIFICATION_PREFERENCES = ("immediate", "digest", "none")

add_mapped_attribute(User, "notification_preference",
                     mapped_column("notification_preference", String(10), default="immediate",
                                   server_default="immediate", nullable=False))
add_mapped_attribute(HumanTask, "announced_at", mapped_column("announced_at", UtcDateTime(), nullable=True))
add_mapped_attribute(HumanTask, "reminded_at", mapped_column("reminded_at", UtcDateTime(), nullable=True))
add_mapped_attribute(HumanTask, "overdue_notified_at",
                     mapped_column("overdue_notified_at", UtcDateTime(), nullable=True))


class Notification(Base):
    """One message to one person, shown in the app and (per their preference) e-mailed at once or in a digest."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    kind: Mapped[str] = mapped_column(String(30))  # new_task|assigned|reminder|overdue|escalation|notice
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[Optional[str]] = mapped_column(String(300))  # relative, e.g. /tasks/<id>
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    task_id: Mapped[Optional[str]] = mapped_column(String(36))
    created_at: Mapped[datetime]
    read_at: Mapped[Optional[datetime]]
    email_status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|sent|failed|none
    email_attempts: Mapped[int] = mapped_column(default=0)
    email_error: Mapped[Optional[str]] = mapped_column(Text)
    emailed_at: Mapped[Optional[datetime]]
    __table_args__ = (
        Index("ix_notification_user_read", "user_id", "read_at"),
        Index("ix_notification_user_created", "user_id", "created_at", "id"),  # mine, newest first, by key
        Index("ix_notification_email_status", "email_status", "created_at"),
    )


# --- process library: drafts that analysts edit before publishing (migration 0005) ------------------------------


class ProcessDraft(Base):
    """An analyst's unpublished edit of one process: its files (path -> sha256 in `blob`), based on a version.

    Paths are as a version's `file_hashes` name them: BPMN, DMN and settings relative to processes/, forms as
    `forms/<process>/<name>.schema.json`. `revision` guards against two editors overwriting each other."""

    __tablename__ = "process_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(120), unique=True)
    base_version_id: Mapped[Optional[int]] = mapped_column(ForeignKey("process_version.id"))
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(80))
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": revision}


# --- inbox drafts, comments and saved filters (migration 0003) --------------------------------------------------


class TaskDraft(Base):
    """One person's unfinished answers to one open task; deleted when the task is completed or cancelled."""

    __tablename__ = "task_draft"
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("human_task.id"))
    username: Mapped[str] = mapped_column(String(80))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("task_id", "username", name="uq_task_draft_task_user"),)


class Comment(Base):
    """A comment on an instance, read by everyone who can see the instance."""

    __tablename__ = "comment"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    author: Mapped[str] = mapped_column(String(80))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_comment_instance_created", "instance_id", "created_at"),)


class SavedFilter(Base):
    """An inbox view saved under a name by its owner, optionally shared with a role or a governance group."""

    __tablename__ = "saved_filter"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    shared_with_group: Mapped[Optional[str]] = mapped_column(String(60))  # a role id or a governance group id
    created_at: Mapped[datetime]
    __table_args__ = (
        UniqueConstraint("owner", "name", name="uq_saved_filter_owner_name"),
        Index("ix_saved_filter_shared", "shared_with_group"),
    )


# --- managers' saved register views (migration 0004) -------------------------------------------------------------


class ManagerView(Base):
    """A register filter saved under a name by a manager; a shared one is listed for every manager."""

    __tablename__ = "manager_view"
    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(120))
    query: Mapped[dict[str, Any]] = mapped_column(default=dict)
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_manager_view_owner_name"),)


# The inbox's tabs answered from these indexes alone (counts, and a page's ids in due or completion order).
# Open tasks are few beside completed ones, so status leads: "My tasks" and "My groups" scan only the open entries;
# group_id comes last so that the group-seat test of "My groups" needs no table row (migration 0009).
Index("ix_human_task_inbox_open", HumanTask.status, HumanTask.role_id, HumanTask.claimed_by, HumanTask.assignee,
      HumanTask.due_at, HumanTask.created_at, HumanTask.id, HumanTask.instance_id, HumanTask.group_id)
Index("ix_human_task_inbox_completed", HumanTask.completed_by, HumanTask.status, HumanTask.completed_at,
      HumanTask.created_at, HumanTask.id)


# --- meeting cycle and the PMO's logs (migration 0006) ----------------------------------------------------------


class Meeting(Base):
    """One meeting of a governance group: a usual one (on the group's usual day) or an extraordinary one."""

    __tablename__ = "meeting"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[str] = mapped_column(ForeignKey("governance_group.id"))
    held_on: Mapped[date]
    kind: Mapped[str] = mapped_column(String(20), default="usual")  # usual | extraordinary
    papers_due_on: Mapped[date]
    headline_due_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(30), default="planned")
    note: Mapped[str] = mapped_column(Text, default="")
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("group_id", "held_on", name="uq_meeting_group_day"),)


class AgendaItem(Base):
    """An item on a meeting's agenda: a change request awaiting decision, an escalation (both placed by their
    processes or by the PMO), an overdue action, a paper or any other business (the PMO's)."""

    __tablename__ = "agenda_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meeting.id"))
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))
    reference: Mapped[str] = mapped_column(String(40), default="")
    title: Mapped[str] = mapped_column(String(300), default="")
    kind: Mapped[str] = mapped_column(String(30), default="change_request")
    ready_on: Mapped[date]
    placed_at: Mapped[datetime]
    placed_by: Mapped[str] = mapped_column(String(80))
    position: Mapped[Optional[int]]  # the order the secretariat sets (new items go last)
    __table_args__ = (UniqueConstraint("meeting_id", "instance_id", name="uq_agenda_item_meeting_instance"),)


class LogAction(Base):
    """A manual entry in a group's action log (conditions of approvals and meeting actions are read, not copied)."""

    __tablename__ = "log_action"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[Optional[str]] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(200), default="")
    due_on: Mapped[Optional[date]]
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | done | cancelled
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(120), default="")  # "manual", or the meeting that agreed it
    reminders_sent: Mapped[int] = mapped_column(default=0)
    last_reminded_at: Mapped[Optional[datetime]]
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RaidItem(Base):
    """A risk, assumption, issue or dependency in a group's RAID log."""

    __tablename__ = "raid_item"
    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[Optional[str]] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))  # risk | assumption | issue | dependency
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    rag: Mapped[str] = mapped_column(String(10), default="amber")  # red | amber | green
    mitigation: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    escalation: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (Index("ix_raid_item_type_status", "type", "status"),)


# --- file attachments in forms, and failed sign-ins shared by every worker (migration 0007) --------------------------


class Attachment(Base):
    """A file attached to a form: its bytes and hash, kept `pending` while the form is being filled in (only its
    uploader sees it) and `attached` once the form's data (which holds only a descriptor) reached the instance."""

    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[Optional[int]] = mapped_column(ForeignKey("instance.id"))  # None while raising a request
    task_id: Mapped[Optional[str]] = mapped_column(String(36))
    field: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(10))  # the sniffed type: pdf, docx, png…
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | attached | confidential
    uploaded_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    __table_args__ = (
        Index("ix_attachment_instance_status", "instance_id", "status"),
        Index("ix_attachment_uploader_status", "uploaded_by", "status"),
    )


class LoginAttempt(Base):
    """One failed sign-in, by the username tried and the client's address; rows older than the window are purged."""

    __tablename__ = "login_attempt"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    __table_args__ = (
        Index("ix_login_attempt_key_at", "username", "address", "at"),
        Index("ix_login_attempt_at", "at"),
    )


# --- every element an instance passed through, for the heatmap (migration 0008) -------------------------------------


class ElementPassage(Base):
    """One pass of an instance through one BPMN element of any kind (task, gateway, event, sub-process), with when
    it was entered and left on the command clock; `outcome` is completed, or cancelled for an activity cut short
    (a task ended by a timer). The runtime writes a command's passages in one batched insert."""

    __tablename__ = "element_passage"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instance.id"))
    element_id: Mapped[str] = mapped_column(String(120))
    entered_at: Mapped[datetime]
    left_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(20), default="completed")  # completed | cancelled
    __table_args__ = (Index("ix_element_passage_instance_element", "instance_id", "element_id"),)


# --- API tokens (migration 0013) -------------------------------------------------------------------------------------


class ApiToken(Base):
    """A bearer token for the JSON API: only its SHA-256 is kept (the secret is shown once, when it is made). It acts
    as `username` (a person's own, or a service account's), within its `scopes`, until it expires or is revoked;
    `window_*` count its requests in the current minute for its rate limit."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the secret
    prefix: Mapped[str] = mapped_column(String(16))  # the secret's first characters, to recognise it in lists
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))  # personal | service
    username: Mapped[str] = mapped_column(String(80))  # whom it acts as
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    rate_limit: Mapped[int] = mapped_column(Integer, default=600)  # requests per minute
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    expires_at: Mapped[Optional[datetime]]
    revoked_at: Mapped[Optional[datetime]]
    revoked_by: Mapped[Optional[str]] = mapped_column(String(80))
    last_used_at: Mapped[Optional[datetime]]
    window_started_at: Mapped[Optional[datetime]]
    window_count: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_api_token_username", "username"),)


# --- the audit trail's hash chains (migration 0014) ------------------------------------------------------------------
# Each audit event holds its place in its chain (one per instance, one `global` for events without an instance): its
# position, the hash of the event before it and its own hash; each chain's head is kept beside it (engine/store/audit.py).

add_mapped_attribute(AuditEvent, "seq", mapped_column("seq", Integer, nullable=True))
add_mapped_attribute(AuditEvent, "prev_hash", mapped_column("prev_hash", String(64), nullable=True))
add_mapped_attribute(AuditEvent, "hash", mapped_column("hash", String(64), nullable=True))
Index("ux_audit_instance_seq", AuditEvent.instance_id, AuditEvent.seq, unique=True)
add_mapped_attribute(Instance, "audit_seq", mapped_column("audit_seq", Integer, default=0, server_default="0",
                                                          nullable=False))
add_mapped_attribute(Instance, "audit_head", mapped_column("audit_head", String(64), default="", server_default="",
                                                           nullable=False))


class AuditHead(Base):
    """The head of an audit chain that has no instance row to carry it (the `global` chain): how many events it
    holds and the hash of its last."""

    __tablename__ = "audit_head"
    stream: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64), default="")
# --- webhooks (migration 0016) ---------------------------------------------------------------------------------------


class Webhook(Base):
    """A subscription: the commands' audit events it wants (`task.completed`, `instance.*`, `*`), POSTed to `url`
    signed with HMAC-SHA256 under `secret` (kept to sign; shown once when made)."""

    __tablename__ = "webhook"
    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime]
    removed_at: Mapped[Optional[datetime]]
    removed_by: Mapped[Optional[str]] = mapped_column(String(80))


class WebhookDelivery(Base):
    """One attempt to deliver one event to one webhook: the delivery log (the outbox row carries the retries)."""

    __tablename__ = "webhook_delivery"
    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id"))
    effect_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(60))
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    ok: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[Optional[int]] = mapped_column(Integer)
    error: Mapped[Optional[str]] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (Index("ix_webhook_delivery_webhook_at", "webhook_id", "at"),)


class SchedulerHeartbeat(Base):
    """A running scheduler process, beating every few seconds: readiness and `govflow doctor` read how fresh the
    beats are. A scheduler that stops cleanly removes its row; one that was killed leaves a stale row behind."""

    __tablename__ = "scheduler_heartbeat"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # host:pid
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    every_seconds: Mapped[float]
    started_at: Mapped[datetime]
    beat_at: Mapped[datetime]
