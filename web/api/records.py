"""Notifications, the change-request register (query, CSV export), the decision, action and RAID logs, and
meetings: the same services and capabilities as the web's pages (register: `manage`; logs and meetings:
`read_logs`)."""
from __future__ import annotations

import csv
import io

from apiflask import APIBlueprint
from flask import Response
from werkzeug.exceptions import NotFound as NoSuchPage

from engine.governance import register as register_rules
from engine.governance.logs import LogQuery

from . import paging
from .access import caller, gov, needs
from .schemas import Done, Items, LogArgs, MeetingArgs, NotificationArgs, Out, Page, ReadBody, RegisterArgs

notifications = APIBlueprint("notifications", __name__, url_prefix="/notifications", tag="Notifications")
register = APIBlueprint("register", __name__, url_prefix="/register", tag="Register")
logs = APIBlueprint("logs", __name__, url_prefix="/logs", tag="Logs and meetings")
LOG_NAMES = ("decisions", "actions", "raid")


@notifications.get("")
@notifications.input(NotificationArgs, location="query", arg_name="args")
@notifications.output(Page)
@needs("read")
def my_notifications(args: NotificationArgs):
    """My notifications, newest first."""
    scope = paging.belongs_to("notifications", caller().username, args)
    found, next_key = gov().notifications_after(caller().username, args.unread, paging.key_from(args.cursor, scope),
                                                args.limit)
    return paging.page(_jsonable(found), next_key, scope)


@notifications.post("/read")
@notifications.input(ReadBody, arg_name="body")
@notifications.output(Done)
@needs("work")
def mark_read(body: ReadBody):
    """Mark these of my notifications (all when `ids` is absent) read."""
    count = gov().mark_read(caller().username, body.ids)
    return {"status": "read", "detail": f"{count} marked read", "count": count}


def _register_query(args: RegisterArgs) -> register_rules.RegisterQuery:
    return register_rules.RegisterQuery(
        process_id=args.process, state=args.state, status=args.status, group=args.group,
        organisation=args.organisation, constituency=args.constituency, overdue=args.overdue, text=args.q,
        sort=args.sort, descending=args.dir == "desc", page_size=args.limit)


@register.get("")
@register.input(RegisterArgs, location="query", arg_name="args")
@register.output(Page)
@needs("read", "manage")
def query_register(args: RegisterArgs):
    """The change-request register, filtered and sorted."""
    scope = paging.belongs_to("register", caller().username, args)
    rows, total, next_key = gov().register.page_after(_register_query(args), paging.key_from(args.cursor, scope),
                                                      args.limit)
    return paging.page(_jsonable(rows), next_key, scope, total)


@register.get("/export")
@register.input(RegisterArgs, location="query", arg_name="args")
@register.doc(responses={200: {"description": "The register as CSV",
                               "content": {"text/csv": {"schema": {"type": "string"}}}}})
@needs("read", "manage")
def export_register(args: RegisterArgs):
    """Every matching row as CSV (an export is a disclosure: audited)."""
    q = _register_query(args)
    filters = {k: v for k, v in args.model_dump().items() if v not in (None, "", False) and k not in ("cursor",)}
    found = gov().register.export(q, caller().username, "csv", filters)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([h for _k, h in register_rules.COLUMNS])
    for row in found:
        writer.writerow([register_rules.csv_cell(row[k]) for k, _h in register_rules.COLUMNS])
    return Response(buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="cr-register.csv"'})


@logs.get("/<name>")
@logs.input(LogArgs, location="query", arg_name="args")
@logs.output(Items)
@needs("read", "read_logs")
def log_rows(name: str, args: LogArgs):
    """The decision (`decisions`), action (`actions`) or RAID (`raid`) log."""
    if name not in LOG_NAMES:
        raise NoSuchPage(f"There is no log '{name}' (logs: {', '.join(LOG_NAMES)})")
    rows = gov().logs.rows(name, LogQuery(text=args.q, group=args.group, kind=args.kind, status=args.status))
    return {"items": _jsonable(rows)}


@logs.get("/meetings")
@logs.input(MeetingArgs, location="query", arg_name="args")
@logs.output(Items)
@needs("read", "read_logs")
def meetings(args: MeetingArgs):
    """Meetings with their agendas, by group and dates."""
    return {"items": _jsonable(gov().meetings.meetings(args.group, args.start, args.end))}


@logs.get("/meetings/<int:meeting_id>")
@logs.output(Out)
@needs("read", "read_logs")
def meeting(meeting_id: int):
    return _jsonable(gov().meetings.meeting(meeting_id))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value

