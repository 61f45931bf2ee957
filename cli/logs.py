"""`govflow logs NAME`: the decision, action or RAID log — the API's GET /logs/{name}, for whoever may
`read_logs` (`govflow meetings` has the meetings)."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow
from engine.services.logbook import ACTION_COLUMNS, DECISION_COLUMNS, NAMES, RAID_COLUMNS, LogQuery

COLUMNS = {"decisions": DECISION_COLUMNS, "actions": ACTION_COLUMNS, "raid": RAID_COLUMNS}
SHOWN = 4  # columns in a text line; --json has every field


@command(govflow, "logs", timed=True)
@click.argument("name", type=click.Choice(NAMES))
@click.option("--as", "username", required=True, help="Whoever may read the logs.")
@click.option("--text", default=None, help="Text in any column.")
@click.option("--group", default=None, help="One governance group.")
@click.option("--kind", default=None, help="Decisions: the source process; RAID: the type.")
@click.option("--status", default=None, help="Actions and RAID (actions: also `overdue`).")
def logs(ctx: Context, name: str, username: str, text: str | None, group: str | None, kind: str | None,
         status: str | None) -> None:
    """The decision (`decisions`), action (`actions`) or RAID (`raid`) log."""
    Acting(ctx.govflow, username, "logs").needs("read_logs")
    rows = ctx.govflow.logs.rows(name, LogQuery(text=text, group=group, kind=kind, status=status))
    keys = [k for k, _h in COLUMNS[name]][:SHOWN]
    ctx.emit(rows, lambda: "\n".join("  ".join(str(r.get(k) if r.get(k) is not None else "") for k in keys)
                                     for r in rows) or f"The {name} log has no matching entries.")
