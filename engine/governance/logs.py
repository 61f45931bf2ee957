"""The PMO's logs (docs/governance-rules.md, "Meeting cycle"): decision log, action log and RAID log.

The decision log is a query over the instances' facts, never a copy: change requests (each decision round, with the
Ofgem threshold result), escalations (every level that decided), appeals (the IPA's decision) and the decisions
recorded at meetings (time-stamped to the recording). A meeting decision on a change request or an escalation enriches
that row (meeting, recording time) instead of repeating it. Each row names the meeting (`meeting_id`, and the agenda
item `agenda_item_id`) it was taken at, when the item was placed on an agenda; a change request reopened after an
appeal names the instance it was reopened from, and the earlier one names the reopening.
The action log reads the conditions of conditional approvals from change requests (`conditions` /
`closed_conditions`) and adds the manual actions and the actions agreed at meetings (table `log_action`).
The RAID log is the table `raid_item`. The PMO and admins edit actions and RAID items; every change is audited.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from engine.delivery import wording
from engine.store import audit
from engine.errors import Forbidden, FormInvalid, NotFound
from engine.governance.policy import KEEP_LOGS, policy_of
from engine.store.models import AgendaItem, GovernanceGroup, Instance, LogAction, Meeting, RaidItem, User

LONDON = ZoneInfo("Europe/London")
DECISION_PROCESSES = ("change_control", "escalation", "appeal", "meeting")
OUTCOME_LABELS = {"accept": "Accept", "accept_with_conditions": "Accept subject to additional work",
                  "reject": "Reject", "refer": "Refer for additional work", "further_analysis": "More analysis",
                  "escalate_to_ofgem": "Escalate to Ofgem via the IPA", "refer_to_psg": "Refer to PSG",
                  "noted": "Noted", "upheld": "Upheld", "dismissed": "Dismissed"}
SOURCE_LABELS = {"change_control": "Change request", "escalation": "Escalation", "appeal": "Appeal",
                 "meeting": "Meeting"}

DECISION_COLUMNS = [("source", "Source"), ("reference", "Reference"), ("title", "Title"),
                    ("decided_by", "Decided by"), ("outcome", "Outcome"), ("views", "Views"),
                    ("threshold", "Ofgem threshold"), ("decided_on", "Decided"), ("meeting", "Meeting"),
                    ("recording", "Recording"), ("recording_time", "Recording time"), ("instance_id", "Instance"),
                    ("history", "Reopened")]
ACTION_COLUMNS = [("reference", "Action"), ("title", "What"), ("group_id", "Group"), ("owner", "Owner"),
                  ("due_on", "Due"), ("status", "Status"), ("overdue", "Overdue"), ("source", "Source"),
                  ("reminders_sent", "Reminders")]
RAID_COLUMNS = [("reference", "Reference"), ("type", "Type"), ("title", "Title"), ("group_id", "Group"),
                ("owner", "Owner"), ("rag", "RAG"), ("mitigation", "Mitigation"), ("status", "Status"),
                ("escalation", "Escalation"), ("updated_at", "Updated")]
RAID_TYPES = ("risk", "assumption", "issue", "dependency")
RAGS = ("red", "amber", "green")
RAID_STATUSES = ("open", "closed")
ACTION_STATUSES = ("open", "done", "cancelled")


@dataclass(frozen=True)
class LogQuery:
    text: str | None = None
    group: str | None = None
    kind: str | None = None      # decision: source process; raid: type
    status: str | None = None    # actions and RAID; "overdue" for actions

    def matches(self, row: dict, fields: Iterable[str]) -> bool:
        if self.group and (row.get("group_id") or row.get("decided_by")) != self.group:
            return False
        if self.text and self.text.strip():
            needle = self.text.strip().lower()
            if not any(needle in str(row.get(f) or "").lower() for f in fields):
                return False
        return True


def _label(outcome: Any) -> str:
    return OUTCOME_LABELS.get(str(outcome), str(outcome or ""))


def _day(value: Any) -> str:
    return str(value or "")[:10]


# ---- decision log -------------------------------------------------------------------------------------------------

def _instances(session: Session, processes: Iterable[str]) -> list[Instance]:
    return list(session.scalars(select(Instance).where(Instance.process_id.in_(list(processes)),
                                                       Instance.status.in_(("running", "completed")))
                                .order_by(Instance.id)))


def decisions(session: Session, q: LogQuery = LogQuery()) -> list[dict]:
    """Every decision, newest first."""
    found: list[dict] = []
    meeting_decisions: dict[tuple[str, str], dict] = {}
    instances = _instances(session, DECISION_PROCESSES)
    for inst in instances:
        if inst.process_id != "meeting":
            continue
        f = inst.facts or {}
        for entry in f.get("decisions") or []:
            meeting_decisions[(str(entry.get("agenda_item")), str(f.get("group_id")))] = {
                **entry, "instance_id": inst.id, "meeting_id": entry.get("meeting_id") or f.get("meeting_id"),
                "used": False}
    reopened: dict[int, tuple[int, str]] = {}
    for inst in instances:
        f = inst.facts or {}
        if inst.process_id == "change_control" and f.get("reopened_from"):
            reopened[int(f["reopened_from"])] = (inst.id, str(f.get("reopened_by_appeal") or ""))

    def base(inst: Instance, **row) -> dict:
        return {"source": SOURCE_LABELS[inst.process_id], "process_id": inst.process_id,
                "reference": inst.reference or "", "title": inst.title or "", "views": "", "threshold": "",
                "meeting": "", "meeting_id": None, "agenda_item_id": None, "recording": "", "recording_time": "",
                "instance_id": inst.id, "history": _history(inst, reopened), **row}

    def enrich(row: dict) -> dict:
        met = meeting_decisions.get((row["reference"], row["decided_by"]))
        if met is not None:
            met["used"] = True
            row["meeting"] = row["meeting"] or f"{met.get('group_id')} {met.get('meeting_date')}"
            row["meeting_id"] = row["meeting_id"] or met.get("meeting_id")
            row["agenda_item_id"] = row["agenda_item_id"] or met.get("agenda_item_id")
            row["recording"] = row["recording"] or met.get("recording_reference", "")
            row["recording_time"] = met.get("recording_time", "")
            row["views"] = row["views"] or met.get("views", "")
        return row

    for inst in instances:
        f = inst.facts or {}
        if inst.process_id == "change_control":
            history = f.get("decision_history") or ([{"decided_by": f.get("decided_by"), "outcome": f.get("final_outcome"),
                                                      "decided_at": f.get("final_decided_at"),
                                                      "ofgem_threshold_met": f.get("ofgem_threshold_met")}]
                                                    if f.get("final_outcome") else [])
            for entry in history:
                met = entry.get("ofgem_threshold_met")
                found.append(enrich(base(
                    inst, decided_by=str(entry.get("decided_by") or ""), outcome=_label(entry.get("outcome")),
                    decided_on=_day(entry.get("decided_at")), views=f.get("decision_views", ""),
                    threshold=("Met: " + str(f.get("threshold_reasons") or "")).rstrip(": ") if met else
                    ("Not met" if met is False else ""),
                    meeting=f"{entry.get('decision_body') or f.get('decision_body', '')} "
                            f"{entry.get('meeting_date') or f.get('decision_meeting_date', '')}".strip(),
                    meeting_id=entry.get("meeting_id"), agenda_item_id=entry.get("agenda_item_id"),
                    recording=f.get("recording_reference", ""), group_id=f.get("decision_body"))))
            if f.get("ofgem_outcome"):
                found.append(base(inst, decided_by="Ofgem", outcome=_label(f.get("ofgem_outcome")),
                                  decided_on=_day(f.get("ofgem_decided_at")), threshold="Met"))
        elif inst.process_id == "escalation":
            for level in f.get("levels") or []:
                if not level.get("decided_on"):
                    continue
                found.append(enrich(base(
                    inst, decided_by=str(level.get("level") or ""), outcome=str(level.get("outcome") or ""),
                    decided_on=_day(level.get("decided_on")), views=str(level.get("result") or ""),
                    threshold="Met" if f.get("ofgem_threshold_met") else "Not met",
                    meeting=f"{level.get('level')} {level.get('meeting_date')}" if level.get("meeting_date") else "",
                    meeting_id=level.get("meeting_id"), agenda_item_id=level.get("agenda_item_id"),
                    recording=str(level.get("recording_reference") or ""), group_id=level.get("level"))))
        elif inst.process_id == "appeal" and f.get("appeal_outcome"):
            found.append(base(inst, decided_by="IPA", outcome=_label(f.get("appeal_outcome")),
                              decided_on=_day(f.get("appeal_decided_on")), views=f.get("decision_reasons", "")))
    for (reference, group), met in meeting_decisions.items():
        if met["used"]:
            continue
        found.append({"source": "Meeting", "process_id": "meeting", "reference": reference,
                      "title": met.get("decision", ""), "decided_by": group, "group_id": group,
                      "outcome": _label(met.get("outcome")), "views": met.get("views", ""), "threshold": "",
                      "decided_on": _day(met.get("meeting_date")),
                      "meeting": f"{group} {met.get('meeting_date')}", "meeting_id": met.get("meeting_id"),
                      "agenda_item_id": met.get("agenda_item_id"), "recording": met.get("recording_reference", ""),
                      "recording_time": met.get("recording_time", ""), "instance_id": met["instance_id"],
                      "history": ""})
    fields = ("reference", "title", "decided_by", "outcome", "views", "meeting", "source")
    rows = [r for r in found if q.matches(r, fields) and (not q.kind or r["process_id"] == q.kind)]
    return sorted(rows, key=lambda r: (r["decided_on"], r["reference"]), reverse=True)


def _history(inst: Instance, reopened: dict[int, tuple[int, str]]) -> str:
    """A change request's place in a reopening after an appeal: "Reopened from instance 3 after APP001" /
    "Reopened after APP001 as instance 7"."""
    f = inst.facts or {}
    if not (f.get("reopened_from") or inst.id in reopened):
        return ""
    later, appeal = reopened.get(inst.id, (None, None))
    return wording.render("reopened_request", reopened_from=f.get("reopened_from"),
                          from_appeal=f.get("reopened_by_appeal"), reopened_as=later, later_appeal=appeal).body


# ---- action log ---------------------------------------------------------------------------------------------------

def _action_dict(a: LogAction, today: date) -> dict:
    return {"id": a.id, "reference": f"ACT{a.id:03d}", "title": a.title, "group_id": a.group_id or "",
            "owner": a.owner, "due_on": a.due_on.isoformat() if a.due_on else "", "status": a.status,
            "overdue": bool(a.status == "open" and a.due_on and a.due_on < today), "source": a.source or "manual",
            "reminders_sent": a.reminders_sent, "notes": a.notes, "editable": True}


def actions(session: Session, today: date, q: LogQuery = LogQuery()) -> list[dict]:
    """Manual and meeting actions, and every condition of a conditional approval, soonest due first."""
    found = [_action_dict(a, today) for a in session.scalars(select(LogAction).order_by(LogAction.id))]
    for inst in _instances(session, ("change_control",)):
        f = inst.facts or {}
        closed = {(c.get("description"), c.get("due_date")): c for c in f.get("closed_conditions") or []}
        for n, cond in enumerate(f.get("conditions") or [], 1):
            if cond.get("action_reference"):
                continue  # logged as an action of its own (a log_action row) when the decision was communicated
            done = closed.get((cond.get("description"), cond.get("due_date")))
            status = "done" if done else ("cancelled" if inst.status != "running" and not done else "open")
            due = str(cond.get("due_date") or "")
            found.append({"id": None, "reference": f"{inst.reference}/C{n}", "title": cond.get("description", ""),
                          "group_id": f.get("decision_body") or "", "owner": cond.get("owner", ""), "due_on": due,
                          "status": status, "overdue": bool(status == "open" and due and due < today.isoformat()),
                          "source": f"Condition of {inst.reference}", "reminders_sent": 0, "notes": "",
                          "editable": False, "instance_id": inst.id})
    fields = ("reference", "title", "owner", "source", "notes", "group_id")
    rows = [r for r in found if q.matches(r, fields)]
    if q.status == "overdue":
        rows = [r for r in rows if r["overdue"]]
    elif q.status:
        rows = [r for r in rows if r["status"] == q.status]
    return sorted(rows, key=lambda r: (r["status"] != "open", r["due_on"] or "9999", r["reference"]))


def _require_editor(session: Session, by: str, what: str) -> None:
    if by == "system":
        return
    user = session.scalars(select(User).where(User.username == by)).first()
    rules = policy_of(session)
    if not rules.allows(user, KEEP_LOGS):
        raise Forbidden(f"Only {rules.names_with(KEEP_LOGS)} can edit the {what}")


def _clean(values: dict, allowed: dict[str, tuple | None], required: Iterable[str],
           messages: dict[str, str] | None = None) -> dict:
    out, problems = {}, {}
    for key, choices in allowed.items():
        if key not in values:
            continue
        value = values[key]
        value = value.strip() if isinstance(value, str) else value
        if choices is not None and value not in choices:
            problems[key] = f"Choose one of {', '.join(choices)}"
        out[key] = value
    for key in required:
        if not out.get(key):
            problems[key] = (messages or {}).get(key, "Enter a value")
    if "due_on" in out:
        try:
            out["due_on"] = date.fromisoformat(out["due_on"]) if out["due_on"] else None
        except (TypeError, ValueError):
            problems["due_on"] = "Enter the date as year-month-day, for example 2027-01-31"
    if problems:
        raise FormInvalid(problems)
    return out


ACTION_REQUIRED = {"title": "Enter what is to be done", "owner": "Enter the owner's username",
                     "due_on": "Enter the due date"}
ACTION_FIELDS = {"title": None, "owner": None, "due_on": None, "status": ACTION_STATUSES, "notes": None,
                 "group_id": None}
RAID_FIELDS = {"type": RAID_TYPES, "title": None, "description": None, "owner": None, "rag": RAGS,
               "mitigation": None, "status": RAID_STATUSES, "escalation": None, "group_id": None}


def _check_action(session: Session, today: date, clean: dict, row: LogAction | None) -> None:
    """An action names a group that exists, an owner who is someone in govflow (their username), and a due date
    that has not passed (when it is set or changed); every problem at once, per field."""
    problems = {}
    group_id = clean.get("group_id")
    if group_id:
        group = session.get(GovernanceGroup, group_id)
        if group is None or group.status != "active":
            problems["group_id"] = f"There is no governance group ‘{group_id}’: enter its id, for example PSG"
    owner = clean.get("owner")
    if owner and not session.scalars(select(User.id).where(User.username == owner, User.active.is_(True))).first():
        problems["owner"] = f"There is nobody called ‘{owner}’ in govflow: enter the owner's username"
    due_on = clean.get("due_on")
    if due_on and due_on < today and (row is None or due_on != row.due_on):
        problems["due_on"] = f"The due date must be today ({today.isoformat()}) or later"
    if problems:
        raise FormInvalid(problems)


def save_action(session: Session, now: datetime, by: str, values: dict, action_id: int | None = None,
                source: str = "manual") -> dict:
    _require_editor(session, by, "action log")
    clean = _clean(values, ACTION_FIELDS, ACTION_REQUIRED if action_id is None else (), ACTION_REQUIRED)
    if "group_id" in clean:
        clean["group_id"] = clean["group_id"] or None
    row = session.get(LogAction, action_id) if action_id is not None else None
    _check_action(session, now.astimezone(LONDON).date(), clean, row)
    if action_id is None:
        row = LogAction(title="", owner="", status="open", notes="", source=source, reminders_sent=0,
                        created_by=by, created_at=now, updated_at=now)
        session.add(row)
    else:
        row = session.get(LogAction, action_id)
        if row is None:
            raise NotFound(f"There is no action {action_id}")
    _apply_audited(session, row, clean, ACTION_FIELDS, by, now, "action_log.saved", "action_id", action_id is None)
    return _action_dict(row, now.date())


def remind_overdue_actions(session: Session, now: datetime, today: date, settings: dict) -> list[dict]:
    """Remind the owners of overdue open actions (when the owner is a username) and put each overdue action of a
    group on the agenda of that group's next meeting it can make (once while it is on a coming agenda).

    At most once per action per day, however many schedulers run it: each action is claimed by an UPDATE that only
    matches when it was not reminded yet today (London), in this transaction. A second scheduler's UPDATE waits for
    the first one's commit (a row lock on PostgreSQL, the write lock on SQLite), then matches nothing."""
    from engine.governance.meetings import place_on_agenda
    from engine.governance.audiences import notify_audience
    day_start = datetime.combine(today, time.min, tzinfo=LONDON).astimezone(timezone.utc)
    done = []
    rows = session.execute(select(LogAction.id, LogAction.title, LogAction.owner, LogAction.group_id,
                                  LogAction.due_on)
                           .where(LogAction.status == "open", LogAction.due_on < today).order_by(LogAction.id)).all()
    for action_id, title, owner, group_id, due_on in rows:
        claimed = session.execute(
            update(LogAction).where(LogAction.id == action_id, LogAction.status == "open",
                                    or_(LogAction.last_reminded_at.is_(None), LogAction.last_reminded_at < day_start))
            .values(reminders_sent=LogAction.reminders_sent + 1, last_reminded_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if not claimed:
            continue  # reminded already today (by this scheduler or another)
        reference = f"ACT{action_id:03d}"
        if session.scalars(select(User.id).where(User.username == owner)).first():
            subject, body = wording.render("action_overdue", reference=reference, title=title,
                                           due_on=due_on.isoformat())
            notify_audience(session, now, None, owner, subject, body)
        placed = None
        if group_id:
            already = session.scalars(select(AgendaItem).join(Meeting, Meeting.id == AgendaItem.meeting_id)
                                      .where(AgendaItem.reference == reference, Meeting.held_on >= today)).first()
            if already is None:
                item = place_on_agenda(session, group_id, today, "system", now, settings, None, reference,
                                       title, kind="action")
                placed = session.get(Meeting, item.meeting_id).held_on.isoformat()
        audit.record(session, now, "system", "action_log.reminded", action_id=action_id, owner=owner,
                     placed_on_agenda=placed)
        done.append({"reference": reference, "owner": owner, "placed_on": placed})
    return done


# ---- RAID log -----------------------------------------------------------------------------------------------------

def _raid_dict(r: RaidItem) -> dict:
    return {"id": r.id, "reference": f"{r.type[:1].upper()}{r.id:03d}", "type": r.type, "title": r.title,
            "description": r.description, "group_id": r.group_id or "", "owner": r.owner, "rag": r.rag,
            "mitigation": r.mitigation, "status": r.status, "escalation": r.escalation, "updated_at": r.updated_at}


def raid(session: Session, q: LogQuery = LogQuery()) -> list[dict]:
    query = select(RaidItem).order_by(RaidItem.id.desc())
    if q.kind:
        query = query.where(RaidItem.type == q.kind)
    if q.status:
        query = query.where(RaidItem.status == q.status)
    fields = ("reference", "title", "description", "owner", "mitigation", "escalation", "group_id")
    return [row for row in (_raid_dict(r) for r in session.scalars(query)) if q.matches(row, fields)]


def raid_item(session: Session, item_id: int) -> dict:
    row = session.get(RaidItem, item_id)
    if row is None:
        raise NotFound(f"There is no RAID item {item_id}")
    return _raid_dict(row)


def save_raid(session: Session, now: datetime, by: str, values: dict, item_id: int | None = None) -> dict:
    _require_editor(session, by, "RAID log")
    clean = _clean(values, RAID_FIELDS, ("type", "title") if item_id is None else ())
    if "group_id" in clean:
        clean["group_id"] = clean["group_id"] or None
    if item_id is None:
        row = RaidItem(type=clean.get("type", "risk"), title="", description="", owner="", rag="amber",
                       mitigation="", status="open", escalation="", created_by=by, created_at=now, updated_at=now)
        session.add(row)
    else:
        row = session.get(RaidItem, item_id)
        if row is None:
            raise NotFound(f"There is no RAID item {item_id}")
    _apply_audited(session, row, clean, RAID_FIELDS, by, now, "raid.saved", "raid_id", item_id is None)
    return _raid_dict(row)


# ---- over a Govflow ------------------------------------------------------------------------------------------------

def _guarded(gov, by: str, attempted: str, fn):
    try:
        with gov.db.write() as session:
            return fn(session)
    except Forbidden as refused:
        with gov.db.write() as session:
            audit.record(session, gov.clock.now(), by, "access.denied", attempted=attempted, reason=str(refused))
        raise


def add_action(gov, by: str, **values) -> dict:
    return _guarded(gov, by, "edit action log", lambda s: save_action(s, gov.clock.now(), by, values))


def update_action(gov, action_id: int, by: str, **values) -> dict:
    return _guarded(gov, by, "edit action log", lambda s: save_action(s, gov.clock.now(), by, values, action_id))


def add_raid(gov, by: str, **values) -> dict:
    return _guarded(gov, by, "edit RAID log", lambda s: save_raid(s, gov.clock.now(), by, values))


def update_raid(gov, item_id: int, by: str, **values) -> dict:
    return _guarded(gov, by, "edit RAID log", lambda s: save_raid(s, gov.clock.now(), by, values, item_id))


def log_functions(session: Session, clock) -> dict:
    """Script functions: `log_action(group_id, title, owner, due_on, source)` puts an action in the log (a meeting's,
    a change request's condition or referral) and returns its reference; `close_action(reference, note)` marks it
    done."""

    def log_action(group_id: str, title: str, owner: str, due_on: Any, source: str = "") -> str:
        row = LogAction(group_id=group_id or None, title=str(title)[:300], owner=str(owner)[:200],
                        due_on=date.fromisoformat(str(due_on)[:10]) if due_on else None, status="open", notes="",
                        source=str(source)[:120], reminders_sent=0, created_by="system", created_at=clock.now(),
                        updated_at=clock.now())
        session.add(row)
        session.flush()
        audit.record(session, clock.now(), "system", "action_log.saved", action_id=row.id, created=True,
                     source=source)
        return f"ACT{row.id:03d}"

    def close_action(reference: str, note: str = "") -> str:
        """Mark an action of the log (ACT007) done, with a note: a change request's condition closed by its task."""
        number = str(reference).removeprefix("ACT")
        row = session.get(LogAction, int(number)) if number.isdigit() else None
        if row is None:
            raise ValueError(f"there is no action {reference} in the action log")
        before = row.status
        row.status, row.updated_at = "done", clock.now()
        row.notes = "\n".join(n for n in (row.notes, str(note)) if n)
        session.flush()
        audit.record(session, clock.now(), "system", "action_log.saved", action_id=row.id, created=False,
                     changes={"status": [before, "done"]})
        return reference

    return {"log_action": log_action, "close_action": close_action}


def _apply_audited(session, row, clean: dict, fields, by: str, now, action: str, id_key: str, created: bool) -> None:
    """Set the cleaned fields on a log row and record an audit event with what changed (before → after)."""
    before = {k: getattr(row, k) for k in fields}
    for key, value in clean.items():
        setattr(row, key, value)
    row.updated_at = now
    session.flush()
    audit.record(session, now, by, action, **{id_key: row.id}, created=created,
                 changes={k: [before[k], getattr(row, k)] for k in fields if before[k] != getattr(row, k)})
