"""`govflow users password|deactivate|activate|sign-out`: an operator's changes to an account. Each ends every
session of the person (none comes back on reactivation) and is audited under `--by` (default: system)."""
from __future__ import annotations

import click

from .commands import Context, command, users

BY = click.option("--by", default="system", show_default=True, help="Who is making the change (audited).")
REASON = click.option("--reason", default="", help="Why (audited).")


@command(users, "password")
@click.argument("username")
@click.option("--password", default=None, help="The new password; omit to be prompted (it is then not in your "
                                               "shell's history).")
@BY
def users_password(ctx: Context, username: str, password: str | None, by: str) -> None:
    """Give a person a new password and sign them out everywhere."""
    if password is None:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    ctx.govflow.accounts.change_password(username, password, by)
    ctx.emit({"username": username, "password_changed": True, "sessions_ended": True},
             f"{username} has a new password; every session of theirs has ended.")


@command(users, "deactivate")
@click.argument("username")
@BY
@REASON
def users_deactivate(ctx: Context, username: str, by: str, reason: str) -> None:
    """Stop a person signing in and end every session of theirs (their history stays)."""
    ctx.govflow.accounts.deactivate(username, by, reason)
    ctx.emit({"username": username, "active": False, "sessions_ended": True},
             f"{username} is deactivated; every session of theirs has ended.")


@command(users, "activate")
@click.argument("username")
@BY
@REASON
def users_activate(ctx: Context, username: str, by: str, reason: str) -> None:
    """Let a deactivated person sign in again."""
    ctx.govflow.accounts.activate(username, by, reason)
    ctx.emit({"username": username, "active": True}, f"{username} may sign in again.")


@command(users, "sign-out")
@click.argument("username")
@BY
@REASON
def users_sign_out(ctx: Context, username: str, by: str, reason: str) -> None:
    """End every session of a person now (a lost laptop, a shared screen)."""
    ctx.govflow.accounts.end_sessions(username, by, reason)
    ctx.emit({"username": username, "sessions_ended": True}, f"Every session of {username} has ended.")
