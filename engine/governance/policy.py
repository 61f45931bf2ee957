"""The one access policy, read from processes/roles.yaml: what each role may do (its capabilities), and the questions
every layer asks — may this person act on this task, may they see this request, who hears about a task, may they
administer. The services and the governance layer ask it here; the web and the CLI ask it through the Govflow facade
(`capabilities`, `allows`, `may_act`, `may_view`). Nothing else decides who may do what.

A task is for its named assignee alone; otherwise for the people who hold its lane's role, where that role may `act`
— and, when the task names a group, only those holding a seat of that group or standing in as its alternate (an open
group admits every holder of the role), or, when it names one seat (`GROUP:SEAT`), that seat's holder and alternate.
Who hears about a task is who may act on it (its claimant first, for reminders). A request is seen by whoever may
`see_all_requests`, its raiser, everyone once it is open to the industry, and whoever works on it: named on one of its
tasks, holding or having done one, or able to pick one up now.

The policy of a Govflow comes from its configured processes folder: the facade puts the file's path in every
session's `info` (`POLICY_FILE`), and the file is read once and again only when it changes.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from sqlalchemy import and_, bindparam, exists, false, or_, select, true
from sqlalchemy.orm import Session, joinedload

from engine.bpmn.safe_yaml import read_yaml
from engine.config import Config
from engine.store.models import GovernanceGroup, HumanTask, Instance, MessageWait, Seat, User, UserRole

ROLES_FILE = "roles.yaml"
POLICY_FILE = "govflow.roles_file"  # the key of a session's `info` naming the roles file to read the policy from

# The capabilities govflow checks (roles.yaml's `capabilities` documents each, and must list exactly these).
ACT = "act"
SEE_ALL_REQUESTS = "see_all_requests"
OBSERVE = "observe"
REASSIGN = "reassign"
ADMINISTER = "administer"
HEAR_INCIDENTS = "hear_incidents"
MANAGE = "manage"
READ_LOGS = "read_logs"
KEEP_LOGS = "keep_logs"
READ_LIBRARY = "read_library"
EDIT_LIBRARY = "edit_library"
PUBLISH = "publish"
MIGRATE = "migrate"
READ_SEATS = "read_seats"
MANAGE_SEATS = "manage_seats"
INTEGRATE = "integrate"
KNOWN_CAPABILITIES = frozenset({ACT, SEE_ALL_REQUESTS, OBSERVE, REASSIGN, ADMINISTER, HEAR_INCIDENTS, MANAGE,
                                READ_LOGS, KEEP_LOGS, READ_LIBRARY, EDIT_LIBRARY, PUBLISH, MIGRATE, READ_SEATS,
                                MANAGE_SEATS, INTEGRATE})

OPEN_MEMBERSHIP = "open_all_programme_parties"  # a group whose tasks every holder of the lane's role may do
SEAT_SEPARATOR = ":"  # a task's group `GROUP:SEAT` is for one seat: its holder and alternate
# A fact a process sets when it opens an instance to the industry (the change-control diagram sets it on issue).
OPEN_FACT = "consultation_opened_at"
# The settings.yaml key listing further states in which the whole industry may read an instance.
STATES_SETTING = "industry_visible_states"


class PolicyError(ValueError):
    """A roles.yaml govflow cannot read as its access policy (what is wrong, and where)."""


@dataclass(frozen=True)
class RoleRule:
    """One role of roles.yaml: what its holders may do, and what they are never allowed whatever else they hold."""
    id: str
    name: str
    description: str
    may: frozenset[str]
    never: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Policy:
    """Who may do what, from one roles.yaml. Questions about roles need nothing else; questions about tasks and
    requests take the caller's session (seats, groups and tasks are rows)."""

    source: str
    capability_notes: Mapping[str, str]  # capability -> what it allows, as roles.yaml documents it
    roles: Mapping[str, RoleRule]

    # --- reading roles.yaml -----------------------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: Any, source: str = "roles.yaml") -> "Policy":
        """Check and read a parsed roles.yaml: every capability documented, known to govflow and spelt right."""
        if not isinstance(data, dict):
            raise PolicyError(f"{source}: expected `capabilities` and `roles`")
        notes = data.get("capabilities")
        if not isinstance(notes, dict) or not notes:
            raise PolicyError(f"{source}: `capabilities` must list each capability with what it allows")
        unknown = sorted(set(notes) - KNOWN_CAPABILITIES)
        if unknown:
            raise PolicyError(f"{source}: govflow knows no capability {', '.join(unknown)} "
                              f"(it knows {', '.join(sorted(KNOWN_CAPABILITIES))})")
        missing = sorted(KNOWN_CAPABILITIES - set(notes))
        if missing:
            raise PolicyError(f"{source}: `capabilities` does not document {', '.join(missing)}")
        roles: dict[str, RoleRule] = {}
        for n, spec in enumerate(data.get("roles") or []):
            if not isinstance(spec, dict) or not spec.get("id") or not spec.get("name"):
                raise PolicyError(f"{source}: role {n + 1} needs an `id` and a `name`")
            role_id = str(spec["id"])
            if "acts" in spec:
                raise PolicyError(f"{source}: role {role_id}: `acts` is now the capability `act` in `may`")
            if role_id in roles:
                raise PolicyError(f"{source}: role {role_id} is listed twice")
            lists = {}
            for key in ("may", "never"):
                value = spec.get(key) or []
                if not isinstance(value, list):
                    raise PolicyError(f"{source}: role {role_id}: `{key}` must be a list of capabilities")
                undocumented = sorted({str(v) for v in value} - set(notes))
                if undocumented:
                    raise PolicyError(f"{source}: role {role_id}: `{key}` names {', '.join(undocumented)}, "
                                      f"not a capability (they are: {', '.join(sorted(notes))})")
                lists[key] = frozenset(str(v) for v in value)
            roles[role_id] = RoleRule(role_id, str(spec["name"]), str(spec.get("description") or ""),
                                      lists["may"], lists["never"])
        return cls(source, {str(k): str(v) for k, v in notes.items()}, roles)

    # --- roles ------------------------------------------------------------------------------------------------

    def capabilities_of(self, role_ids: Iterable[str]) -> frozenset[str]:
        """What someone holding these roles may do: any role's `may`, less every role's `never`."""
        rules = [self.roles[r] for r in role_ids if r in self.roles]
        granted = frozenset().union(*(r.may for r in rules)) if rules else frozenset()
        refused = frozenset().union(*(r.never for r in rules)) if rules else frozenset()
        return granted - refused

    def roles_with(self, capability: str) -> frozenset[str]:
        """The roles whose `may` lists this capability."""
        return frozenset(r.id for r in self.roles.values() if capability in r.may)

    def names_with(self, capability: str) -> str:
        """The names of the roles that may do this, for a refusal: 'PMO or Admin' (in roles.yaml's order)."""
        names = [r.name for r in self.roles.values() if capability in r.may]
        if not names:
            return "no role"
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def acting_roles(self, role_ids: Iterable[str]) -> frozenset[str]:
        """Those of these roles whose lanes their holder may act in (none when one of the roles never acts)."""
        role_ids = set(role_ids)
        if ACT not in self.capabilities_of(role_ids):
            return frozenset()
        return frozenset(role_ids & self.roles_with(ACT))

    # --- people -----------------------------------------------------------------------------------------------

    def capabilities(self, user: User | None) -> frozenset[str]:
        """What this person may do (nothing for nobody, or for someone no longer active)."""
        if user is None or not user.active:
            return frozenset()
        return self.capabilities_of(user.role_ids)

    def allows(self, user: User | None, capability: str) -> bool:
        if capability not in KNOWN_CAPABILITIES:
            raise PolicyError(f"govflow knows no capability '{capability}'")
        return capability in self.capabilities(user)

    def holders(self, session: Session, capability: str) -> list[User]:
        """The active people who may do this (e.g. those told of incidents), by username."""
        return [u for u in role_holders(session, self.roles_with(capability)) if self.allows(u, capability)]

    # --- tasks ------------------------------------------------------------------------------------------------

    def may_act(self, session: Session, user: User | None, task: HumanTask) -> bool:
        """Its assignee, when it names one; otherwise a holder of its lane's role who may act, within its group's
        seats or its one seat. Claims are the caller's question (someone may act on a task another has claimed)."""
        if user is None or not user.active:
            return False
        if task.assignee:
            return task.assignee == user.username
        if task.role_id is None or task.role_id not in self.acting_roles(user.role_ids):
            return False
        return task.group_id is None or task.group_id in groups_of(session, user)

    def actionable(self, session: Session, user: User):
        """SQL condition on HumanTask: the unassigned tasks this person may pick up (open or not: add the status)."""
        return actionable_by(self.acting_roles(user.role_ids), groups_of(session, user))

    def may_start(self, user: User, start_role_id: str | None) -> bool:
        """Whether this person may start a process whose start event sits in this role's lane (None: any lane)."""
        if start_role_id is None:
            return self.allows(user, ACT)
        return start_role_id in self.acting_roles(user.role_ids)

    def may_send(self, user: User, wait: MessageWait) -> bool:
        """Whether this person may send a message (or signal) the instance waits for: its assignee when it names
        one, otherwise someone who may act in its lane (any lane when it has none)."""
        if wait.assignee:
            return wait.assignee == user.username
        return self.may_start(user, wait.role_id)

    def who_hears(self, session: Session, task: HumanTask, include_claimant: bool = True) -> list[User]:
        """The people told about a task: the same people who may act on it (its claimant alone first, for
        reminders; its assignee alone when it names one), active, by username."""
        if include_claimant and task.claimed_by:
            return users_named(session, [task.claimed_by])
        if task.assignee:
            return users_named(session, [task.assignee])
        if task.role_id is None or task.role_id not in self.roles_with(ACT):
            return []
        people = [u for u in role_holders(session, [task.role_id]) if task.role_id in self.acting_roles(u.role_ids)]
        if task.group_id:
            seated = seated_people(session, task.group_id)
            if seated is not None:
                people = [u for u in people if u.id in seated]
        return people

    # --- requests ---------------------------------------------------------------------------------------------

    def may_see(self, session: Session, user: User | None, instance: Instance, states: set[str]) -> bool:
        """Whether this person may read an instance (`states`: those its process opens to the whole industry)."""
        if user is None or not user.active:
            return False
        if self.allows(user, SEE_ALL_REQUESTS) or instance.started_by == user.username \
                or is_open_to_industry(instance, states):
            return True
        return bool(session.scalar(select(exists().where(HumanTask.instance_id == instance.id,
                                                         self._works_on(session, user)))))

    def visible_to(self, session: Session, user: User, states: set[str]):
        """SQL condition on Instance: what this person may read (everything when they may see all requests)."""
        if self.allows(user, SEE_ALL_REQUESTS):
            return true()
        if not user.active:
            return false()
        works_on = exists().where(HumanTask.instance_id == Instance.id, self._works_on(session, user))
        return or_(Instance.started_by == user.username, open_to_industry(states), works_on)

    def _works_on(self, session: Session, user: User):
        """SQL condition on HumanTask: a task this person is named on, holds, did, or may pick up now. A task named
        for someone else, or for a group or seat they do not sit in, shows them nothing."""
        return or_(HumanTask.assignee == user.username, HumanTask.claimed_by == user.username,
                   HumanTask.completed_by == user.username,
                   (HumanTask.status == "ready") & self.actionable(session, user))

    def may_administer(self, user: User | None) -> bool:
        """Suspend, resume, terminate, retry, move back, close incidents."""
        return self.allows(user, ADMINISTER)


# --- loading, once per file ------------------------------------------------------------------------------------------

_LOADED: dict[Path, tuple[tuple[int, int], Policy]] = {}
_LOCK = threading.Lock()


def load(path: Path | str) -> Policy:
    """The policy in this roles.yaml, read again only when the file changes (one stat a call: this is asked on
    every request, so the path is made absolute without resolving links, which costs a syscall per folder)."""
    path = Path(os.path.abspath(path))
    try:
        stat = path.stat()
    except OSError as err:
        raise PolicyError(f"{path}: cannot read the roles file ({err.strerror})") from err
    stamp = (stat.st_mtime_ns, stat.st_size)
    found = _LOADED.get(path)
    if found is not None and found[0] == stamp:
        return found[1]
    with _LOCK:
        try:
            data = read_yaml(path)
        except yaml.YAMLError as err:
            raise PolicyError(f"{path}: not YAML ({err})") from err
        policy = Policy.from_data(data, str(path))
        _LOADED[path] = (stamp, policy)
        return policy


def roles_file(processes_dir: Path | str) -> Path:
    return Path(processes_dir) / ROLES_FILE


def for_processes(processes_dir: Path | str) -> Policy:
    """The policy of a processes folder (its roles.yaml)."""
    return load(roles_file(processes_dir))


def policy_of(session: Session) -> Policy:
    """The policy of the Govflow this session belongs to; the environment's processes folder otherwise."""
    return policy_in(session.info)


def policy_in(info: Mapping) -> Policy:
    """The policy a session's (or a database's) `info` names; the environment's processes folder otherwise."""
    path = info.get(POLICY_FILE)
    return load(path) if path else for_processes(Config.from_env().processes_dir)


# --- the rows behind the questions -----------------------------------------------------------------------------------

_ROLE_HOLDERS = (select(User).join(UserRole, UserRole.user_id == User.id)
                 .options(joinedload(User.roles))  # with all their roles, in the same query
                 .where(UserRole.role_id.in_(bindparam("role_ids", expanding=True)), User.active.is_(True))
                 .order_by(User.username))
_USERS_NAMED = select(User).where(User.username.in_(bindparam("names", expanding=True))).order_by(User.username)


def role_holders(session: Session, role_ids: Iterable[str]) -> list[User]:
    """The active holders of any of these roles, by username."""
    role_ids = [r for r in role_ids if r]
    if not role_ids:
        return []
    return list(session.scalars(_ROLE_HOLDERS, {"role_ids": role_ids}).unique())


def users_named(session: Session, usernames: Iterable[str]) -> list[User]:
    names = [n for n in usernames if n]
    if not names:
        return []
    return list(session.scalars(_USERS_NAMED, {"names": names}))


def seat_token(group_id: str, seat_code: str) -> str:
    """The `group` value of a task for one seat: its holder and alternate may act on it."""
    return f"{group_id}{SEAT_SEPARATOR}{seat_code}"


def seat_tokens_of(session: Session, user: User) -> set[str]:
    """`GROUP:SEAT` for every seat this person holds or stands in for."""
    rows = session.execute(select(Seat.group_id, Seat.seat_code).where(
        or_(Seat.holder_id == user.id, Seat.alternate_id == user.id)))
    return {seat_token(group_id, code) for group_id, code in rows}


def groups_of(session: Session, user: User) -> set[str]:
    """The groups a person may act for: where they hold a seat or stand in as alternate, every open group, and
    `GROUP:SEAT` for each seat they hold or stand in for."""
    seated = session.scalars(select(Seat.group_id).where(or_(Seat.holder_id == user.id,
                                                             Seat.alternate_id == user.id))).all()
    open_groups = [g.id for g in session.scalars(select(GovernanceGroup))
                   if (g.details or {}).get("membership") == OPEN_MEMBERSHIP]
    return set(seated) | set(open_groups) | seat_tokens_of(session, user)


def seated_people(session: Session, group: str) -> set[int] | None:
    """The user ids who may act for a task's group (holders and alternates of its seats, or of its one seat for
    `GROUP:SEAT`); None for an open group (every holder of the role)."""
    found = session.get(GovernanceGroup, group)
    if found is not None and (found.details or {}).get("membership") == OPEN_MEMBERSHIP:
        return None
    if found is not None:
        where = Seat.group_id == group
    elif SEAT_SEPARATOR in group:
        group_id, _, seat_code = group.partition(SEAT_SEPARATOR)
        where = and_(Seat.group_id == group_id, Seat.seat_code == seat_code)
    else:
        return set()  # a group govflow does not know: nobody sits in it
    ids: set[int] = set()
    for holder_id, alternate_id in session.execute(select(Seat.holder_id, Seat.alternate_id).where(where)):
        ids.update(i for i in (holder_id, alternate_id) if i is not None)
    return ids


def actionable_by(role_ids: Iterable[str], user_groups: Iterable[str]):
    """SQL condition on HumanTask: unassigned tasks of these roles, outside any group or in one of these groups."""
    return and_(HumanTask.assignee.is_(None), HumanTask.role_id.in_(set(role_ids) or {""}),
                or_(HumanTask.group_id.is_(None), HumanTask.group_id.in_(set(user_groups) or {""})))


def industry_states(settings: dict[str, Any] | None) -> set[str]:
    """The states a process's settings open to the whole industry."""
    value = (settings or {}).get(STATES_SETTING) or []
    return {str(s) for s in value} if isinstance(value, (list, tuple, set)) else set()


def is_open_to_industry(instance: Instance, states: set[str]) -> bool:
    return bool((instance.facts or {}).get(OPEN_FACT)) or (instance.state or "") in states


def open_to_industry(states: set[str]):
    """SQL condition on Instance: issued for consultation, or in one of these states."""
    opened = Instance.facts[OPEN_FACT].as_string().is_not(None)
    return or_(opened, Instance.state.in_(states)) if states else opened
