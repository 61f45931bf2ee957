"""`govflow seats …`: the seat register without the browser — who holds each seat of each governance group and who
stands in, and giving a seat a holder or an alternate (admins; every assignment audited)."""
from __future__ import annotations

import click

from cli.commands import Context, command, govflow


@govflow.group("seats")
def seats_group() -> None:
    """The governance groups' seats and the people in them."""


def _person(username: str | None, name: str | None) -> str:
    return f"{name} ({username})" if username else "vacant"


@command(seats_group, "list")
@click.option("--group", "group_id", default=None, help="One group's seats (e.g. PSG).")
@click.option("--vacant", is_flag=True, help="Only the seats nobody holds.")
def seats_list(ctx: Context, group_id: str | None, vacant: bool) -> None:
    """List the groups' seats with their holders and alternates."""
    register = ctx.govflow.seats
    groups = [register.group(group_id)] if group_id else register.groups()
    if group_id and groups == [None]:
        raise click.BadParameter(f"there is no governance group '{group_id}'", param_hint="--group")
    shown = [{"id": g.id, "name": g.name, "level": g.level, "membership": g.membership,
              "seats": [s.as_dict() for s in g.seats if not (vacant and s.holder)]} for g in groups]

    def text() -> str:
        lines = []
        for g in shown:
            lines.append(f"{g['id']}: {g['name']} (level {g['level']}"
                         + (f", {g['membership'].replace('_', ' ')}" if g["membership"] != "seats" else "") + ")")
            for s in g["seats"]:
                alternate = f"; alternate {_person(s['alternate'], s['alternate_name'])}" if s["alternate"] else ""
                lines.append(f"  {s['seat_code']:<30} {_person(s['holder'], s['holder_name'])}{alternate}")
        return "\n".join(lines) or "No groups."

    ctx.emit(shown, text)


@command(seats_group, "set")
@click.argument("group_id")
@click.argument("seat")
@click.option("--as", "username", required=True, help="The admin assigning it.")
@click.option("--holder", default=None, help="Who holds the seat (a username; '-' leaves it vacant).")
@click.option("--alternate", default=None, help="Who stands in (a username; '-' for nobody).")
def seats_set(ctx: Context, group_id: str, seat: str, username: str, holder: str | None,
              alternate: str | None) -> None:
    """Give a seat (its code, e.g. SUPPLIER_LARGE, or its number) a holder and/or an alternate."""
    if holder is None and alternate is None:
        raise click.UsageError("Give --holder, --alternate or both.")
    changes = {k: (None if v == "-" else v) for k, v in (("holder", holder), ("alternate", alternate))
               if v is not None}
    done = ctx.govflow.seats.assign(group_id, int(seat) if seat.isdigit() else seat, username, **changes)
    ctx.emit(done.as_dict(), f"{done.group_id} {done.seat_code}: {_person(done.holder, done.holder_name)}"
                             + f"; alternate {_person(done.alternate, done.alternate_name)}")
