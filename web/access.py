"""Who may see or act on what, from the web's side; refusals are recorded as audit events like the engine's."""
from __future__ import annotations

from flask import current_app, g

from engine.errors import Forbidden


def may_act_on(user, task) -> bool:
    """The engine's rule: the named assignee, or a holder of the task's role (in the task's group, if any)."""
    if user.observer_only:
        return False
    return current_app.extensions["govflow"].may_act(task.id, user.username)


def may_view_instance(user, instance_id: int) -> bool:
    """The engine's rule: staff and observers see every instance; a participant their own, those open to the
    industry (issued for consultation) and those they work on."""
    return current_app.extensions["govflow"].may_view(instance_id, user.username)


def deny(message: str, *, instance_id: int | None = None, task_id: str | None = None,
         element_id: str | None = None, attempted: str = "view") -> Forbidden:
    """Record an access.denied audit event (its own transaction) and return the Forbidden to raise."""
    current_app.extensions["govflow"].record_denial(g.user.username, message, attempted=attempted,
                                                    instance_id=instance_id, task_id=task_id, element_id=element_id)
    return Forbidden(message)
