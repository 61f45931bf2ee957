"""`govflow comments …`: read and add comments on an instance — the API's GET and POST
/instances/{id}/comments, under the same policy (whoever may see the instance; adding: not observers)."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow


@govflow.group("comments")
def comments_group() -> None:
    """Comments on an instance, seen by everyone who may see it."""


@command(comments_group, "list")
@click.argument("instance_id", type=int)
@click.option("--as", "username", required=True)
def comments_list(ctx: Context, instance_id: int, username: str) -> None:
    """An instance's comments, oldest first."""
    Acting(ctx.govflow, username, "comments list").visible(instance_id)
    rows = ctx.govflow.comments(instance_id)
    ctx.emit(rows, lambda: "\n".join(f"{c['created_at']}  {c['author']}: {c['body']}" for c in rows)
             or "No comments.")


@command(comments_group, "add", timed=True)
@click.argument("instance_id", type=int)
@click.argument("body")
@click.option("--as", "username", required=True)
def comments_add(ctx: Context, instance_id: int, body: str, username: str) -> None:
    """Comment on an instance I may see."""
    Acting(ctx.govflow, username, "comments add").needs(act=True).visible(instance_id)
    made = ctx.govflow.add_comment(instance_id, username, body)
    ctx.emit(made, f"Comment {made['id']} added to instance {instance_id}.")
