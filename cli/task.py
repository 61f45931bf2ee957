"""`govflow task …`: one task with its form, reassigning it, and my draft answers to it — the API's
GET /tasks/{id}, POST …/reassign, PUT and DELETE …/draft, under the same policy (`govflow tasks`, `claim`,
`unclaim` and `complete` are the inbox's other operations)."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, _data, command, govflow


@govflow.group("task")
def task_group() -> None:
    """One task: its form, who does it, my draft."""


def _form_lines(schema: dict | None) -> list[str]:
    properties = (schema or {}).get("properties") or {}
    required = set((schema or {}).get("required") or [])
    return [f"    {name}{' (required)' if name in required else ''}: {prop.get('title') or ''} "
            f"[{prop.get('type', 'any')}]" for name, prop in properties.items() if isinstance(prop, dict)]


@command(task_group, "show")
@click.argument("task_id")
@click.option("--as", "username", required=True, help="Who looks (a holder of its role, its assignee, an observer).")
def task_show(ctx: Context, task_id: str, username: str) -> None:
    """A task with its form's fields (JSON Schema with --json), instructions, whether I may act, and my draft."""
    me = Acting(ctx.govflow, username, "task show")
    form = me.task_form(task_id)
    task = form.task
    draft = form.draft
    may_act = bool(form.may_act and not me.observer_only)
    body = dict(task.as_dict(), form=form.schema, instructions=form.instructions or "", may_act=may_act, draft=draft)

    def text() -> str:
        holder = f"claimed by {task.claimed_by}" if task.claimed_by else \
            f"for {task.assignee}" if task.assignee else f"for the {task.lane} role"
        lines = [f"{task.id}  {task.name}  ({task.status}, {holder})",
                 f"  {task.reference or '#' + str(task.instance_id)} {task.title} · state '{task.state}'"
                 + (f" · due {task.due_at.date().isoformat()}" if task.due_at else ""),
                 f"  you {'may' if may_act else 'may not'} act on it"]
        if form.schema:
            lines += ["  form:", *_form_lines(form.schema)]
        if draft:
            lines.append(f"  your draft: {', '.join(sorted(draft))}")
        if form.instructions:
            lines += ["  instructions:", *("    " + line for line in form.instructions.strip().splitlines())]
        return "\n".join(lines)

    ctx.emit(body, text)


@command(task_group, "reassign", timed=True)
@click.argument("task_id")
@click.option("--to", "to", required=True, help="Who should do it (someone who may act on it).")
@click.option("--as", "username", required=True, help="Whoever may reassign (the PMO, admins).")
def task_reassign(ctx: Context, task_id: str, to: str, username: str) -> None:
    """Give a task to someone else who may do it."""
    Acting(ctx.govflow, username, "task reassign").needs("reassign", act=True)
    ctx.govflow.runtime.reassign(task_id, username, to.strip())
    task = ctx.govflow.task(task_id)
    ctx.emit({"status": "reassigned", "detail": f"now with {to.strip()}", "task": task.as_dict()},
             f"{task_id} '{task.name}' is now with {task.claimed_by}.")


@command(task_group, "save-draft", timed=True)
@click.argument("task_id")
@click.option("--as", "username", required=True)
@click.option("--data", required=True, help="The unfinished answers as JSON, or @file.json.")
def task_save_draft(ctx: Context, task_id: str, username: str, data: str) -> None:
    """Keep my unfinished answers to a task (private to me; gone when the task ends)."""
    Acting(ctx.govflow, username, "task save-draft").needs(act=True)
    ctx.govflow.save_draft(task_id, username, _data(data))
    ctx.emit({"status": "draft saved", "task_id": task_id}, f"Draft of {task_id} saved.")


@command(task_group, "discard-draft", timed=True)
@click.argument("task_id")
@click.option("--as", "username", required=True)
def task_discard_draft(ctx: Context, task_id: str, username: str) -> None:
    """Throw my draft of a task away."""
    Acting(ctx.govflow, username, "task discard-draft").needs(act=True)
    found = ctx.govflow.discard_draft(task_id, username)
    ctx.emit({"status": "draft discarded", "task_id": task_id, "had_draft": found},
             f"Draft of {task_id} discarded." if found else f"There was no draft of {task_id}.")
