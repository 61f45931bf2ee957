"""Who may see an instance: programme staff and observers see every one; a participant sees the ones they raised,
the ones open to the industry (issued for consultation, or in a state the process's settings list) and the ones
they work on."""
from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import exists, or_, select, true
from sqlalchemy.orm import Session

from engine.store.models import HumanTask, Instance, User

# Roles that only read: they never act (an Ofgem observer).
OBSERVER_ROLES = frozenset({"ofgem_observer"})
# Roles that see every instance (programme staff and observers).
STAFF_ROLES = frozenset({"change_control_manager", "workstream", "pmo", "chair", "sro", "ipa", "analyst", "admin",
                         "ofgem_observer"})
# A fact a process sets when it opens an instance to the industry (the change-control diagram sets it on issue).
OPEN_FACT = "consultation_opened_at"
# The settings.yaml key listing further states in which the whole industry may read an instance.
STATES_SETTING = "industry_visible_states"


def is_staff(role_ids: Iterable[str]) -> bool:
    return bool(set(role_ids) & STAFF_ROLES)


def is_observer_only(role_ids: Iterable[str]) -> bool:
    roles = set(role_ids)
    return bool(roles) and roles <= OBSERVER_ROLES


def industry_states(settings: dict[str, Any] | None) -> set[str]:
    value = (settings or {}).get(STATES_SETTING) or []
    return {str(s) for s in value} if isinstance(value, (list, tuple, set)) else set()


def is_open_to_industry(instance: Instance, states: set[str]) -> bool:
    return bool((instance.facts or {}).get(OPEN_FACT)) or (instance.state or "") in states


def open_to_industry(states: set[str]):
    """SQL condition: instances issued for consultation, or in one of these states."""
    opened = Instance.facts[OPEN_FACT].as_string().is_not(None)
    return or_(opened, Instance.state.in_(states)) if states else opened


def works_on(username: str, role_ids: Iterable[str]):
    """SQL condition: instances with a task this person is named on, holds, did, or may pick up now."""
    return exists().where(HumanTask.instance_id == Instance.id, _involves(username, role_ids))


def _involves(username: str, role_ids: Iterable[str]):
    roles = set(role_ids) or {""}
    return or_(HumanTask.assignee == username, HumanTask.claimed_by == username, HumanTask.completed_by == username,
               HumanTask.role_id.in_(roles) & (HumanTask.status == "ready"))


def visible_to(user: User, states: set[str]):
    """SQL condition on Instance: what this person may read (everything for staff)."""
    if is_staff(user.role_ids):
        return true()
    return or_(Instance.started_by == user.username, open_to_industry(states), works_on(user.username, user.role_ids))


def may_view(session: Session, user: User, instance: Instance, states: set[str]) -> bool:
    if is_staff(user.role_ids) or instance.started_by == user.username or is_open_to_industry(instance, states):
        return True
    return bool(session.scalar(select(exists().where(HumanTask.instance_id == instance.id,
                                                     _involves(user.username, user.role_ids)))))
