"""Work in progress for a laptop demo (engine/demo/demo_work.yaml): chairs and members in the seat register, each group's
usual meetings for the next months with the PMO's papers and any other business on the next agendas, and requests (change requests, escalations) each driven through the real
processes by the demo people to its stage. Only into an empty database."""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from engine.bpmn.safe_yaml import read_yaml
from engine.errors import NotFound
from engine.governance.meetings import schedule_usual_meetings
from engine.store.models import Instance
from engine.governance.seats import assign_seat

DEMO_WORK_FILE = Path(__file__).resolve().parent / "demo_work.yaml"


@dataclass(frozen=True)
class DemoWork:
    requests: int
    meetings: int


def add_demo_work(gov, path: Path = DEMO_WORK_FILE) -> DemoWork:
    """Start the demo requests and take each to its stage; plan the usual meetings. Nothing when any instance
    exists already (a demo never mixes with real work)."""
    with gov.db.read() as session:
        if session.scalar(select(func.count()).select_from(Instance)):
            return DemoWork(0, 0)
    plan = read_yaml(path) or {}
    for seat in plan.get("seats", []):
        assign_seat(gov, seat["group"], seat["seat"], by="system", holder=seat["holder"])
    today = gov.clock.now().date()
    meetings = schedule_usual_meetings(gov, today, _months_ahead(today, int(plan.get("meetings_months_ahead", 3))))
    for request in plan.get("requests", []):
        process_id = request.get("process", "change_control")
        instance_id = gov.start(process_id, request["raised_by"], request["data"]).instance_id
        for step in request.get("steps", []):
            if "send" in step:
                gov.send_message(instance_id, step["send"], step["as"], step.get("with") or {})
            else:
                _complete(gov, instance_id, step["do"], step["as"], step.get("with") or {})
    for entry in plan.get("agenda_items", []):  # the PMO's own items on each group's next meeting
        upcoming = [m for m in gov.meetings.meetings(entry["group"], today, None)
                    if m["status"] == "planned" and m["papers_due_on"] >= today]
        if upcoming:
            gov.meetings.add_item(upcoming[0]["id"], entry.get("by", "pat"), entry["kind"],
                                  entry.get("reference", ""), entry.get("title", ""))
    return DemoWork(len(plan.get("requests", [])), len(meetings))


def _complete(gov, instance_id: int, element_id: str, username: str, data: dict) -> None:
    task = next((t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == element_id), None)
    if task is None:
        raise NotFound(f"demo work: {username} has no open '{element_id}' on instance {instance_id}")
    if task.claimed_by is None:
        gov.claim(task.id, username)
    gov.complete(task.id, username, data)


def _months_ahead(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))
