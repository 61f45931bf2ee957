"""`govflow tokens …`: make, list and revoke JSON API tokens (the secret is printed once, when it is made)."""
from __future__ import annotations

import click

from cli.commands import Context, command, govflow
from engine.services.tokens import SCOPES


@govflow.group("tokens")
def tokens_group() -> None:
    """API tokens for /api/v1: personal (acting as you) or service (acting as a service account; admins)."""


@command(tokens_group, "add")
@click.argument("name")
@click.option("--as", "username", required=True, help="Who makes the token (a personal token acts as them).")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(sorted(SCOPES)),
              help="What the token may do; repeat for several.")
@click.option("--service", "service_account", default=None,
              help="Make a service token acting as this account (needs the integrate capability).")
@click.option("--days", default=90, show_default=True, type=int, help="Days until it expires (0: never).")
@click.option("--rate-limit", default=600, show_default=True, type=int, help="Requests per minute.")
def tokens_add(ctx: Context, name: str, username: str, scopes: tuple[str, ...], service_account: str | None,
               days: int, rate_limit: int) -> None:
    """Make a token and print its secret (shown now, never again)."""
    secret, made = ctx.govflow.tokens.issue(username, name, list(scopes),
                                            kind="service" if service_account else "personal",
                                            username=service_account, days=days or None, rate_limit=rate_limit)
    ctx.emit(dict(made, token=secret), lambda: (
        f"Token {made['id']} '{made['name']}' acts as {made['username']} with {', '.join(made['scopes'])}"
        f"{', until ' + made['expires_at'] if made['expires_at'] else ', with no expiry'}.\n"
        f"{secret}\nKeep it now: it is not shown again."))


@command(tokens_group, "list")
@click.option("--as", "username", required=True, help="Whose tokens (theirs and those they made).")
@click.option("--all", "everyone", is_flag=True, help="Every token (needs the integrate capability).")
def tokens_list(ctx: Context, username: str, everyone: bool) -> None:
    """List tokens (never their secrets): status, scopes, expiry, last use."""
    rows = ctx.govflow.tokens.listing(username, everyone)
    ctx.emit(rows, lambda: "\n".join(
        f"token {t['id']}  {t['status']:<8} {t['kind']:<8} {t['prefix']}…  {t['name']}  as {t['username']}  "
        f"[{', '.join(t['scopes'])}]  expires {t['expires_at'] or 'never'}  last used {t['last_used_at'] or 'never'}"
        for t in rows) or "No tokens.")


@command(tokens_group, "revoke")
@click.argument("token_id", type=int)
@click.option("--as", "username", required=True, help="Who revokes it (its owner, its maker or an admin).")
@click.option("--reason", default="", help="Why (kept in the audit trail).")
def tokens_revoke(ctx: Context, token_id: int, username: str, reason: str) -> None:
    """Revoke a token at once."""
    found = ctx.govflow.tokens.revoke(token_id, username, reason)
    ctx.emit(found, f"Token {token_id} '{found['name']}' is revoked.")
