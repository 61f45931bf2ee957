"""The API's bodies as JSON Schema (Pydantic models): what requests must send, validated before any view runs, and
what responses hold; the OpenAPI document is generated from them."""
from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Text = Field(min_length=1, max_length=2000)
Reason = Field(min_length=1, max_length=2000, description="Why: recorded in the audit trail")


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """A response body: the fields listed, and possibly more."""

    model_config = ConfigDict(extra="allow")


# --- requests ------------------------------------------------------------------------------------------------------


class FormData(Body):
    data: dict[str, Any] = Field(default_factory=dict, description="The form's answers, as its JSON Schema says")


class StartBody(FormData):
    process_id: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z_][\w.-]*$")


class ReasonBody(Body):
    reason: str = Reason


class OptionalReason(Body):
    reason: str = Field(default="", max_length=2000)


class ReassignBody(Body):
    to: str = Field(min_length=1, max_length=80, description="The username who should do the task")


class CommentBody(Body):
    body: str = Text


class MoveBackBody(ReasonBody):
    task_id: str = Field(min_length=1, max_length=36, description="The earlier user task to move the token back to")


class ReadBody(Body):
    ids: list[int] | None = Field(default=None, max_length=1000, description="Which notifications; all when absent")


class FilesBody(Body):
    files: dict[str, str] = Field(min_length=1, max_length=50,
                                  description="File path (e.g. change_control.bpmn, forms/x.schema.json) → its text")


class DeployBody(FilesBody):
    note: str = Field(min_length=1, max_length=2000, description="What changed")


class PublishBody(Body):
    note: str = Field(min_length=1, max_length=2000, description="What changed")
    allow_newer_base: bool = False


class TokenBody(Body):
    name: str = Field(min_length=1, max_length=120)
    scopes: list[Literal["read", "work", "library", "admin"]] = Field(min_length=1)
    days: int | None = Field(default=90, ge=1, le=366, description="Days until it expires; null: never")
    kind: Literal["personal", "service"] = "personal"
    username: str | None = Field(default=None, max_length=80, description="The service account (service tokens)")
    rate_limit: int = Field(default=600, ge=1, le=100_000, description="Requests per minute")


class WebhookBody(Body):
    url: str = Field(min_length=8, max_length=2000, description="The receiver (https; http only to this machine)")
    events: list[str] = Field(min_length=1, max_length=50,
                              description="Audit actions to send: task.completed, instance.*, * …")


class WebhookMade(Out):
    secret: str = Field(description="The signing secret: shown now and never again")
    id: int


# --- query strings --------------------------------------------------------------------------------------------------


class PageArgs(Body):
    limit: int = Field(default=25, ge=1, le=200, description="Rows per page")
    cursor: str | None = Field(
        default=None, max_length=4000,
        description="The `next_cursor` of the previous page, with the same sort and filters (leave it out for the "
                    "first page). Opaque: it holds the last row's sort key, and the next page is the rows after it, "
                    "so rows added or removed meanwhile neither repeat nor skip others. A cursor not given by the "
                    "API, or given for another list, sort or filter, is a 422 naming `cursor`.")


class TaskArgs(PageArgs):
    tab: Literal["mine", "groups", "completed"] = "mine"
    process: str = Field(default="", max_length=120)
    group: str = Field(default="", max_length=120)
    overdue: bool = False
    due_before: date | None = Field(default=None, description="Due before this day (London)")
    q: str = Field(default="", max_length=200)
    sort: Literal["due", "created", "completed", "reference", "task", "process"] = "due"
    dir: Literal["asc", "desc"] = "asc"


class InstanceArgs(PageArgs):
    scope: Literal["mine", "visible"] = "mine"


class NotificationArgs(PageArgs):
    unread: bool = False


class RegisterArgs(PageArgs):
    process: str | None = Field(default=None, max_length=120)
    state: str | None = Field(default=None, max_length=60)
    status: str | None = Field(default=None, max_length=20)
    group: str | None = Field(default=None, max_length=120)
    organisation: str | None = Field(default=None, max_length=200)
    constituency: str | None = Field(default=None, max_length=120)
    overdue: bool = False
    q: str | None = Field(default=None, max_length=200)
    sort: Literal["started", "reference", "title", "state", "status", "updated", "ended", "process"] = "started"
    dir: Literal["asc", "desc"] = "desc"


class LogArgs(Body):
    q: str | None = Field(default=None, max_length=200)
    group: str | None = Field(default=None, max_length=120)
    kind: str | None = Field(default=None, max_length=60)
    status: str | None = Field(default=None, max_length=60)


class MeetingArgs(Body):
    group: str | None = Field(default=None, max_length=40)
    start: date | None = None
    end: date | None = None


# --- responses ------------------------------------------------------------------------------------------------------


class Page(Out):
    items: list[dict[str, Any]]
    next_cursor: str | None = Field(description="Pass as `cursor` (with the same sort and filters) for the next "
                                                "page; null on the last")
    total: int | None = None


class Task(Out):
    id: str
    name: str
    element_id: str
    process_id: str
    instance_id: int
    status: str
    claimed_by: str | None = None
    assignee: str | None = None
    due_at: str | None = None


class TaskDetail(Task):
    form: dict[str, Any] | None = Field(description="The task's form as JSON Schema")
    instructions: str = ""
    may_act: bool
    draft: dict[str, Any] | None = None


class Result(Out):
    instance_id: int
    status: str
    reference: str | None = None
    next_task_id: str | None = None


class Instance(Out):
    id: int
    process_id: str
    status: str
    revision: int
    reference: str | None = None
    title: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    tasks: list[dict[str, Any]] = Field(default_factory=list)


class Items(Out):
    items: list[dict[str, Any]]


class Done(Out):
    status: str
    detail: str = ""


class Validation(Out):
    valid: bool
    problems: list[dict[str, Any]]


class TokenMade(Out):
    token: str = Field(description="The secret: shown now and never again")
    id: int
    scopes: list[str]


class Problem(Out):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None
