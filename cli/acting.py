"""Who a command acts as (`--as USER`): that person's capabilities by the access policy, and the checks the JSON
API's views make before they call a service (web/api/access.py `needs`, web/api/work.py `visible` and the task's
form), so a command allows exactly what the same API operation allows. Refusals are audited as the API's are."""
from __future__ import annotations

from engine.errors import Forbidden, NotFound
from engine.platform import Govflow


class Acting:
    """The person a command acts as, and the API's checks for them."""

    def __init__(self, gov: Govflow, username: str, command: str):
        account = gov.accounts.find(username)
        if account is None or not account.active:
            raise NotFound(f"There is no active user called '{username}'")
        self.gov, self.username, self.command = gov, username, command
        self.capabilities = account.capabilities

    def may(self, capability: str) -> bool:
        return capability in self.capabilities

    @property
    def observer_only(self) -> bool:
        return self.may("observe") and not self.may("act")

    def needs(self, capability: str | None = None, *, act: bool = False) -> Acting:
        """A capability of the policy (and, with `act`, being someone who acts, not an observer), as the API's
        `needs` demands; a refusal is audited."""
        if capability and not self.may(capability):
            raise self.deny(f"Your roles do not allow this ({capability})", attempted=self.command)
        if act and self.observer_only:
            raise self.deny("Observers can read but not act", attempted=self.command)
        return self

    def deny(self, message: str, *, instance_id: int | None = None, task_id: str | None = None,
             attempted: str = "view") -> Forbidden:
        """Record an access.denied audit event and return the Forbidden to raise."""
        self.gov.record_denial(self.username, message, attempted=attempted, instance_id=instance_id,
                               task_id=task_id)
        return Forbidden(message)

    def visible(self, instance_id: int) -> dict:
        """The instance's heading facts; NotFound when unknown, Forbidden (audited) when I may not see it."""
        found = self.gov.instance_summary(instance_id)
        if found is None:
            raise NotFound(f"There is no instance {instance_id}")
        if not self.gov.may_view(instance_id, self.username):
            raise self.deny(f"You cannot see {found['reference'] or 'this instance'}: it is not yours, not open to "
                            "the industry, and you have no task on it.", instance_id=instance_id)
        return found

    def task_form(self, task_id: str):
        """The task with its form; Forbidden (audited) unless I may act on it or I observe."""
        form = self.gov.forms.task_form(task_id, self.username)
        if not (self.observer_only or form.may_act):
            task = form.task
            need = f"it is assigned to {task.assignee}" if task.assignee else f"it needs the {task.lane} role"
            raise self.deny(f"You cannot see '{task.name}': {need}.", instance_id=task.instance_id,
                            task_id=task.id)
        return form
