"""The secretariat's hand on a meeting ("The Secretariat will maintain and communicate up to date meeting
documentation", framework 3.9; "The PMO will provide agendas and meeting papers", 3.11): items the PMO adds (a change
request, an escalation, a paper, any other business), orders and removes; a meeting marked held; and, for an item,
the open task of its instance that is the group's decision, recorded at the meeting (settings.yaml
`meeting_decision_tasks`: process id -> the element that decides). Whoever may `keep_logs` (roles.yaml) does this;
every change is audited. Items the processes place themselves are in engine/governance/meetings.py."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import Forbidden, NotFound
from engine.governance.meetings import MeetingError, _agenda_rows, _next_position
from engine.governance.policy import KEEP_LOGS, policy_of
from engine.store import audit
from engine.store.models import AgendaItem, HumanTask, Instance, Meeting, User

#: what the PMO may put on an agenda, and the process whose instance a reference names (None: no instance)
ITEM_KINDS = {"change_request": "change_control", "escalation": "escalation", "paper": None, "aob": None}
KIND_WORDS = {"change_request": "Change request", "escalation": "Escalation", "paper": "Paper",
              "aob": "Any other business", "action": "Overdue action"}
OPEN = ("planned", "papers published")          # an agenda that can still change
HELD = ("held", "headline report issued", "closed")  # a meeting whose decisions can be recorded


def require_secretariat(session: Session, by: str, what: str) -> User:
    user = session.scalars(select(User).where(User.username == by)).first()
    rules = policy_of(session)
    if user is None or not user.active or not rules.allows(user, KEEP_LOGS):
        raise Forbidden(f"Only {rules.names_with(KEEP_LOGS)} can {what}")
    return user


def meeting_row(session: Session, meeting_id: int) -> Meeting:
    row = session.get(Meeting, meeting_id)
    if row is None:
        raise NotFound(f"There is no meeting {meeting_id}")
    return row


def _label(meeting: Meeting) -> str:
    return f"the {meeting.group_id} meeting on {meeting.held_on.isoformat()}"


def _sentence(meeting: Meeting) -> str:
    label = _label(meeting)
    return label[0].upper() + label[1:]


def _open_agenda(meeting: Meeting) -> None:
    if meeting.status not in OPEN:
        raise MeetingError(f"The agenda of {_label(meeting)} is closed: the meeting is {meeting.status}")


def _item(session: Session, meeting: Meeting, item_id: int) -> AgendaItem:
    item = session.get(AgendaItem, item_id)
    if item is None or item.meeting_id != meeting.id:
        raise NotFound(f"Item {item_id} is not on the agenda of {_label(meeting)}")
    return item


def add_item(session: Session, now: datetime, by: str, meeting_id: int, kind: str, reference: str = "",
             title: str = "") -> AgendaItem:
    """Put an item at the end of a meeting's agenda. A change request or an escalation is named by its reference
    (its instance is linked); a paper or any other business needs a title."""
    require_secretariat(session, by, "change an agenda")
    meeting = meeting_row(session, meeting_id)
    _open_agenda(meeting)
    if kind not in ITEM_KINDS:
        raise MeetingError(f"An agenda item is one of {', '.join(ITEM_KINDS)}, not '{kind}'")
    reference, title = str(reference or "").strip()[:40], str(title or "").strip()[:300]
    instance = None
    if ITEM_KINDS[kind] is not None:
        if not reference:
            raise MeetingError(f"Name the {KIND_WORDS[kind].lower()} by its reference, e.g. CR004 or ESC002")
        instance = session.scalars(select(Instance).where(Instance.process_id == ITEM_KINDS[kind],
                                                          Instance.reference == reference)
                                   .order_by(Instance.id.desc())).first()
        if instance is None:
            raise NotFound(f"There is no {KIND_WORDS[kind].lower()} {reference}")
        if session.scalars(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id,
                                                       AgendaItem.instance_id == instance.id)).first():
            raise MeetingError(f"{reference} is already on the agenda of {_label(meeting)}")
        title = title or instance.title or ""
    elif not title:
        raise MeetingError(f"Give the {KIND_WORDS[kind].lower()} a title")
    item = AgendaItem(meeting_id=meeting.id, instance_id=instance.id if instance else None, reference=reference,
                      title=title, kind=kind, ready_on=now.date(), placed_at=now, placed_by=by,
                      position=_next_position(session, meeting.id))
    session.add(item)
    session.flush()
    audit.record(session, now, by, "agenda.added", meeting_id=meeting.id, agenda_item_id=item.id, kind=kind,
                 reference=reference, title=title, instance_id=item.instance_id)
    return item


def move_item(session: Session, now: datetime, by: str, meeting_id: int, item_id: int, position: int) -> None:
    """Move an item to a place on the agenda (1 = first); the others keep their order around it."""
    require_secretariat(session, by, "change an agenda")
    meeting = meeting_row(session, meeting_id)
    _open_agenda(meeting)
    item = _item(session, meeting, item_id)
    rows = [r for r in _agenda_rows(session, meeting.id) if r.id != item.id]
    if not 1 <= int(position) <= len(rows) + 1:
        raise MeetingError(f"The agenda of {_label(meeting)} has {len(rows) + 1} items: choose a place from 1 to "
                           f"{len(rows) + 1}")
    before = [r.id for r in _agenda_rows(session, meeting.id)]
    rows.insert(int(position) - 1, item)
    for number, row in enumerate(rows, 1):
        row.position = number
    session.flush()
    audit.record(session, now, by, "agenda.ordered", meeting_id=meeting.id, agenda_item_id=item.id,
                 reference=item.reference, before=before, after=[r.id for r in rows])


def remove_item(session: Session, now: datetime, by: str, meeting_id: int, item_id: int) -> AgendaItem:
    """Take an item off the agenda (audited with what it was)."""
    require_secretariat(session, by, "change an agenda")
    meeting = meeting_row(session, meeting_id)
    _open_agenda(meeting)
    item = _item(session, meeting, item_id)
    audit.record(session, now, by, "agenda.removed", meeting_id=meeting.id, agenda_item_id=item.id, kind=item.kind,
                 reference=item.reference, title=item.title, instance_id=item.instance_id)
    session.delete(item)
    session.flush()
    return item


def mark_held(session: Session, now: datetime, today: date, by: str, meeting_id: int) -> Meeting:
    """The PMO marks a meeting held (on its day or after); its items' decisions can then be recorded."""
    require_secretariat(session, by, "mark a meeting held")
    meeting = meeting_row(session, meeting_id)
    if meeting.status in HELD:
        raise MeetingError(f"{_sentence(meeting)} is already marked {meeting.status}")
    if meeting.status == "cancelled":
        raise MeetingError(f"{_sentence(meeting)} was cancelled")
    if today < meeting.held_on:
        raise MeetingError(f"{_sentence(meeting)} cannot be marked held before its day")
    meeting.status = "held"
    audit.record(session, now, by, "meeting.held", meeting_id=meeting.id, group=meeting.group_id,
                 held_on=meeting.held_on)
    return meeting


def decision_task(session: Session, item: AgendaItem, settings: dict) -> HumanTask | None:
    """The open task of the item's instance that is its group's decision (settings `meeting_decision_tasks`)."""
    if item.instance_id is None:
        return None
    instance = session.get(Instance, item.instance_id)
    element = (settings.get("meeting_decision_tasks") or {}).get(instance.process_id) if instance else None
    if not element:
        return None
    return session.scalars(select(HumanTask).where(HumanTask.instance_id == item.instance_id,
                                                   HumanTask.element_id == element,
                                                   HumanTask.status == "ready")).first()


def decision_to_record(session: Session, today: date, by: str, meeting_id: int, item_id: int,
                       settings: dict) -> tuple[Meeting, AgendaItem, HumanTask]:
    """The meeting, the item and its open decision task, when `by` may record the group's decision on it now."""
    require_secretariat(session, by, "record a group's decisions at its meeting")
    meeting = meeting_row(session, meeting_id)
    item = _item(session, meeting, item_id)
    if meeting.status not in HELD:
        raise MeetingError(f"Mark {_label(meeting)} held first: decisions are recorded at the meeting")
    task = decision_task(session, item, settings)
    if task is None:
        raise MeetingError(f"{item.reference or item.title} has no decision open for {meeting.group_id} to record")
    if task.group_id and task.group_id.split(":")[0] != meeting.group_id:
        raise MeetingError(f"{item.reference} is for {task.group_id} to decide, not {meeting.group_id}")
    return meeting, item, task
