"""`govflow notifications …`: my notifications, and marking them read — the API's /notifications operations."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow


@govflow.group("notifications")
def notifications_group() -> None:
    """What govflow told me (new tasks, reminders, decisions)."""


@command(notifications_group, "list")
@click.option("--as", "username", required=True)
@click.option("--unread", is_flag=True, help="Only those not read yet.")
@click.option("--limit", default=25, show_default=True, type=click.IntRange(1, 200))
def notifications_list(ctx: Context, username: str, unread: bool, limit: int) -> None:
    """My notifications, newest first."""
    Acting(ctx.govflow, username, "notifications list")
    rows = ctx.govflow.notifications(username, unread, limit)
    ctx.emit(rows, lambda: "\n".join(
        f"{n['id']:<6} {n['created_at']}  {'read  ' if n['read'] else 'UNREAD'}  {n['subject']}"
        for n in rows) or "No notifications.")


@command(notifications_group, "read", timed=True)
@click.argument("ids", nargs=-1, type=int)
@click.option("--as", "username", required=True)
def notifications_read(ctx: Context, ids: tuple[int, ...], username: str) -> None:
    """Mark these of my notifications read (all of them when no id is given)."""
    Acting(ctx.govflow, username, "notifications read")
    count = ctx.govflow.mark_read(username, list(ids) or None)
    ctx.emit({"status": "read", "count": count}, f"{count} notification(s) marked read.")
