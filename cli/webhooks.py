"""`govflow webhooks …`: subscribe receivers to events (admins), list them, disable, enable or remove one, send
one a test event, read a delivery log."""
from __future__ import annotations

import click

from cli.commands import Context, command, govflow


@govflow.group("webhooks")
def webhooks_group() -> None:
    """Webhooks: events POSTed to receivers, signed with HMAC-SHA256, retried with backoff."""


@command(webhooks_group, "add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              help="An event to send (task.completed, instance.*, *); repeat for several.")
@click.option("--as", "username", required=True, help="The admin subscribing it.")
def webhooks_add(ctx: Context, url: str, events: tuple[str, ...], username: str) -> None:
    """Subscribe URL; prints the signing secret (shown now, never again)."""
    secret, made = ctx.govflow.webhooks.add(username, url, list(events))
    ctx.emit(dict(made, secret=secret), f"Webhook {made['id']} sends {', '.join(made['events'])} to {made['url']}.\n"
                                        f"Signing secret: {secret}\nKeep it now: it is not shown again.")


@command(webhooks_group, "list")
@click.option("--as", "username", required=True)
def webhooks_list(ctx: Context, username: str) -> None:
    rows = ctx.govflow.webhooks.listing(username)
    ctx.emit(rows, lambda: "\n".join(
        f"webhook {w['id']}  {w['status']:<8} {w['url']}  [{', '.join(w['events'])}]"
        for w in rows) or "No webhooks.")


@command(webhooks_group, "remove")
@click.argument("webhook_id", type=int)
@click.option("--as", "username", required=True)
def webhooks_remove(ctx: Context, webhook_id: int, username: str) -> None:
    found = ctx.govflow.webhooks.remove(webhook_id, username)
    ctx.emit(found, f"Webhook {webhook_id} ({found['url']}) is removed.")


@command(webhooks_group, "disable")
@click.argument("webhook_id", type=int)
@click.option("--as", "username", required=True)
def webhooks_disable(ctx: Context, webhook_id: int, username: str) -> None:
    """Send nothing to it until it is enabled again."""
    found = ctx.govflow.webhooks.disable(webhook_id, username)
    ctx.emit(found, f"Webhook {webhook_id} ({found['url']}) is disabled.")


@command(webhooks_group, "enable")
@click.argument("webhook_id", type=int)
@click.option("--as", "username", required=True)
def webhooks_enable(ctx: Context, webhook_id: int, username: str) -> None:
    found = ctx.govflow.webhooks.enable(webhook_id, username)
    ctx.emit(found, f"Webhook {webhook_id} ({found['url']}) is enabled.")


@command(webhooks_group, "test")
@click.argument("webhook_id", type=int)
@click.option("--as", "username", required=True)
def webhooks_test(ctx: Context, webhook_id: int, username: str) -> None:
    """Send it a signed `webhook.test` event (see `deliveries` for the answer)."""
    effect_id = ctx.govflow.webhooks.send_test(webhook_id, username)
    ctx.emit({"effect_id": effect_id}, f"A test event for webhook {webhook_id} is queued (effect {effect_id}).")


@command(webhooks_group, "deliveries")
@click.argument("webhook_id", type=int)
@click.option("--as", "username", required=True)
def webhooks_deliveries(ctx: Context, webhook_id: int, username: str) -> None:
    """The delivery log, newest first."""
    rows = ctx.govflow.webhooks.deliveries(webhook_id, username)
    ctx.emit(rows, lambda: "\n".join(
        f"{d['at']}  effect {d['effect_id']} try {d['attempt']}  {d['event']:<22} "
        f"{'ok' if d['ok'] else 'FAILED'} {d['status_code'] or ''} {d['duration_ms']} ms {d['error'] or ''}"
        + (f"  next try {d['next_retry_at']}" if d["next_retry_at"] else "  gave up" if d["gave_up"] else "")
        for d in rows) or "Nothing delivered yet.")
