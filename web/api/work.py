"""Tasks and instances: the inbox's list and filters, a task with its form, claim, unclaim, reassign, drafts,
completion; start, show, history, withdraw, messages, comments and files of an instance. Each view calls the same
services as the web's pages, with the same policy."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, time
from typing import Iterator

from apiflask import APIBlueprint
from flask import Response, current_app, request, url_for

from engine.errors import FormInvalid, NotFound
from engine.services.inbox import InboxQuery
from engine.services.submission import file_field

from . import form_files, paging
from .access import caller, deny, gov, instance_etag, needs, task_etag, unchanged
from .schemas import (CommentBody, Done, FormData, InstanceArgs, Instance, Items, OptionalReason, Page, PageArgs,
                      ReassignBody, Result, StartBody, TaskArgs, TaskDetail)

tasks = APIBlueprint("tasks", __name__, url_prefix="/tasks", tag="Tasks")
instances = APIBlueprint("instances", __name__, url_prefix="/instances", tag="Instances")

# --- tasks ----------------------------------------------------------------------------------------------------------


@tasks.get("")
@tasks.input(TaskArgs, location="query", arg_name="args")
@tasks.output(Page)
@needs("read")
def list_tasks(args: TaskArgs):
    """My tasks (`mine`), my groups' unclaimed tasks (`groups`) or what I completed (`completed`), filtered and
    sorted as in the inbox."""
    scope = paging.belongs_to("tasks", caller().username, args)
    key = paging.key_from(args.cursor, scope)
    due_before = datetime.combine(args.due_before, time(0), tzinfo=_london()) \
        if args.due_before else None
    found = gov().inbox.page_after(caller().username, InboxQuery(
        args.tab, args.process, args.group, args.overdue, due_before, args.q, args.sort, args.dir == "desc",
        page_size=args.limit), key)
    rows = [dict(view.as_dict(), instance_status=ref.status) for view, ref in found.rows]
    return paging.page(rows, found.next_key, scope, found.total)


def _task_or_deny(task_id: str):
    """The task's form, as its page shows it; 403 (audited) unless I may act on it or I observe."""
    who = caller()
    form = gov().forms.task_form(task_id, who.username)
    if not (who.observer_only or form.may_act):
        task = form.task
        need = f"it is assigned to {task.assignee}" if task.assignee else f"it needs the {task.lane} role"
        raise deny(f"You cannot see '{task.name}': {need}.", instance_id=task.instance_id, task_id=task.id)
    return form


def _task_tag(task) -> str:
    summary = gov().instance_summary(task.instance_id)
    return task_etag(task, summary["revision"] if summary else 0)


@tasks.get("/<task_id>")
@tasks.output(TaskDetail, headers={"ETag": {"description": "The task's version, for If-Match"}})
@needs("read")
def show_task(task_id: str):
    """A task with its form's JSON Schema, instructions, whether I may act on it, and my draft."""
    form = _task_or_deny(task_id)
    task = form.task
    body = dict(task.as_dict(), form=form.schema, instructions=form.instructions or "",
                may_act=bool(form.may_act and not caller().observer_only), draft=form.draft)
    return body, 200, {"ETag": task_etag(task, form.revision)}


@tasks.post("/<task_id>/claim")
@tasks.input(OptionalReason, arg_name="body")
@tasks.output(Done)
@needs("work", act=True)
def claim(task_id: str, body: OptionalReason):
    """Claim a task of my groups: others then see it is mine."""
    with unchanged(task_id=task_id):
        gov().claim(task_id, caller().username)
    return _done(task_id, "claimed")


@tasks.post("/<task_id>/unclaim")
@tasks.input(OptionalReason, arg_name="body")
@tasks.output(Done)
@needs("work", act=True)
def unclaim(task_id: str, body: OptionalReason):
    """Release my claim (or, for whoever may reassign, another person's) back to the group."""
    with unchanged(task_id=task_id):
        gov().unclaim(task_id, caller().username)
    gov().discard_draft(task_id, caller().username)
    return _done(task_id, "released")


@tasks.post("/<task_id>/reassign")
@tasks.input(ReassignBody, arg_name="body")
@tasks.output(Done)
@needs("work", "reassign", act=True)
def reassign(task_id: str, body: ReassignBody):
    """Give a task to someone else who may do it (PMO, admin)."""
    with unchanged(task_id=task_id):
        gov().runtime.reassign(task_id, caller().username, body.to.strip())
    return _done(task_id, "reassigned", f"now with {body.to.strip()}")


@tasks.put("/<task_id>/draft")
@tasks.input(FormData, arg_name="body")
@tasks.output(Done)
@needs("work", act=True)
def save_draft(task_id: str, body: FormData):
    """Keep my unfinished answers (private to me; gone when the task ends)."""
    with unchanged(task_id=task_id):
        gov().save_draft(task_id, caller().username, body.data)
    return _done(task_id, "draft saved")


@tasks.delete("/<task_id>/draft")
@tasks.output(Done)
@needs("work", act=True)
def discard_draft(task_id: str):
    gov().discard_draft(task_id, caller().username)
    return _done(task_id, "draft discarded")


@tasks.post("/<task_id>/complete")
@tasks.input(FormData, arg_name="body")
@tasks.output(Result)
@needs("work", act=True)
def complete(task_id: str, body: FormData):
    """Submit the task's form: checked against its JSON Schema (422 with each field's error), then the process moves
    on. `next_task_id`: my next task on this instance, if any.

    A file field takes files uploaded first to this task's form (`POST /instances/{id}/attachments` with
    `task_id`): give their ids, e.g. `"ia_documents": [{"id": 41}]` (or the descriptor the upload returned); an id
    the form may not hold is a 422 naming the field. On completion the files become part of the instance."""
    data = body.data
    if form_files.may_name_files(data):  # only then is the form's schema needed (the service checks the rest)
        form = _task_or_deny(task_id)
        data = form_files.with_files(form.schema, data, instance_id=form.task.instance_id, task_id=task_id)
    with unchanged(task_id=task_id):
        result = gov().complete(task_id, caller().username, data)
    return result.as_dict()


def _done(task_id: str, status: str, detail: str = ""):
    task = gov().task(task_id)
    return {"status": status, "detail": detail, "task": task.as_dict()}, 200, {"ETag": _task_tag(task)}


# --- instances ------------------------------------------------------------------------------------------------------


@instances.get("")
@instances.input(InstanceArgs, location="query", arg_name="args")
@instances.output(Page)
@needs("read")
def list_instances(args: InstanceArgs):
    """Instances I raised (`mine`) or every one I may see (`visible`), newest first."""
    scope = paging.belongs_to("instances", caller().username, args)
    rows, total, next_key = gov().instances_after(caller().username, args.scope, paging.key_from(args.cursor, scope),
                                                  args.limit)
    return paging.page(rows, next_key, scope, total)


@instances.post("")
@instances.input(StartBody, arg_name="body")
@instances.output(Result, status_code=201, headers={"Location": {"description": "The new instance"}})
@needs("work", act=True)
def start(body: StartBody):
    """Start a process (raise a change request…) with its start form's data."""
    gov().forms.start_form(body.process_id, caller().username)  # 403 (audited) when my roles cannot start it
    result = gov().start(body.process_id, caller().username, body.data)
    return result.as_dict(), 201, {"Location": url_for("instances.show_instance", instance_id=result.instance_id)}


def visible(instance_id: int) -> dict:
    """The instance's heading facts; 404 when unknown, 403 (audited) when I may not see it."""
    found = gov().instance_summary(instance_id)
    if found is None:
        raise NotFound(f"There is no instance {instance_id}")
    if not gov().may_view(instance_id, caller().username):
        raise deny(f"You cannot see {found['reference'] or 'this instance'}: it is not yours, not open to the "
                   "industry, and you have no task on it.", instance_id=instance_id)
    return found


@contextmanager
def writing(instance_id: int) -> Iterator[dict]:
    """As `visible`; the engine call inside writes only if the instance is still at the version the request's
    If-Match names (`unchanged`)."""
    found = visible(instance_id)
    with unchanged(instance_id=instance_id):
        yield found


@instances.get("/<int:instance_id>")
@instances.output(Instance, headers={"ETag": {"description": "The instance's version, for If-Match"}})
@needs("read")
def show_instance(instance_id: int):
    """An instance: status, state, data, open tasks, timers and the messages it waits for."""
    found = visible(instance_id)
    record = gov().show(instance_id)
    record.pop("history", None)
    record["open_messages"] = [] if caller().observer_only else [
        {k: m[k] for k in ("message", "name", "title", "schema")} for m in gov().open_messages(instance_id,
                                                                                             caller().username)]
    return record, 200, {"ETag": instance_etag(found)}


@instances.get("/<int:instance_id>/history")
@instances.input(PageArgs, location="query", arg_name="args")
@instances.output(Page)
@needs("read")
def history(instance_id: int, args: PageArgs):
    """The instance's audit trail, oldest first."""
    visible(instance_id)
    scope = paging.belongs_to("history", caller().username, args, instance_id=instance_id)
    events, total, next_key = gov().history_after(instance_id, paging.key_from(args.cursor, scope), args.limit)
    return paging.page(events, next_key, scope, total)


@instances.post("/<int:instance_id>/withdraw")
@instances.input(OptionalReason, arg_name="body")
@instances.output(Result)
@needs("work", act=True)
def withdraw(instance_id: int, body: OptionalReason):
    """Withdraw a request I raised (the process decides what withdrawal means at its stage)."""
    with writing(instance_id):
        return gov().withdraw(instance_id, caller().username, body.reason).as_dict()


@instances.post("/<int:instance_id>/messages/<message>")
@instances.input(FormData, arg_name="body")
@instances.output(Result)
@needs("work", act=True)
def send_message(instance_id: int, message: str, body: FormData):
    """Send a message the instance waits for (a consultation response…) with its form's data; its file fields name
    files uploaded first to this message's form (`POST /instances/{id}/attachments` with `message`), by id."""
    visible(instance_id)
    schema = next((m["schema"] for m in gov().open_messages(instance_id, caller().username)
                   if m["message"] == message), None)
    data = form_files.with_files(schema, body.data, instance_id=instance_id)
    with unchanged(instance_id=instance_id):
        return gov().send_message(instance_id, message, caller().username, data).as_dict()


@instances.get("/<int:instance_id>/comments")
@instances.output(Items)
@needs("read")
def comments(instance_id: int):
    visible(instance_id)
    return {"items": gov().comments(instance_id)}


@instances.post("/<int:instance_id>/comments")
@instances.input(CommentBody, arg_name="body")
@instances.output(Items, status_code=201)
@needs("work", act=True)
def add_comment(instance_id: int, body: CommentBody):
    """Comment on an instance (seen by everyone who may see it)."""
    visible(instance_id)
    return {"items": [gov().add_comment(instance_id, caller().username, body.body)]}, 201


@instances.get("/<int:instance_id>/attachments")
@instances.output(Items)
@needs("read")
def attachments(instance_id: int):
    """The files attached to the instance that I may see (a confidential response's: the programme only)."""
    visible(instance_id)
    files = gov().attachments.of_instance(instance_id, caller().username)
    for item in files:
        item["download"] = url_for("instances.download", instance_id=instance_id, attachment_id=item["id"])
    return {"items": files}


@instances.get("/<int:instance_id>/attachments/<int:attachment_id>")
@instances.doc(responses={200: {"description": "The file's bytes",
                                "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                    "format": "binary"}}}}})
@needs("read")
def download(instance_id: int, attachment_id: int):
    """A file attached to the instance, for whoever may see it (and a file I uploaded to one of its forms and have
    not sent yet, for me)."""
    visible(instance_id)
    if attachment_id not in {f["id"] for f in gov().attachments.of_instance(instance_id, caller().username)} and \
            attachment_id not in gov().attachments.pending_on(instance_id, caller().username):
        raise NotFound(f"There is no file {attachment_id} on instance {instance_id} that you may see")
    info, content = gov().attachments.fetch(attachment_id, caller().username)
    return Response(content, mimetype="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{info.get("name", "file")}"',
                             "X-Content-Type-Options": "nosniff"})


@instances.post("/<int:instance_id>/attachments")
@instances.doc(responses={201: {"description": "The file, stored with the form it is for (pending: seen by me "
                                               "alone until the form is sent)",
                                "headers": {"Location": {"description": "The file's download",
                                                         "schema": {"type": "string"}}},
                                "content": {"application/json": {"schema": {"type": "object"}}}},
                          413: {"description": "More than one upload may carry"}})
@needs("work", act=True)
def upload(instance_id: int):
    """Upload a file for a form of this instance: an open task's (`task_id`) or a message's (`message`), into one
    of its file fields (`field`). The file is checked as the web checks it (the field's types and size, and bytes
    that really are what the name says: a PDF that parses, an image that decodes, a sound Office file; a polyglot
    is refused, 422 naming `file`) and kept, pending, for me alone. Send the form (complete the task, send the
    message) with its id in the field and it becomes part of the instance, seen by whoever may see it."""
    request.max_content_length = current_app.extensions["web"].config.get("FORM_UPLOAD_LIMIT")
    visible(instance_id)
    sent = form_files.upload_form()
    if sent["task_id"]:
        form = _task_or_deny(sent["task_id"])
        if form.task.instance_id != instance_id:
            raise NotFound(f"There is no task {sent['task_id']} on instance {instance_id}")
        where = {"task_id": sent["task_id"]}
    else:
        form = next((m for m in gov().open_messages(instance_id, caller().username)
                     if m["message"] == sent["message"]), None)
        if form is None:
            raise NotFound(f"Instance {instance_id} does not wait for '{sent['message']}' from you now")
        where = {"instance_id": instance_id, "message": sent["message"]}
    field = file_field(form.schema if sent["task_id"] else form["schema"], sent["field"])
    kept = gov().submissions.keep(caller().username, [(field, sent["name"], sent["content"])], **where,
                                  description=sent["description"])
    if kept.refused:
        raise FormInvalid({"file": kept.refused.get(field) or "; ".join(kept.refused.values())})
    stored = kept.files[field][0]
    body = dict(stored, field=field, status="pending", description=sent["description"], **where,
                download=url_for("instances.download", instance_id=instance_id, attachment_id=stored["id"]))
    body["instance_id"] = instance_id
    return body, 201, {"Location": body["download"]}


def _london():
    from zoneinfo import ZoneInfo
    return ZoneInfo("Europe/London")
