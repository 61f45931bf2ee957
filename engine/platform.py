"""The one engine API the web, the CLI and the scheduler call: `Govflow` wires config, database, clock and services."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, inspect, select

from engine.store import audit, keyset
from engine.governance import groups as governance
from engine.governance import policy
from engine.services import identity
from engine.services import inbox
from engine.services import incidents
from engine.store import schema
from engine.services.admin import InstanceAdmin
from engine.services.attachments import Attachments
from engine.services.audit_trail import AuditTrail
from engine.clock import Clock
from engine.services.collaboration import Collaboration
from engine.config import Config
from engine.store.db import Database
from engine.bpmn import acceptance
from engine.bpmn.definitions import collect_sources
from engine.calendar import ENGLAND_AND_WALES
from engine.errors import NotFound
from engine.store.models import AuditEvent, ElementPassage, HumanTask, Instance, MessageWait, Timer
from engine.services.repository import DeploymentResult, Repository, validate_sources
from engine.delivery import wording
from engine.delivery.mailer import Mailer
from engine.services.effects import Effects
from engine.services.notifications import Notifier
from engine.services.scheduler import TimerScheduler
from engine.services.runtime import Runtime
from engine.governance.register import Register
from engine.services import model_files
from engine.services.accounts import Accounts
from engine.services.forms_view import FormsView
from engine.services.inbox import Inbox
from engine.services.library import Library
from engine.services.logbook import Logbook
from engine.services.login_attempts import LoginAttempts
from engine.services.meeting_calendar import MeetingCalendar
from engine.services.metrics import Metrics
from engine.services.seat_register import SeatRegister
from engine.services.health import Health
from engine.services.backups import Backups
from engine.services.submission import Submissions
from engine.services.request_summary import RequestSummaries
from engine.services.search import Search
from engine.services.trail import Trails
from engine.services.tokens import ApiTokens
from engine.services.webhooks import Webhooks
from engine.services.single_sign_on import SingleSignOn

HISTORY_ORDER = [keyset.SortKey(AuditEvent.id)]  # oldest first
DEMO_USERS_FILE = Path(__file__).resolve().parent / "demo" / "demo_users.yaml"


@dataclass(frozen=True)
class InitReport:
    roles: int
    groups: int
    deployment: DeploymentResult
    demo_users: list[str]

    def as_dict(self) -> dict:
        return {"roles": self.roles, "groups": self.groups, "deployment": self.deployment.as_dict(),
                "demo_users": self.demo_users}


class Govflow:
    """Everything govflow can do, as plain method calls; one instance per process."""

    def __init__(self, config: Config | None = None, clock: Clock | None = None):
        self.config = config or Config.from_env()
        self.clock = clock or Clock()
        # every session knows where this Govflow's access policy is read from (processes/roles.yaml)
        self.db = Database(self.config.database_url,
                           {policy.POLICY_FILE: str(policy.roles_file(self.config.processes_dir))})
        self.repository = Repository(self.config.max_upload_bytes)
        self.runtime = Runtime(self.db, self.repository, self.clock, self.config.script_time_limit)
        self.notifier = Notifier(self.db, self.repository, self.clock, Mailer.from_env())
        self.effects = Effects(self.db, self.clock, self.runtime, self.notifier,
                               inline=self.config.deliver_effects_inline)
        self.effects.attach()  # a command's effects are delivered at once after its commit
        self.collaboration = Collaboration(self.db, self.repository, self.clock)
        self.attachments = Attachments(self.db, self.repository, self.clock)
        self.admin = InstanceAdmin(self.runtime)
        # the services the web and the CLI call (engine/services), each over this engine's database and clock
        self.accounts = Accounts(self.db, self.clock)
        self.inbox = Inbox(self.db, self.clock)
        self.forms = FormsView(self.db, self.repository, self.runtime)
        self.submissions = Submissions(self.runtime)
        self.library = Library(self)
        self.metrics = Metrics(self.db, self.repository, self.clock)
        self.register = Register(self.db, self.clock)
        self.trails = Trails(self.db, self.repository, self.clock)
        self.logs = Logbook(self.db, self.clock)
        self.meetings = MeetingCalendar(self.db, self.clock, self.config, self.runtime)
        self.seats = SeatRegister(self.db, self.clock)
        self.tokens = ApiTokens(self.db, self.clock)  # the JSON API's bearer tokens
        self.webhooks = Webhooks(self.db, self.clock, self.runtime.commands)  # delivered as `webhook` effects
        self.effects.handlers["webhook"] = self.webhooks.deliver
        self.sso = SingleSignOn(self.db, self.clock, self.config.processes_dir / "sso.yaml")  # accounts from OIDC
        self.summaries = RequestSummaries(self.db, self.repository, self.attachments)
        self.audit_trail = AuditTrail(self.db, self.clock)
        self.health = Health(self.db, self.clock)  # readiness, scheduler heartbeats, figures for /metrics
        self.backups = Backups(self.db)
        self.search = Search(self.db, self.clock, self.collaboration, self.logs)

    def scheduler(self, **options) -> TimerScheduler:
        """The timer scheduler for this engine (not started): timers, deadlines, digests, action reminders, and the
        outbox's sweep."""
        return TimerScheduler(self.runtime, notifier=self.notifier, effects=self.effects, health=self.health,
                              **options)

    def warm(self) -> list[int]:
        """Load what a new worker's first requests would otherwise wait for: every process version in use (the
        latest of each process, and any with running instances) compiled, and the bank holidays of this year and
        the next. Returns the version ids compiled."""
        now = self.clock.now()
        for year in (now.year, now.year + 1):
            ENGLAND_AND_WALES.is_working_day(now.replace(year=year, month=1, day=1))
        with self.db.read() as session:
            return self.repository.warm(session)

    # --- set-up --------------------------------------------------------------------------------------------

    def init(self, demo_password: str | None = None, by: str = "system") -> InitReport:
        """Create or upgrade the database, load roles and groups, deploy processes/ and forms/ (idempotent)."""
        processes = self.config.processes_dir
        if not (processes / "roles.yaml").is_file():
            raise NotFound(f"No processes folder with roles.yaml at {processes}: set GOVFLOW_PROCESSES_DIR to the "
                           "folder holding the governance rules (processes/ of the govflow source).")
        schema.upgrade(self.db)
        with self.db.write() as session:
            roles = identity.load_roles(session, processes / "roles.yaml")
        with self.db.write() as session:
            groups = governance.load_groups(session, processes / "governance-groups.yaml")
        deployment = self.deploy([processes], by=by, note="init")
        added = self.add_demo_users(demo_password) if demo_password else []
        return InitReport(roles, groups, deployment, added)

    def add_demo_users(self, password: str | None = None) -> list[str]:
        """Create the demo people who do not exist yet, all with one password (the caller prints it)."""
        added = []
        with self.db.write() as session:
            for new in identity.load_users_file(DEMO_USERS_FILE):
                if identity.find_user(session, new.username) is None:
                    if password:
                        new = identity.NewUser(**{**new.__dict__, "password": password})
                    identity.add_user(session, new, self.clock.now())
                    added.append(new.username)
                    audit.record(session, self.clock.now(), "system", "user.created", username=new.username,
                                 roles=list(new.roles))
        return added

    def add_user(self, new: identity.NewUser, by: str = "system") -> dict:
        with self.db.write() as session:
            user = identity.add_user(session, new, self.clock.now())
            audit.record(session, self.clock.now(), by, "user.created", username=user.username,
                         roles=list(new.roles))
            return self._user_dict(user)

    def users(self) -> list[dict]:
        from engine.store.models import User
        with self.db.read() as session:
            return [self._user_dict(u) for u in session.scalars(select(User).order_by(User.username))]

    @staticmethod
    def _user_dict(user) -> dict:
        return {"username": user.username, "name": user.display_name, "email": user.email,
                "roles": sorted(user.role_ids), "active": user.active,
                "organisation": user.organisation.name if user.organisation else None,
                "constituency": user.organisation.constituency if user.organisation else None}

    # --- repository ----------------------------------------------------------------------------------------

    def sources(self, paths: list[Path | str], forms_dir: Path | None = None):
        return collect_sources(paths, forms_dir or self.config.forms_dir)

    def validate(self, paths: list[Path | str], forms_dir: Path | None = None) -> list[str]:
        """Check files as a deployment would, without storing anything; returns the process ids. Works before
        `init` too: the roles then come from processes/roles.yaml."""
        sources = self.sources(paths, forms_dir)
        templates = wording.folder_in(paths)  # processes/wording: the notices' texts
        if not inspect(self.db.engine).has_table("role"):
            roles = identity.role_pairs_in_file(self.config.processes_dir / "roles.yaml")
            return sorted(validate_sources(None, sources, self.config.max_upload_bytes, roles=roles,
                                           wording_folder=templates))
        with self.db.read() as session:
            return sorted(validate_sources(session, sources, self.config.max_upload_bytes, wording_folder=templates))

    def decisions(self, paths: list[Path | str], forms_dir: Path | None = None) -> list[str]:
        """The ids of the decisions the DMN files among `paths` define."""
        return model_files.decision_ids((s.path, s.content) for s in self.sources(paths, forms_dir))

    def deploy(self, paths: list[Path | str], by: str = "system", note: str = "",
               forms_dir: Path | None = None) -> DeploymentResult:
        """Deploy BPMN/DMN files with the forms they use (from forms_dir, default the configured forms/)."""
        sources = self.sources(paths, forms_dir)
        with self.db.write() as session:
            return self.repository.deploy(session, sources, by, self.clock.now(), note)

    # --- runtime (delegated) -------------------------------------------------------------------------------

    def start(self, process_id: str, username: str, data: dict | None = None):
        return self.runtime.start(process_id, username, data)

    def claim(self, task_id: str, username: str) -> None:
        self.runtime.claim(task_id, username)

    def unclaim(self, task_id: str, username: str) -> None:
        self.runtime.unclaim(task_id, username)

    def complete(self, task_id: str, username: str, data: dict | None = None):
        return self.runtime.complete(task_id, username, data)

    def send_message(self, instance_id: int, message: str, username: str, data: dict | None = None):
        return self.runtime.send_message(instance_id, message, username, data)

    def send_signal(self, instance_id: int, signal: str, username: str, data: dict | None = None):
        return self.runtime.send_signal(instance_id, signal, username, data)

    def withdraw(self, instance_id: int, username: str, reason: str = ""):
        return self.runtime.withdraw(instance_id, username, reason)

    def fire_due_timers(self, at=None) -> list[dict]:
        return self.runtime.fire_due_timers(at)

    # --- queries -------------------------------------------------------------------------------------------

    def tasks(self, username: str) -> list[inbox.TaskView]:
        with self.db.read() as session:
            return inbox.tasks_for(session, username)

    def task(self, task_id: str) -> inbox.TaskView:
        with self.db.read() as session:
            found = inbox.task(session, task_id)
        if found is None:
            raise NotFound(f"There is no task {task_id}")
        return found

    def record_denial(self, username: str, reason: str, *, attempted: str = "view", instance_id: int | None = None,
                      task_id: str | None = None, element_id: str | None = None) -> None:
        """Record an `access.denied` audit event for a refusal an adapter made (its own transaction), as the
        engine records its own."""
        self.runtime.commands.record_denial(dict(actor=username, instance_id=instance_id, task_id=task_id,
                                                 element_id=element_id, attempted=attempted, reason=reason))

    def settle_request(self) -> None:
        """The end of a request: what it deferred (an API token's use) and no command took is written now."""
        self.db.settle_deferred()

    def abandon_request(self) -> int:
        """A request that ended without settling (its response failed): forget what it deferred; how much."""
        return self.db.drop_deferred()

    def login_attempts(self, clock: Clock, window, limit: int) -> LoginAttempts:
        """The failed-sign-in counter shared by every web worker, on `clock`, with this window and limit."""
        return LoginAttempts(self.db, clock, window, limit)

    def may_act(self, task_id: str, username: str) -> bool:
        """The policy's rule for one task: its assignee, or a holder of its role who may act (in its group's seats,
        or its one seat, if it names one)."""
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                return False
            return policy.policy_of(session).may_act(session, identity.find_user(session, username), row)

    def acting_groups(self, username: str) -> set[str]:
        """The governance groups a person may act for (seats held or stood in for, and open groups)."""
        with self.db.read() as session:
            user = identity.find_user(session, username)
            return policy.groups_of(session, user) if user else set()

    def capabilities(self, username: str) -> set[str]:
        """What this person may do, by the roles they hold (processes/roles.yaml): `act`, `see_all_requests`,
        `administer`… Nothing for an unknown or inactive person."""
        with self.db.read() as session:
            return set(policy.policy_of(session).capabilities(identity.find_user(session, username)))

    def allows(self, username: str, capability: str) -> bool:
        """Whether this person may do this (one of roles.yaml's `capabilities`; an unknown name is an error)."""
        with self.db.read() as session:
            return policy.policy_of(session).allows(identity.find_user(session, username), capability)

    def hearers(self, task_id: str) -> list[str]:
        """Who is told about a task (new, reminders, overdue): the people who may act on it, or its claimant."""
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"There is no task {task_id}")
            return [u.username for u in policy.policy_of(session).who_hears(session, row)]

    def timers(self, status: str = "waiting") -> list[dict]:
        with self.db.read() as session:
            rows = session.execute(select(Timer, Instance.reference).join(Instance, Instance.id == Timer.instance_id)
                                   .where(Timer.status == status).order_by(Timer.due_at)).all()
            return [{"id": t.id, "instance_id": t.instance_id, "reference": ref, "element_id": t.element_id,
                     "name": t.name, "due_at": t.due_at.isoformat(), "status": t.status, "attempts": t.attempts,
                     "last_error": t.last_error} for t, ref in rows]

    def show(self, instance_id: int) -> dict[str, Any]:
        """An instance's record: status, data, open tasks, waiting timers and messages, and its audit trail."""
        with self.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            tasks = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)
                                    .order_by(HumanTask.created_at)).all()
            timers = session.scalars(select(Timer).where(Timer.instance_id == instance_id)
                                     .order_by(Timer.due_at)).all()
            waits = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance_id)).all()
            events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                                     .order_by(AuditEvent.id)).all()
            return {
                "id": instance.id, "process_id": instance.process_id, "version_id": instance.process_version_id,
                "status": instance.status, "state": instance.state, "reference": instance.reference,
                "title": instance.title, "started_by": instance.started_by, "revision": instance.revision,
                "started_at": instance.started_at.isoformat(),
                "ended_at": instance.ended_at.isoformat() if instance.ended_at else None,
                "data": instance.facts,
                "tasks": [{"id": t.id, "name": t.name, "element_id": t.element_id, "status": t.status,
                           "lane": t.lane, "assignee": t.assignee, "claimed_by": t.claimed_by,
                           "due_at": t.due_at.isoformat() if t.due_at else None,
                           "completed_by": t.completed_by} for t in tasks],
                "timers": [{"element_id": t.element_id, "name": t.name, "due_at": t.due_at.isoformat(),
                            "status": t.status} for t in timers],
                "messages": [{"kind": w.kind, "message": w.message, "element_id": w.element_id,
                              "role": w.role_id, "assignee": w.assignee} for w in waits],
                "history": [_event_dict(e) for e in events],
            }

    def history_after(self, instance_id: int, key: list | None, limit: int) -> tuple[list[dict], int, list | None]:
        """An instance's audit trail, oldest first, by key: up to `limit` events after the one whose key (its id)
        is `key`, how many in all, and the last one's key when more follow."""
        with self.db.read() as session:
            of_instance = AuditEvent.instance_id == instance_id
            total = session.scalar(select(func.count()).select_from(AuditEvent).where(of_instance)) or 0
            found, next_key = keyset.rows_after(session, select(AuditEvent).where(of_instance), HISTORY_ORDER, key,
                                                limit)
            return [_event_dict(e) for e, in found], total, next_key

    def instance_summary(self, instance_id: int) -> dict | None:
        """An instance's heading facts (process, version, reference, title, status, state), or None when there is
        no such instance."""
        with self.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                return None
            return {"id": instance.id, "process_id": instance.process_id, "version_id": instance.process_version_id,
                    "reference": instance.reference, "title": instance.title, "status": instance.status,
                    "state": instance.state, "revision": instance.revision}

    def path(self, instance_id: int) -> list[dict]:
        """Every element the instance passed, in the order it left them, with the outcome (completed/cancelled)."""
        with self.db.read() as session:
            rows = session.scalars(select(ElementPassage).where(ElementPassage.instance_id == instance_id)
                                   .order_by(ElementPassage.id)).all()
            return [{"element_id": p.element_id, "outcome": p.outcome, "entered_at": p.entered_at.isoformat(),
                     "left_at": p.left_at.isoformat()} for p in rows]

    # --- incidents and notifications ------------------------------------------------------------------------

    def incidents(self, include_closed: bool = False) -> list[dict]:
        """What the system found wrong and an admin must look at: stranded instances, failing timers, tasks created
        overdue, effects not delivered; open ones only unless `include_closed`."""
        with self.db.read() as session:
            return incidents.listing(session, include_closed)

    def resolve_incident(self, incident_id: int, username: str, reason: str) -> dict:
        """An admin closes an incident, saying what was done."""
        return self.admin.resolve_incident(incident_id, username, reason)

    def effects_list(self, status: str | None = None) -> list[dict]:
        """The outbox: effects written by commits and their delivery (pending, delivered, failed)."""
        return self.effects.listing(status)

    def deliver_effects(self) -> int:
        """Deliver every effect due now (what the scheduler's sweep does); returns how many."""
        return self.effects.deliver_due()

    def retry_effect(self, effect_id: int, username: str, reason: str) -> None:
        """Put a failed effect back in the queue (its incident is closed)."""
        self.admin.retry_effect(effect_id, username, reason)

    def retry_timer(self, timer_id: int, username: str, reason: str) -> None:
        """Put a failed timer back in the queue (its incident is closed)."""
        self.admin.retry_timer(timer_id, username, reason)

    def notifications(self, username: str, unread_only: bool = False, limit: int = 50) -> list[dict]:
        """My notifications, newest first."""
        return self.notifier.list_for(username, unread_only, limit)

    def notifications_after(self, username: str, unread_only: bool, key: list | None,
                            limit: int) -> tuple[list[dict], list | None]:
        """Up to `limit` of my notifications, newest first, after the one whose key is `key`; and the last one's
        key when more follow."""
        return self.notifier.list_after(username, unread_only, key, limit)

    def unread_count(self, username: str) -> int:
        return self.notifier.unread_count(username)

    def mark_read(self, username: str, notification_ids: list[int] | None = None) -> int:
        """Mark these of my notifications (default: all) read."""
        return self.notifier.mark_read(username, notification_ids)

    def notification_preference(self, username: str) -> str:
        return self.notifier.preference(username)

    def set_notification_preference(self, username: str, preference: str) -> None:
        """immediate | digest | none."""
        self.notifier.set_preference(username, preference)

    # --- drafts, comments, saved filters and who sees what -------------------------------------------------

    def save_draft(self, task_id: str, username: str, data: dict) -> None:
        """Keep my unfinished answers to an open task I may act on (private to me; gone when the task ends)."""
        self.collaboration.save_draft(task_id, username, data)

    def draft(self, task_id: str, username: str) -> dict | None:
        return self.collaboration.draft(task_id, username)

    def discard_draft(self, task_id: str, username: str) -> bool:
        return self.collaboration.discard_draft(task_id, username)

    def add_comment(self, instance_id: int, username: str, body: str) -> dict:
        """Comment on an instance I can see (never as an observer)."""
        return self.collaboration.add_comment(instance_id, username, body)

    def comments(self, instance_id: int) -> list[dict]:
        return self.collaboration.comments(instance_id)

    def may_view(self, instance_id: int, username: str) -> bool:
        """The policy's rule: whoever may see all requests (programme staff, observers); anyone else their own,
        those open to the industry and those they work on (named on, hold, did, or may pick up a task of)."""
        return self.collaboration.may_view(instance_id, username)

    def instances(self, username: str, scope: str = "mine", page: int = 1, size: int = 25):
        """(a page of instances as dicts, total): scope `mine` or `visible`."""
        return self.collaboration.instances(username, scope, page, size)

    def instances_after(self, username: str, scope: str, key: list | None, limit: int):
        """(up to `limit` instances after the one whose key is `key`, total, the last one's key when more follow)."""
        return self.collaboration.instances_after(username, scope, key, limit)

    def saved_filters(self, username: str) -> list[dict]:
        """My saved inbox filters and those shared with my roles and groups."""
        return self.collaboration.saved_filters(username)

    def inbox_views(self, username: str) -> tuple[list[dict], list[tuple[str, str]]]:
        """(my saved filters and those shared with me, whom I may share with): what the inbox shows."""
        return self.collaboration.inbox_views(username)

    def saved_filter(self, filter_id: int, username: str) -> dict:
        return self.collaboration.saved_filter(filter_id, username)

    def save_filter(self, username: str, name: str, query: dict, shared_with: str | None = None) -> dict:
        return self.collaboration.save_filter(username, name, query, shared_with)

    def delete_filter(self, filter_id: int, username: str) -> None:
        self.collaboration.delete_filter(filter_id, username)

    def share_targets(self, username: str) -> list[tuple[str, str]]:
        """(id, name) of my roles and governance groups: whom I may share a saved filter with."""
        return self.collaboration.share_targets(username)

    def closed_message_reason(self, instance_id: int, message: str) -> str | None:
        """Why the instance does not wait for this message now, in its diagram's words (its catch's
        `closedRefusal`: "The consultation closed on …"); None when the diagram says nothing."""
        with self.db.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            compiled = self.repository.compiled(session, instance.process_version_id)
            return acceptance.closed_refusal(compiled, message, instance.facts or {})

    def open_messages(self, instance_id: int, username: str) -> list[dict]:
        """The messages this instance waits for that I may send now (a consultation response, a withdrawal),
        each with its form's JSON Schema and its element's instructions for the user."""
        with self.db.read() as session:
            user = identity.require_user(session, username)
            instance = session.get(Instance, instance_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            waits = session.scalars(select(MessageWait).where(MessageWait.instance_id == instance_id)
                                    .order_by(MessageWait.id)).all()
            rules = policy.policy_of(session)
            allowed = [w for w in waits if rules.may_send(user, w)]  # observers read, never act
            if not allowed:
                return []
            compiled = self.repository.compiled(session, instance.process_version_id)
            found: dict[str, dict] = {}
            for wait in allowed:
                info = compiled.elements.get(wait.element_id)
                if not acceptance.accepts(info, instance.facts or {}, username):  # e.g. no response to withdraw
                    continue
                schema = compiled.form_schema(wait.form) if wait.form else None
                found.setdefault(wait.message, {"message": wait.message, "name": wait.name,
                                                "element_id": wait.element_id, "form": wait.form, "schema": schema,
                                                "title": (schema or {}).get("title") or wait.name,
                                                "instructions": info.instructions if info else ""})
            return list(found.values())


def _event_dict(event: AuditEvent) -> dict[str, Any]:
    return {"at": event.at.isoformat(), "actor": event.actor, "action": event.action,
            "element_id": event.element_id, "details": event.details}
