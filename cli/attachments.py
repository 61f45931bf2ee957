"""`govflow attachments …`: the files of an instance — list, download, and upload one for an open form (a task's
or a message's) — the API's /instances/{id}/attachments operations, under the same policy."""
from __future__ import annotations

from pathlib import Path

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow
from engine.errors import FormInvalid, NotFound
from engine.services.submission import file_field

MAX_DESCRIPTION = 2000


@govflow.group("attachments")
def attachments_group() -> None:
    """Files attached to an instance (a confidential response's: the programme only)."""


@command(attachments_group, "list")
@click.argument("instance_id", type=int)
@click.option("--as", "username", required=True)
def attachments_list(ctx: Context, instance_id: int, username: str) -> None:
    """The files attached to the instance that I may see."""
    Acting(ctx.govflow, username, "attachments list").visible(instance_id)
    rows = ctx.govflow.attachments.of_instance(instance_id, username)
    ctx.emit(rows, lambda: "\n".join(
        f"file {f['id']:<5} {f['name']:<30} {f['size']:>9} bytes  {f['field']}  by {f['uploaded_by']} "
        f"{f['created_at']}{'  (confidential)' if f['confidential'] else ''}" for f in rows) or "No files.")


@command(attachments_group, "download")
@click.argument("instance_id", type=int)
@click.argument("attachment_id", type=int)
@click.option("--as", "username", required=True)
@click.option("--output", "output", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it (default: the file's own name, here); an existing file is not replaced.")
def attachments_download(ctx: Context, instance_id: int, attachment_id: int, username: str,
                         output: Path | None) -> None:
    """Save a file of the instance (or one I uploaded to one of its forms and have not sent yet)."""
    gov = ctx.govflow
    Acting(gov, username, "attachments download").visible(instance_id)
    if attachment_id not in {f["id"] for f in gov.attachments.of_instance(instance_id, username)} and \
            attachment_id not in gov.attachments.pending_on(instance_id, username):
        raise NotFound(f"There is no file {attachment_id} on instance {instance_id} that you may see")
    info, content = gov.attachments.fetch(attachment_id, username)
    target = output or Path(Path(info.get("name") or f"file-{attachment_id}").name)
    if target.exists():
        raise click.BadParameter(f"'{target}' exists: name another file", param_hint="--output")
    target.write_bytes(content)
    ctx.emit(dict(info, path=str(target)), f"Saved {info.get('name')} ({len(content)} bytes) to {target}.")


@command(attachments_group, "upload", timed=True)
@click.argument("instance_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "username", required=True)
@click.option("--task", "task_id", default="", help="The open task of this instance whose form it is for …")
@click.option("--message", default="", help="… or the message (e.g. consultation_response) whose form it is for.")
@click.option("--field", default="", help="The form's file field (may be left out when the form has one).")
@click.option("--description", default="", help="What the file is (recorded with the upload).")
def attachments_upload(ctx: Context, instance_id: int, path: Path, username: str, task_id: str, message: str,
                       field: str, description: str) -> None:
    """Upload a file for a form of this instance; it stays pending, seen by me alone, until the form is sent
    with its id in the field (`complete --data '{"field": [{"id": N}]}'`)."""
    gov = ctx.govflow
    me = Acting(gov, username, "attachments upload").needs(act=True)
    if bool(task_id.strip()) == bool(message.strip()):
        raise FormInvalid({"task_id": "Name the form the file is for: --task or --message (one of them)"})
    if len(description.strip()) > MAX_DESCRIPTION:
        raise FormInvalid({"description": f"must be {MAX_DESCRIPTION} characters or fewer"})
    me.visible(instance_id)
    if task_id:
        form = me.task_form(task_id.strip())
        if form.task.instance_id != instance_id:
            raise NotFound(f"There is no task {task_id} on instance {instance_id}")
        schema, where = form.schema, {"task_id": task_id.strip()}
    else:
        found = next((m for m in gov.open_messages(instance_id, username) if m["message"] == message.strip()), None)
        if found is None:
            raise NotFound(f"Instance {instance_id} does not wait for '{message}' from you now")
        schema, where = found["schema"], {"instance_id": instance_id, "message": message.strip()}
    field = file_field(schema, field.strip(), asked_as="--field")
    kept = gov.submissions.keep(username, [(field, path.name, path.read_bytes())], **where,
                                description=description.strip())
    if kept.refused:
        raise FormInvalid({"file": kept.refused.get(field) or "; ".join(kept.refused.values())})
    stored = kept.files[field][0]
    body = dict(stored, field=field, status="pending", description=description.strip(), **where)
    body["instance_id"] = instance_id
    ctx.emit(body, f"Uploaded {stored['name']} as file {stored['id']} for {field} (pending until the form is sent "
                   f"with {{\"{field}\": [{{\"id\": {stored['id']}}}]}}).")
