"""`govflow meetings …`: the secretariat's meeting cycle without the browser — the calendar, planning usual and
extraordinary meetings, a meeting's agenda (add, order, remove items), marking it held and recording the group's
decision on an item, which completes the item's decision task."""
from __future__ import annotations

from datetime import date

import click

from cli.commands import Context, _data, command, govflow
from engine.services.meeting_calendar import ITEM_KINDS, KIND_WORDS


@govflow.group("meetings")
def meetings_group() -> None:
    """The groups' meetings and their agendas (the PMO and admins change them)."""


def _day(value: str | None, option: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date: write it as 2027-01-20", param_hint=option)


def _meeting_line(m: dict) -> str:
    items = len(m.get("agenda") or [])
    return (f"meeting {m['id']}  {m['group_id']:<6} {m['held_on']}  {m['kind']:<13} {m['status']:<22} "
            f"papers due {m['papers_due_on']}  {items} item{'s' if items != 1 else ''}"
            + (f"  ({m['note']})" if m.get("note") else ""))


@command(meetings_group, "list", timed=True)
@click.option("--group", "group_id", default=None, help="One group's meetings (e.g. PSG).")
@click.option("--from", "start", default=None, help="From this day (YYYY-MM-DD).")
@click.option("--to", "end", default=None, help="Until this day (YYYY-MM-DD).")
def meetings_list(ctx: Context, group_id: str | None, start: str | None, end: str | None) -> None:
    """List the planned meetings with their status, papers deadline and number of agenda items."""
    rows = ctx.govflow.meetings.meetings(group_id, _day(start, "--from"), _day(end, "--to"))
    ctx.emit(rows, lambda: "\n".join(_meeting_line(m) for m in rows) or "No meetings planned.")


@command(meetings_group, "plan", timed=True)
@click.option("--as", "username", required=True, help="The PMO (or an admin) planning them.")
@click.option("--group", "group_id", default=None, help="Only this group.")
@click.option("--from", "start", default=None, help="Usual meetings from this day (default today).")
@click.option("--to", "end", default=None,
              help="… until this day (default: meetings_planned_ahead_days ahead, settings.yaml).")
@click.option("--extraordinary", "on", default=None, help="Add an extraordinary meeting of --group on this day.")
@click.option("--note", default="", help="A note on the extraordinary meeting.")
def meetings_plan(ctx: Context, username: str, group_id: str | None, start: str | None, end: str | None,
                  on: str | None, note: str) -> None:
    """Plan the groups' usual meetings ahead, or add an extraordinary meeting."""
    meetings = ctx.govflow.meetings
    if on:
        if not group_id:
            raise click.BadParameter("name the group meeting on that day", param_hint="--group")
        made = [meetings.add_extraordinary(group_id, _day(on, "--extraordinary"), username, note)]
    else:
        made = meetings.plan_ahead(username, group_id, _day(start, "--from"), _day(end, "--to"))
    ctx.emit(made, lambda: "\n".join(["Planned:", *(_meeting_line(m) for m in made)]) if made
             else "Nothing new to plan: those meetings are planned already.")


@command(meetings_group, "agenda", timed=True)
@click.argument("meeting_id", type=int)
@click.option("--as", "username", default=None, help="The PMO (or an admin), to change the agenda.")
@click.option("--add", "kind", type=click.Choice(sorted(ITEM_KINDS)), default=None,
              help="Add an item: a change request or escalation (--reference), a paper or aob (--title).")
@click.option("--reference", default="", help="The change request's or escalation's reference (CR004, ESC002).")
@click.option("--title", default="", help="The item's title (a paper, any other business).")
@click.option("--move", "move_item", type=int, default=None, help="Move this item (its id) …")
@click.option("--to", "position", type=int, default=None, help="… to this place (1 = first).")
@click.option("--remove", "remove_item", type=int, default=None, help="Take this item (its id) off the agenda.")
def meetings_agenda(ctx: Context, meeting_id: int, username: str | None, kind: str | None, reference: str,
                    title: str, move_item: int | None, position: int | None, remove_item: int | None) -> None:
    """Show a meeting's agenda; with --add, --move/--to or --remove, change it first."""
    meetings = ctx.govflow.meetings
    changes = [kind is not None, move_item is not None, remove_item is not None]
    if sum(changes) > 1:
        raise click.UsageError("Give one change at a time: --add, --move or --remove.")
    if any(changes) and not username:
        raise click.BadParameter("say who changes the agenda", param_hint="--as")
    if kind is not None:
        meetings.add_item(meeting_id, username, kind, reference, title)
    elif move_item is not None:
        if position is None:
            raise click.BadParameter("say where to move it (1 = first)", param_hint="--to")
        meetings.move_item(meeting_id, move_item, position, username)
    elif remove_item is not None:
        meetings.remove_item(meeting_id, remove_item, username)
    page = meetings.meeting(meeting_id)

    def text() -> str:
        lines = [f"{page['group_name']} ({page['group_id']}) meeting on {page['held_on']}: {page['status']}, "
                 f"papers due {page['papers_due_on']}"]
        for i in page["agenda"]:
            decided = "; ".join(d["outcome"] for d in i["decisions"])
            to_decide = i["decision_task"]
            lines.append(f"  {i['item']}. [item {i['id']}] {KIND_WORDS.get(i['kind'], i['kind'])}"
                         f"{' ' + i['reference'] if i['reference'] else ''}: {i['title']}"
                         + (f"  ({i['state']})" if i["state"] else "")
                         + (f"  decided: {decided}" if decided else "")
                         + (f"  to decide: {to_decide['name']}" if to_decide else ""))
        if not page["agenda"]:
            lines.append("  Nothing is on this agenda yet.")
        return "\n".join(lines)

    ctx.emit(page, text)


@command(meetings_group, "held", timed=True)
@click.argument("meeting_id", type=int)
@click.option("--as", "username", required=True, help="The PMO (or an admin).")
def meetings_held(ctx: Context, meeting_id: int, username: str) -> None:
    """Mark a meeting held (on its day or after): its items' decisions can then be recorded."""
    made = ctx.govflow.meetings.mark_held(meeting_id, username)
    ctx.emit(made, f"The {made['group_id']} meeting on {made['held_on']} is marked held.")


@command(meetings_group, "decide", timed=True)
@click.argument("meeting_id", type=int)
@click.argument("item_id", type=int)
@click.option("--as", "username", required=True, help="The PMO (or an admin) recording it.")
@click.option("--data", "data", required=True, help="The decision form's answers: JSON text or @file.json.")
def meetings_decide(ctx: Context, meeting_id: int, item_id: int, username: str, data: str) -> None:
    """Record the group's decision on an agenda item at its meeting: completes the item's decision task."""
    result = ctx.govflow.meetings.record_decision(meeting_id, item_id, username, _data(data))
    ctx.emit(result, f"Decision recorded on {result.reference or 'instance ' + str(result.instance_id)}: "
                     f"now {result.state}.")
