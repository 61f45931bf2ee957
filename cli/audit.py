"""`govflow audit`: check the audit trail's hash chains, and anchor their heads."""
from __future__ import annotations

import sys

import click

from cli.commands import Context, command, govflow


@govflow.group("audit")
def audit_group() -> None:
    """The tamper-evident audit trail: every event chained to the one before it (per instance, and globally)."""


@command(audit_group, "verify")
def audit_verify(ctx: Context) -> None:
    """Walk every chain and report the first broken link (exit 1): an edited, deleted or forged event."""
    verdict = ctx.govflow.audit_trail.verify()

    def text() -> str:
        summary = (f"{verdict['events']} event(s) in {verdict['chains']} chain(s), {verdict['anchors']} "
                   "anchor(s)")
        first = verdict["first_break"]
        if first is None:
            return f"The audit trail is intact: {summary}."
        where = f"event {first['event_id']}" if first["event_id"] is not None else "the end of the chain"
        more = len(verdict["breaks"]) - 1
        return (f"The audit trail is broken: {summary}.\nFirst broken link: {where} in chain {first['chain']}: "
                f"{first['problem']}" + (f"\n({more} more broken link(s): --json lists them all)" if more else ""))

    ctx.emit(verdict, text)
    if not verdict["intact"]:
        sys.exit(1)


@command(audit_group, "anchor")
@click.option("--as", "username", default="system", help="Who anchors (recorded in the audit trail).")
def audit_anchor(ctx: Context, username: str) -> None:
    """Vouch for the head of every chain that moved since the last anchor (the scheduler does this daily); prints
    the digest to keep outside the database."""
    anchored = ctx.govflow.audit_trail.anchor(username)
    ctx.emit(anchored, f"Anchored {anchored['chains']} chain(s) ({anchored['events']} events) in event "
                       f"{anchored['event_id']}; keep this digest elsewhere: {anchored['digest']}")
