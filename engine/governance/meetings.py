"""The meeting cycle of the governance groups (docs/governance-rules.md, "Meeting cycle"; framework 3.11).

Each group meets on its usual day (governance-groups.yaml `meeting_cadence.usual_day`, e.g. "first Wednesday");
the PMO may add extraordinary meetings. Agenda and papers are due `papers_days_before_meeting` working days before a
meeting and the headline report `headline_report_days_after` working days after it. An item (a change request
awaiting decision, an escalation) goes on the agenda of the next meeting of its group whose papers deadline it can
still make, else the one after.

The date rules are pure functions (`usual_meeting_days`, `papers_due`, `choose_meeting`); the rest reads and writes
the `meeting` and `agenda_item` tables inside a command's transaction. Diagrams call `next_meeting(group_id,
ready_on)`, `place_on_agenda(group_id, ready_on)`, `table_on_agenda(group_id, ready_on)`, `open_meeting(...)`,
`meeting_agenda(...)`, `meeting_after(...)` and `carried_amendments(...)` (registered in engine/services/diagram_functions.py).

A group with a usual day always has a next meeting: the usual day is generated into the table when an item is placed
on it. A group without one (the SITAG, MCAG, QAG and the working groups) has only the meetings the PMO plans;
`table_on_agenda` then returns None and the diagram says so (processes/README.md, "The meeting cycle").
"""
from __future__ import annotations

import calendar as _calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterable

import holidays
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.bpmn.safe_yaml import read_yaml
from engine.delivery import wording
from engine.store import audit
from engine.calendar import ENGLAND_AND_WALES, WorkingDayCalendar
from engine.errors import Forbidden, GovflowError, NotFound
from engine.governance.policy import KEEP_LOGS, policy_of
from engine.store.models import AgendaItem, GovernanceGroup, Instance, Meeting, User

WEEKDAYS = {name.lower(): n for n, name in enumerate(_calendar.day_name)}
ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1}
KINDS = ("usual", "extraordinary")
LOOKAHEAD_DAYS = 400  # how far ahead usual meetings are looked for when placing an item
DEFAULTS = {"papers_days_before_meeting": 5, "headline_report_days_after": 2,
            "amendment_request_days_before_next_meeting": 6}


class MeetingError(GovflowError):
    status = 422


# ---- pure date rules ------------------------------------------------------------------------------------------------

def parse_usual_day(text: str) -> tuple[int, int]:
    """("first Wednesday") -> (1, 2): the ordinal (-1 for "last") and the weekday (Monday = 0)."""
    found = re.fullmatch(r"\s*(\w+)\s+(\w+?)s?\s*(?:of (?:the|each) month)?\s*", (text or "").lower())
    if not found or found.group(1) not in ORDINALS or found.group(2) not in WEEKDAYS:
        raise MeetingError(f"'{text}' is not a usual meeting day: write e.g. 'first Wednesday' or 'last Tuesday'")
    return ORDINALS[found.group(1)], WEEKDAYS[found.group(2)]


def nth_weekday(year: int, month: int, ordinal: int, weekday: int) -> date:
    """The ordinal-th (1..4, or -1 for the last) weekday of a month."""
    if ordinal == -1:
        last = date(year, month, _calendar.monthrange(year, month)[1])
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (ordinal - 1))


@dataclass(frozen=True)
class UsualMeeting:
    held_on: date
    note: str = ""  # e.g. the bank holiday it falls on: the day is kept, the PMO confirms or moves it


def usual_meeting_days(usual_day: str, start: date, end: date,
                       cal: WorkingDayCalendar = ENGLAND_AND_WALES) -> list[UsualMeeting]:
    """Every usual meeting day from start to end (both included). A day that is a bank holiday is kept, with a note."""
    ordinal, weekday = parse_usual_day(usual_day)
    found = []
    year, month = start.year, start.month
    while date(year, month, 1) <= end:
        day = nth_weekday(year, month, ordinal, weekday)
        if start <= day <= end:
            note = ""
            if not cal.is_working_day(day):
                name = holidays.country_holidays("GB", subdiv="ENG", years=day.year).get(day)
                note = wording.render("bank_holiday_meeting", day=day.isoformat(), holiday=name).body
            found.append(UsualMeeting(day, note))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def papers_due(held_on: date, papers_days: int, cal: WorkingDayCalendar = ENGLAND_AND_WALES) -> date:
    """The day agenda and papers must be published by: papers_days working days before the meeting."""
    return cal.add_working_days(held_on, -int(papers_days))


def headline_due(held_on: date, headline_days: int, cal: WorkingDayCalendar = ENGLAND_AND_WALES) -> date:
    return cal.add_working_days(held_on, int(headline_days))


def choose_meeting(meeting_days: Iterable[date], ready_on: date, papers_days: int,
                   cal: WorkingDayCalendar = ENGLAND_AND_WALES) -> date | None:
    """The first meeting whose papers deadline an item ready on `ready_on` can still make (the deadline day itself
    counts), else None. A meeting whose deadline has passed is skipped: the item rolls to the one after."""
    for day in sorted(set(meeting_days)):
        if papers_due(day, papers_days, cal) >= ready_on:
            return day
    return None


# ---- the meeting table --------------------------------------------------------------------------------------------

def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.astimezone(ENGLAND_AND_WALES.tz).date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _setting(settings: dict, name: str) -> int:
    return int(settings.get(name, DEFAULTS[name]))


def _group(session: Session, group_id: str) -> GovernanceGroup:
    found = session.get(GovernanceGroup, group_id)
    if found is None:
        raise NotFound(f"There is no governance group '{group_id}'")
    return found


def meeting_days(session: Session, group_id: str, start: date, end: date) -> list[date]:
    """The group's meeting days in [start, end]: those in the table (not cancelled) and its usual days not yet in it."""
    group = _group(session, group_id)
    rows = session.scalars(select(Meeting).where(Meeting.group_id == group_id, Meeting.held_on >= start,
                                                 Meeting.held_on <= end)).all()
    days = {m.held_on for m in rows if m.status != "cancelled"}
    known = {m.held_on for m in rows}
    if group.usual_day:
        days |= {u.held_on for u in usual_meeting_days(group.usual_day, start, end) if u.held_on not in known}
    return sorted(days)


def ensure_meeting(session: Session, group_id: str, held_on: Any, kind: str, by: str, now: datetime,
                   settings: dict, note: str = "") -> Meeting:
    """The group's meeting on that day, created (and audited) if it is not in the table yet."""
    held_on = _as_date(held_on)
    if kind not in KINDS:
        raise MeetingError(f"A meeting is usual or extraordinary, not '{kind}'")
    _group(session, group_id)
    found = session.scalars(select(Meeting).where(Meeting.group_id == group_id, Meeting.held_on == held_on)).first()
    if found is not None:
        return found
    if kind == "usual" and not note:
        group = session.get(GovernanceGroup, group_id)
        if group.usual_day:
            same = [u for u in usual_meeting_days(group.usual_day, held_on, held_on)]
            note = same[0].note if same else ""
    row = Meeting(group_id=group_id, held_on=held_on, kind=kind,
                  papers_due_on=papers_due(held_on, _setting(settings, "papers_days_before_meeting")),
                  headline_due_on=headline_due(held_on, _setting(settings, "headline_report_days_after")),
                  status="planned", note=note, created_by=by, created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, now, by, "meeting.planned", meeting_id=row.id, group=group_id, held_on=held_on,
                 kind=kind, papers_due_on=row.papers_due_on, note=note)
    return row


def generate_usual_meetings(session: Session, start: date, end: date, by: str, now: datetime, settings: dict,
                            group_id: str | None = None) -> list[Meeting]:
    """Put every usual meeting from start to end in the table (all groups with a usual day, or one group)."""
    query = select(GovernanceGroup).where(GovernanceGroup.usual_day.is_not(None), GovernanceGroup.status == "active")
    if group_id:
        query = query.where(GovernanceGroup.id == group_id)
    made = []
    for group in session.scalars(query.order_by(GovernanceGroup.id)).all():
        for usual in usual_meeting_days(group.usual_day, start, end):
            exists = session.scalars(select(Meeting.id).where(Meeting.group_id == group.id,
                                                              Meeting.held_on == usual.held_on)).first()
            if exists is None:
                made.append(ensure_meeting(session, group.id, usual.held_on, "usual", by, now, settings, usual.note))
    return made


def _require_scheduler(session: Session, by: str) -> None:
    if by == "system":
        return
    user = session.scalars(select(User).where(User.username == by)).first()
    rules = policy_of(session)
    if not rules.allows(user, KEEP_LOGS):
        raise Forbidden(f"Only {rules.names_with(KEEP_LOGS)} can add meetings")


def add_extraordinary(session: Session, group_id: str, held_on: Any, by: str, now: datetime, settings: dict,
                      note: str = "") -> Meeting:
    """The PMO adds an extraordinary meeting of a group."""
    _require_scheduler(session, by)
    held_on = _as_date(held_on)
    if session.scalars(select(Meeting.id).where(Meeting.group_id == group_id, Meeting.held_on == held_on)).first():
        raise MeetingError(f"{group_id} already meets on {held_on.isoformat()}")
    return ensure_meeting(session, group_id, held_on, "extraordinary", by, now, settings, note)


def find_meeting_day(session: Session, group_id: str, ready_on: Any, settings: dict) -> date | None:
    """The day of the meeting an item ready on `ready_on` can make (its papers deadline not yet passed), or None."""
    ready = _as_date(ready_on)
    days = meeting_days(session, group_id, ready, ready + timedelta(days=LOOKAHEAD_DAYS))
    return choose_meeting(days, ready, _setting(settings, "papers_days_before_meeting"))


def next_meeting_day(session: Session, group_id: str, ready_on: Any, settings: dict) -> date:
    """The day of the meeting an item ready on `ready_on` can make (its papers deadline not yet passed)."""
    ready = _as_date(ready_on)
    found = find_meeting_day(session, group_id, ready, settings)
    if found is None:
        raise MeetingError(f"{group_id} has no meeting planned whose papers an item ready on {ready.isoformat()} "
                           "can make: the PMO should add one")
    return found


def meeting_after(session: Session, group_id: str, held_on: Any) -> date | None:
    """The group's next meeting day after this one (table or usual day), or None."""
    day = _as_date(held_on) + timedelta(days=1)
    days = meeting_days(session, group_id, day, day + timedelta(days=LOOKAHEAD_DAYS))
    return days[0] if days else None


def place_on_agenda(session: Session, group_id: str, ready_on: Any, by: str, now: datetime, settings: dict,
                    instance_id: int | None = None, reference: str = "", title: str = "",
                    kind: str = "change_request") -> AgendaItem:
    """Put an item on the agenda of the next meeting whose papers deadline it can make, else the one after."""
    ready = _as_date(ready_on)
    day = next_meeting_day(session, group_id, ready, settings)
    meeting = ensure_meeting(session, group_id, day, "usual", by, now, settings)
    if instance_id is not None:
        instance = session.get(Instance, instance_id)
        if instance is None:
            raise NotFound(f"There is no instance {instance_id}")
        reference = reference or instance.reference or ""
        title = title or instance.title or ""
        if instance.process_id == "escalation" and kind == "change_request":
            kind = "escalation"
        found = session.scalars(select(AgendaItem).where(AgendaItem.meeting_id == meeting.id,
                                                         AgendaItem.instance_id == instance_id)).first()
        if found is not None:
            return found
    item = AgendaItem(meeting_id=meeting.id, instance_id=instance_id, reference=str(reference)[:40],
                      title=str(title)[:300], kind=kind, ready_on=ready, placed_at=now, placed_by=by,
                      position=_next_position(session, meeting.id))
    session.add(item)
    session.flush()
    audit.record(session, now, by, "agenda.placed", instance_id=instance_id, meeting_id=meeting.id, group=group_id,
                 held_on=day, ready_on=ready, reference=reference, papers_due_on=meeting.papers_due_on)
    return item


def _agenda_rows(session: Session, meeting_id: int) -> list[AgendaItem]:
    """A meeting's items in agenda order: the order the PMO set, new items last in the order they came."""
    return list(session.scalars(select(AgendaItem).where(AgendaItem.meeting_id == meeting_id)
                                .order_by(func.coalesce(AgendaItem.position, AgendaItem.id), AgendaItem.id)))


def _next_position(session: Session, meeting_id: int) -> int:
    return int(session.scalar(select(func.max(func.coalesce(AgendaItem.position, AgendaItem.id)))
                              .where(AgendaItem.meeting_id == meeting_id)) or 0) + 1


def agenda(session: Session, meeting_id: int) -> list[dict]:
    return [{"item": n, "id": r.id, "reference": r.reference, "title": r.title, "kind": r.kind,
             "instance_id": r.instance_id, "ready_on": r.ready_on.isoformat()}
            for n, r in enumerate(_agenda_rows(session, meeting_id), 1)]


def _placement(session: Session, item: AgendaItem, rolled_from: list[str]) -> dict:
    """What a diagram keeps of a placement (ISO text, so that it can live in task data)."""
    meeting = session.get(Meeting, item.meeting_id)
    number = next(n for n, r in enumerate(_agenda_rows(session, meeting.id), 1) if r.id == item.id)
    label = f"Item {number}" + (f": {item.reference}" if item.reference else "")
    return {"meeting_id": meeting.id, "meeting_date": meeting.held_on.isoformat(), "meeting_kind": meeting.kind,
            "papers_due_on": meeting.papers_due_on.isoformat(), "agenda_item_id": item.id, "item_number": number,
            "agenda_item": label, "rolled_from": ", ".join(rolled_from)}


def table_item(session: Session, group_id: str, ready_on: Any, by: str, now: datetime, settings: dict,
               instance_id: int, kind: str = "change_request", reference: str = "", title: str = "") -> dict | None:
    """Keep or put an instance on the agenda of its group's next meeting whose papers deadline it can still make (an
    item ready on `ready_on`), else the one after. An item already on a coming meeting whose papers deadline it can
    no longer make is taken off it (audited as `agenda.rolled`) and goes on the next one. Returns the placement (see
    `_placement`), or None when the group has no such meeting: no usual day and none planned by the PMO."""
    ready = _as_date(ready_on)
    rolled_from: list[str] = []
    current = session.execute(select(AgendaItem, Meeting).join(Meeting, Meeting.id == AgendaItem.meeting_id)
                              .where(AgendaItem.instance_id == instance_id, Meeting.group_id == group_id,
                                     Meeting.held_on >= ready, Meeting.status.in_(("planned", "papers published")))
                              .order_by(Meeting.held_on)).all()
    for item, meeting in current:
        if meeting.papers_due_on >= ready:
            return _placement(session, item, rolled_from)
        rolled_from.append(meeting.held_on.isoformat())
        audit.record(session, now, by, "agenda.rolled", instance_id=instance_id, meeting_id=meeting.id,
                     group=group_id, held_on=meeting.held_on, papers_due_on=meeting.papers_due_on, ready_on=ready,
                     reference=item.reference)
        session.delete(item)
    session.flush()
    if find_meeting_day(session, group_id, ready, settings) is None:
        return None
    item = place_on_agenda(session, group_id, ready, by, now, settings, instance_id, str(reference or ""),
                           str(title or ""), kind=kind)
    return _placement(session, item, rolled_from)


def carried_amendments(session: Session, group_id: str, held_on: Any) -> list[dict]:
    """Amendment requests made after an earlier meeting's cut-off and carried to this meeting's cycle (its meeting
    instance's facts, `carried_to` this date), oldest meeting first, each marked with the meeting it came from."""
    day = _as_date(held_on).isoformat()
    rows = session.execute(select(Meeting.held_on, Instance.facts).join(Instance, Instance.id == Meeting.instance_id)
                           .where(Meeting.group_id == group_id, Meeting.held_on < _as_date(held_on))
                           .order_by(Meeting.held_on)).all()
    return [{**request, "carried": False, "carried_to": "", "carried_from": earlier.isoformat()}
            for earlier, facts in rows for request in (facts or {}).get("amendment_requests") or []
            if request.get("carried") and request.get("carried_to") == day]


def set_status(session: Session, meeting_id: int, status: str) -> None:
    row = session.get(Meeting, meeting_id)
    if row is None:
        raise NotFound(f"There is no meeting {meeting_id}")
    row.status = status


def meeting_dict(m: Meeting) -> dict:
    return {"id": m.id, "group_id": m.group_id, "held_on": m.held_on, "kind": m.kind, "status": m.status,
            "papers_due_on": m.papers_due_on, "headline_due_on": m.headline_due_on, "note": m.note,
            "instance_id": m.instance_id}


def meeting_functions(session: Session, clock, settings: dict, instance_id: int | None = None) -> dict:
    """Script functions for diagrams (the session is only touched when one is called)."""
    actor = "system"

    def open_meeting(group_id: str, held_on: Any, kind: str = "usual") -> int:
        """This meeting's row (created if needed), linked to the running meeting instance; returns its id."""
        row = ensure_meeting(session, group_id, held_on, kind, actor, clock.now(), settings)
        if instance_id is not None:
            row.instance_id = instance_id
        return row.id

    def place(group_id: str, ready_on: Any, kind: str = "change_request") -> str:
        item = place_on_agenda(session, group_id, ready_on, actor, clock.now(), settings, instance_id, kind=kind)
        return session.get(Meeting, item.meeting_id).held_on.isoformat()

    def table(group_id: str, ready_on: Any, kind: str = "", reference: str = "", title: str = "") -> dict | None:
        """This instance on the agenda of the group's next meeting it can make (see `table_item`), or None.
        `reference` and `title` name the item (the instance's own are used when left out)."""
        if instance_id is None:
            raise MeetingError("table_on_agenda() places the running instance: it has none yet")
        return table_item(session, group_id, ready_on, actor, clock.now(), settings, instance_id,
                          kind or "change_request", reference, title)

    def after(group_id: str, held_on: Any) -> str | None:
        found = meeting_after(session, group_id, held_on)
        return found.isoformat() if found else None

    return {
        "next_meeting": lambda group_id, ready_on: next_meeting_day(session, group_id, ready_on, settings).isoformat(),
        "place_on_agenda": place,
        "table_on_agenda": table,
        "open_meeting": open_meeting,
        "meeting_agenda": lambda meeting_id: agenda(session, int(meeting_id)),
        "meeting_after": after,
        "carried_amendments": lambda group_id, held_on: carried_amendments(session, group_id, held_on),
        "set_meeting_status": lambda meeting_id, status: set_status(session, int(meeting_id), str(status)),
    }


# ---- over a Govflow (what tests, the CLI and the web call) -----------------------------------------------------------

def settings_of(gov) -> dict:
    path = Path(gov.config.processes_dir) / "settings.yaml"
    return read_yaml(path) or {} if path.exists() else {}


def schedule_usual_meetings(gov, start: date, end: date, by: str = "system", group_id: str | None = None) -> list[dict]:
    with gov.db.write() as session:
        return [meeting_dict(m) for m in generate_usual_meetings(session, start, end, by, gov.clock.now(),
                                                                 settings_of(gov), group_id)]


def add_extraordinary_meeting(gov, group_id: str, held_on: Any, by: str, note: str = "") -> dict:
    try:
        with gov.db.write() as session:
            return meeting_dict(add_extraordinary(session, group_id, held_on, by, gov.clock.now(), settings_of(gov),
                                                  note))
    except Forbidden as refused:
        with gov.db.write() as session:
            audit.record(session, gov.clock.now(), by, "access.denied", attempted="add meeting",
                         reason=str(refused), group=group_id)
        raise


def place_item(gov, group_id: str, ready_on: Any, by: str, instance_id: int | None = None, reference: str = "",
               title: str = "", kind: str = "change_request") -> dict:
    with gov.db.write() as session:
        item = place_on_agenda(session, group_id, ready_on, by, gov.clock.now(), settings_of(gov), instance_id,
                               reference, title, kind)
        meeting = session.get(Meeting, item.meeting_id)
        return {"meeting_id": meeting.id, "held_on": meeting.held_on, "papers_due_on": meeting.papers_due_on,
                "reference": item.reference, "kind": item.kind}


def meetings(gov, group_id: str | None = None, start: date | None = None, end: date | None = None) -> list[dict]:
    with gov.db.read() as session:
        query = select(Meeting)
        if group_id:
            query = query.where(Meeting.group_id == group_id)
        if start:
            query = query.where(Meeting.held_on >= start)
        if end:
            query = query.where(Meeting.held_on <= end)
        rows = session.scalars(query.order_by(Meeting.held_on, Meeting.group_id)).all()
        return [{**meeting_dict(m), "agenda": agenda(session, m.id)} for m in rows]


def _decisions_on(session: Session, meeting: Meeting, item: AgendaItem) -> list[dict]:
    """What was decided on one agenda item: the deciding instance's own record (change request decision history,
    escalation levels) and the decisions the meeting recorded against the item."""
    from engine.governance.logs import OUTCOME_LABELS
    found = []
    inst = session.get(Instance, item.instance_id) if item.instance_id else None
    facts = (inst.facts or {}) if inst is not None else {}
    for entry in facts.get("decision_history") or []:
        if entry.get("meeting_id") == meeting.id:
            found.append({"decided_by": entry.get("decided_by"), "decided_on": str(entry.get("decided_at") or "")[:10],
                          "outcome": OUTCOME_LABELS.get(entry.get("outcome"), str(entry.get("outcome") or ""))})
    for level in facts.get("levels") or []:
        if level.get("meeting_id") == meeting.id:
            found.append({"decided_by": level.get("level"), "decided_on": level.get("decided_on") or "",
                          "outcome": f"{level.get('result')}: {level.get('outcome')}"})
    cycle = session.get(Instance, meeting.instance_id) if meeting.instance_id else None
    for entry in ((cycle.facts or {}).get("decisions") or []) if cycle is not None else []:
        if entry.get("agenda_item_id") == item.id or (not entry.get("agenda_item_id")
                                                       and entry.get("agenda_item") == item.reference):
            found.append({"decided_by": meeting.group_id, "decided_on": meeting.held_on.isoformat(),
                          "outcome": f"{OUTCOME_LABELS.get(entry.get('outcome'), entry.get('outcome'))}: "
                                     f"{entry.get('decision')} (recording {entry.get('recording_time')})"})
    return found


def meeting_page(gov, meeting_id: int) -> dict:
    """One meeting with its agenda: each item's instance (process, state) and what was decided on it."""
    with gov.db.read() as session:
        row = session.get(Meeting, meeting_id)
        if row is None:
            raise NotFound(f"There is no meeting {meeting_id}")
        from engine.governance.agendas import decision_task
        settings = settings_of(gov)
        items = []
        for n, item in enumerate(_agenda_rows(session, meeting_id), 1):
            inst = session.get(Instance, item.instance_id) if item.instance_id else None
            task = decision_task(session, item, settings)
            items.append({"item": n, "id": item.id, "reference": item.reference, "title": item.title,
                          "kind": item.kind, "ready_on": item.ready_on, "placed_at": item.placed_at,
                          "instance_id": item.instance_id, "state": inst.state if inst is not None else "",
                          "decisions": _decisions_on(session, row, item),
                          "decision_task": {"id": task.id, "name": task.name, "group_id": task.group_id}
                          if task is not None else None})
        group = session.get(GovernanceGroup, row.group_id)
        cycle = session.get(Instance, row.instance_id) if row.instance_id else None
        facts = (cycle.facts or {}) if cycle is not None else {}
        return {**meeting_dict(row), "group_name": group.name if group is not None else row.group_id,
                "agenda": items, "recording_link": facts.get("recording_link") or "",
                "headline_published_on": facts.get("headline_published_on") or "",
                "headline_summary": facts.get("headline_summary") or ""}


def start_meeting_cycle(gov, meeting_id: int, by: str):
    """Start the meeting process (processes/meeting.bpmn) for a planned meeting."""
    with gov.db.read() as session:
        row = session.get(Meeting, meeting_id)
        if row is None:
            raise NotFound(f"There is no meeting {meeting_id}")
        data = {"group_id": row.group_id, "meeting_date": row.held_on.isoformat(), "meeting_kind": row.kind}
    return gov.start("meeting", by, data)
