"""`govflow instances …`: the instances I raised or may see, an instance's history, and the administrators'
suspend, resume, terminate and move-back — the API's /instances operations, under the same policy (`govflow start`,
`show`, `send` and `withdraw` are the others)."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, _result_text, command, govflow


@govflow.group("instances")
def instances_group() -> None:
    """Instances: list them, read one's history, and (administrators) suspend, resume, terminate, move back."""


@command(instances_group, "list")
@click.option("--as", "username", required=True)
@click.option("--scope", default="mine", show_default=True, type=click.Choice(["mine", "visible"]),
              help="Those I raised, or every one I may see.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--size", default=25, show_default=True, type=click.IntRange(1, 200), help="Instances per page.")
def instances_list(ctx: Context, username: str, scope: str, page: int, size: int) -> None:
    """Instances I raised (`mine`) or every one I may see (`visible`), newest first."""
    Acting(ctx.govflow, username, "instances list")
    rows, total = ctx.govflow.instances(username, scope, page, size)
    ctx.emit({"items": rows, "total": total, "page": page, "size": size}, lambda: "\n".join(
        [f"#{r['id']:<5} {r['reference'] or '':<8} {r['status']:<10} {r['state'] or '':<22} {r['title']}"
         f"  (by {r['started_by']}, {r['started_at'].date().isoformat()})" for r in rows]
        + [f"{total} instance(s); page {page}"]) if rows else "No instances.")


@command(instances_group, "history")
@click.argument("instance_id", type=int)
@click.option("--as", "username", required=True)
def instances_history(ctx: Context, instance_id: int, username: str) -> None:
    """The instance's audit trail, oldest first."""
    Acting(ctx.govflow, username, "instances history").visible(instance_id)
    events = ctx.govflow.show(instance_id)["history"]
    ctx.emit(events, lambda: "\n".join(f"{e['at']}  {e['actor']:<10} {e['action']} {e['element_id'] or ''}"
                                       for e in events) or "No history.")


def _status_change(ctx: Context, action: str, instance_id: int, username: str, reason: str) -> None:
    Acting(ctx.govflow, username, f"instances {action}").needs("administer").visible(instance_id)
    status = getattr(ctx.govflow.admin, action)(instance_id, username, reason)
    ctx.emit({"status": status, "detail": f"instance {instance_id} {status}"}, f"Instance {instance_id} is {status}.")


REASON = click.option("--reason", required=True, help="Why (kept in the audit trail).")
ADMIN = click.option("--as", "username", required=True, help="The administrator.")


@command(instances_group, "suspend", timed=True)
@click.argument("instance_id", type=int)
@ADMIN
@REASON
def instances_suspend(ctx: Context, instance_id: int, username: str, reason: str) -> None:
    """Suspend a running instance: its tasks and timers wait until it is resumed."""
    _status_change(ctx, "suspend", instance_id, username, reason)


@command(instances_group, "resume", timed=True)
@click.argument("instance_id", type=int)
@ADMIN
@REASON
def instances_resume(ctx: Context, instance_id: int, username: str, reason: str) -> None:
    """Resume a suspended instance."""
    _status_change(ctx, "resume", instance_id, username, reason)


@command(instances_group, "terminate", timed=True)
@click.argument("instance_id", type=int)
@ADMIN
@REASON
def instances_terminate(ctx: Context, instance_id: int, username: str, reason: str) -> None:
    """End an instance now: open tasks and timers are cancelled."""
    _status_change(ctx, "terminate", instance_id, username, reason)


@command(instances_group, "move-targets")
@click.argument("instance_id", type=int)
@ADMIN
def instances_move_targets(ctx: Context, instance_id: int, username: str) -> None:
    """The earlier user tasks a token may be moved back to (and why others may not)."""
    Acting(ctx.govflow, username, "instances move-targets").needs("administer").visible(instance_id)
    rows = [dict(t.__dict__, available=t.available) for t in ctx.govflow.admin.move_targets(instance_id)]
    ctx.emit(rows, lambda: "\n".join(
        f"{t['task_id']}  {t['name']:<30} completed by {t['completed_by'] or '?'}"
        + (f" at {t['completed_at'].isoformat()}" if t["completed_at"] else "")
        + ("" if t["available"] else f"  (unavailable: {t['why_not']})") for t in rows)
        or "Nothing to move back to (the instance is not running, or no user task was completed).")


@command(instances_group, "move-back", timed=True)
@click.argument("instance_id", type=int)
@click.option("--task", "task_id", required=True, help="The earlier user task (see `move-targets`).")
@ADMIN
@REASON
def instances_move_back(ctx: Context, instance_id: int, task_id: str, username: str, reason: str) -> None:
    """Move a stuck token back to an earlier user task (within the version's move-back window)."""
    Acting(ctx.govflow, username, "instances move-back").needs("administer").visible(instance_id)
    result = ctx.govflow.admin.move_back(instance_id, task_id, username, reason)
    ctx.emit(result.as_dict(), lambda: _result_text(result))
