"""Management figures over the database: open work, overdue tasks, deadline compliance, throughput, stage times.

Pure functions of a session (and "now" where it matters); no Flask. Every duration is in working days of England
and Wales, measured by `working_days_elapsed` (see its docstring for the exact rule).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, func, or_, select, type_coerce, union
from sqlalchemy.orm import Session

from engine.calendar import ENGLAND_AND_WALES, WorkingDayCalendar
from engine.errors import NotFound
from engine.store.models import AuditEvent, ElementPassage, HumanTask, Instance, ProcessVersion, Timer

LONDON = ZoneInfo("Europe/London")
OPEN_STATUSES = ("running", "suspended")
COMMUNICATE_ELEMENT = "communicate"  # the change-control task "Communicate the decision" (10 working days)
PASSING_ACTIONS = ("task.completed", "timer.fired", "message.received")


# --- working-day durations and percentiles ------------------------------------------------------------------------


class WorkingDayClock:
    """Working-day durations on one calendar, with a running count of working days per date kept (hot path)."""

    def __init__(self, calendar: WorkingDayCalendar = ENGLAND_AND_WALES):
        self.calendar = calendar
        self._first: date | None = None
        self._counts: list[int] = []  # working days in [first, first + i], per i

    def _count_to(self, day: date) -> int:
        """Working days from the table's first date up to and including `day` (the table grows as needed)."""
        if self._first is None or day < self._first:
            self._first, self._counts = day - timedelta(days=400), []
        index = (day - self._first).days
        while len(self._counts) <= index:
            d = self._first + timedelta(days=len(self._counts))
            self._counts.append((self._counts[-1] if self._counts else 0) + self.calendar.is_working_day(d))
        return self._counts[index]

    def elapsed(self, start: datetime, end: datetime) -> float:
        """`working_days_elapsed(start, end)` on this calendar."""
        if end < start:
            return -self.elapsed(end, start)
        a, b = start.astimezone(self.calendar.tz), end.astimezone(self.calendar.tz)
        da, db = a.date(), b.date()
        before_a = self._count_to(da - timedelta(days=1))
        upto_a = self._count_to(da)
        upto_b = self._count_to(db)
        before_b = self._count_to(db - timedelta(days=1))
        wa, wb = upto_a - before_a, upto_b - before_b
        whole = upto_b - upto_a  # working days after a's date up to and including b's date
        return whole + wa * (1 - _day_fraction(a)) - wb * (1 - _day_fraction(b))


def as_utc(value) -> datetime:
    """A moment read raw from the database (SQLite gives ISO text, PostgreSQL an aware datetime) as aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def raw(column):
    """A datetime column fetched without the per-value type processing (decoded by `as_utc`): big reads only."""
    return type_coerce(column, String).label(column.key)


def _day_fraction(local: datetime) -> float:
    """How much of its local calendar day has passed at this wall-clock time (00:00 → 0, 12:00 → 0.5)."""
    return (local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6) / 86400


def working_days_elapsed(start: datetime, end: datetime, calendar: WorkingDayCalendar = ENGLAND_AND_WALES) -> float:
    """The working time between two aware moments, in working days (England and Wales by default).

    Both moments are read as Europe/London wall-clock times. Each *working* local calendar day counts 1 in full and
    a share of it in proportion to its wall-clock time covered (00:00–24:00); weekends and bank holidays count 0.
    Equivalently: ``working_days_between(start date, end date) + w(start)·(1 − f(start)) − w(end)·(1 − f(end))``
    where ``w(d)`` is 1 on a working day else 0 and ``f`` the fraction of the day passed at that wall-clock time.
    So a task created and completed at the same time of day on two working days N working days apart took exactly
    N; Friday 12:00 → Tuesday 12:00 over a bank-holiday Monday took 1.0; Saturday → Sunday took 0.
    """
    return WorkingDayClock(calendar).elapsed(start, end)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1) with linear interpolation between closest ranks (numpy's default, "type 7"):
    position (n − 1)·q in the sorted values. The median is q = 0.5. None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- filters ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricFilters:
    """What a manager narrows the figures to. `group` is a governance group id: an instance matches when it is its
    decision body (facts.decision_body); a task matches when it is for that group or its instance matches.
    `since` (inclusive) and `until` (exclusive) bound the moment each figure is about: an instance's start (open
    counts), a start or an end (throughput), a task's completion (durations, compliance)."""

    process_id: str | None = None
    group: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def decision_body():
    return Instance.facts["decision_body"].as_string()


def _instance_conditions(f: MetricFilters) -> list:
    found = []
    if f.process_id:
        found.append(Instance.process_id == f.process_id)
    if f.group:
        found.append(decision_body() == f.group)
    return found


def _task_conditions(f: MetricFilters) -> list:
    found = []
    if f.process_id:
        found.append(HumanTask.process_id == f.process_id)
    if f.group:
        found.append(or_(HumanTask.group_id == f.group, decision_body() == f.group))
    return found


def _in_range(column, f: MetricFilters) -> list:
    found = []
    if f.since is not None:
        found.append(column >= f.since)
    if f.until is not None:
        found.append(column < f.until)
    return found


def _tasks(columns: Iterable, f: MetricFilters) -> Select:
    query = select(*columns)
    if f.group:
        query = query.select_from(HumanTask).join(Instance, Instance.id == HumanTask.instance_id)
    return query.where(*_task_conditions(f))


# --- a cache keyed on the data's version ----------------------------------------------------------------------------

_CACHE: dict[tuple, tuple[tuple, object]] = {}
_CACHE_SIZE = 128


def data_version(session: Session) -> tuple:
    """A fingerprint that changes whenever a figure over tasks or instances could change: counts, latest moments
    and the sum of the instances' revisions (every command bumps one)."""
    tasks = session.execute(select(func.count(), func.count(HumanTask.completed_at), func.max(raw(HumanTask.created_at)),
                                   func.max(raw(HumanTask.completed_at))).select_from(HumanTask)).one()
    instances = session.execute(select(func.count(), func.count(Instance.ended_at), func.sum(Instance.revision),
                                       func.max(raw(Instance.updated_at))).select_from(Instance)).one()
    return tuple(str(v) for v in (*tasks, *instances))


def cached(session: Session, name: str, key: tuple, compute):
    """`compute()` unless it was computed on this database at this data version with these arguments."""
    version = session.info.get("govflow_data_version")
    if version is None:
        version = session.info["govflow_data_version"] = data_version(session)
    full_key = (str(session.get_bind().url), name, key)
    hit = _CACHE.get(full_key)
    if hit is not None and hit[0] == version:
        return hit[1]
    value = compute()
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[full_key] = (version, value)
    return value


# --- the figures --------------------------------------------------------------------------------------------------


def open_instances(session: Session, f: MetricFilters = MetricFilters()) -> list[dict]:
    """Open (running or suspended) instances per process and state, most first."""
    rows = session.execute(
        select(Instance.process_id, Instance.state, func.count())
        .where(Instance.status.in_(OPEN_STATUSES), *_instance_conditions(f), *_in_range(Instance.started_at, f))
        .group_by(Instance.process_id, Instance.state)).all()
    return sorted(({"process_id": p, "state": s or "", "count": n} for p, s, n in rows),
                  key=lambda r: (-r["count"], r["process_id"], r["state"]))


def overdue_tasks(session: Session, now: datetime, f: MetricFilters = MetricFilters()) -> dict:
    """Open tasks past their due time now: total, per group (the task's governance group, else its lane) and per
    stage (process and BPMN element). Dates in `f` are ignored: this is the position now."""
    rows = session.execute(
        _tasks([HumanTask.group_id, HumanTask.lane, HumanTask.process_id, HumanTask.element_id, HumanTask.name,
                func.count()], f)
        .where(HumanTask.status == "ready", HumanTask.due_at.is_not(None), HumanTask.due_at < now)
        .group_by(HumanTask.group_id, HumanTask.lane, HumanTask.process_id, HumanTask.element_id,
                  HumanTask.name)).all()
    by_group: dict[str, int] = defaultdict(int)
    by_stage: dict[tuple[str, str], dict] = {}
    for group_id, lane, process_id, element_id, name, n in rows:
        by_group[group_id or lane or "(no group)"] += n
        stage = by_stage.setdefault((process_id, element_id),
                                    {"process_id": process_id, "element_id": element_id, "name": name, "count": 0})
        stage["count"] += n
    return {
        "total": sum(by_group.values()),
        "by_group": sorted(({"group": g, "count": n} for g, n in by_group.items()), key=lambda r: (-r["count"], r["group"])),
        "by_stage": sorted(by_stage.values(), key=lambda r: (-r["count"], r["process_id"], r["element_id"])),
    }


@dataclass(frozen=True)
class Share:
    on_time: int
    total: int

    @property
    def ratio(self) -> float | None:
        return self.on_time / self.total if self.total else None

    def as_dict(self) -> dict:
        return {"on_time": self.on_time, "total": self.total, "ratio": self.ratio}


def deadline_compliance(session: Session, f: MetricFilters = MetricFilters(),
                        communicate_element: str = COMMUNICATE_ELEMENT) -> dict:
    """Shares of completed tasks that had a due time and were completed by it (completed_at ≤ due_at): overall,
    per stage, and for decisions communicated (the `communicate` task: due 10 working days after the decision).
    Only tasks completed in the date range count; cancelled and still-open tasks do not."""
    rows = session.execute(
        _tasks([HumanTask.process_id, HumanTask.element_id, HumanTask.name,
                func.sum(_on_time_case()), func.count()], f)
        .where(HumanTask.status == "completed", HumanTask.due_at.is_not(None), *_in_range(HumanTask.completed_at, f))
        .group_by(HumanTask.process_id, HumanTask.element_id, HumanTask.name)).all()
    per: dict[tuple[str, str], dict] = {}
    for process_id, element_id, name, on_time, total in rows:
        entry = per.setdefault((process_id, element_id), {"process_id": process_id, "element_id": element_id,
                                                          "name": name, "on_time": 0, "total": 0})
        entry["on_time"] += int(on_time or 0)
        entry["total"] += total
    by_element = []
    for entry in sorted(per.values(), key=lambda e: (e["process_id"], e["element_id"])):
        entry["ratio"] = entry["on_time"] / entry["total"] if entry["total"] else None
        by_element.append(entry)
    communicated = [e for e in by_element if e["element_id"] == communicate_element]
    return {
        "overall": Share(sum(e["on_time"] for e in by_element), sum(e["total"] for e in by_element)).as_dict(),
        "decisions_communicated": Share(sum(e["on_time"] for e in communicated),
                                        sum(e["total"] for e in communicated)).as_dict(),
        "by_element": by_element,
    }


def _on_time_case():
    from sqlalchemy import case
    return case((HumanTask.completed_at <= HumanTask.due_at, 1), else_=0)


def month_of(moment: datetime) -> str:
    """The Europe/London calendar month of a moment, as YYYY-MM."""
    return moment.astimezone(LONDON).strftime("%Y-%m")


def throughput(session: Session, f: MetricFilters = MetricFilters()) -> list[dict]:
    """Instances started and completed per Europe/London calendar month (months with neither are left out)."""
    started = session.scalars(select(raw(Instance.started_at)).where(*_instance_conditions(f),
                                                                *_in_range(Instance.started_at, f)))
    completed = session.scalars(select(raw(Instance.ended_at)).where(Instance.status == "completed",
                                                                Instance.ended_at.is_not(None),
                                                                *_instance_conditions(f),
                                                                *_in_range(Instance.ended_at, f)))
    months: dict[str, dict] = {}
    for key, moments in (("started", started), ("completed", completed)):
        for moment in moments:
            month = month_of(as_utc(moment))
            months.setdefault(month, {"month": month, "started": 0, "completed": 0})[key] += 1
    return [months[m] for m in sorted(months)]


@dataclass
class StageTime:
    process_id: str
    element_id: str
    name: str
    count: int
    median: float | None
    p90: float | None
    durations: list[float] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {"process_id": self.process_id, "element_id": self.element_id, "name": self.name,
                "count": self.count, "median": self.median, "p90": self.p90}


def stage_durations(session: Session, f: MetricFilters = MetricFilters(), *,
                    calendar: WorkingDayCalendar = ENGLAND_AND_WALES, version_id: int | None = None) -> list[StageTime]:
    """Median and 90th percentile (`percentile`) of the time spent in each stage — a completed human task, from
    its created_at to its completed_at, in `working_days_elapsed` — per process and BPMN element."""
    query = _tasks([HumanTask.process_id, HumanTask.element_id, HumanTask.name, raw(HumanTask.created_at),
                    raw(HumanTask.completed_at)], f).where(HumanTask.status == "completed",
                                                      HumanTask.completed_at.is_not(None),
                                                      *_in_range(HumanTask.completed_at, f))
    if version_id is not None:
        query = query.where(HumanTask.instance_id.in_(select(Instance.id).where(
            Instance.process_version_id == version_id)))
    clock = WorkingDayClock(calendar)
    stages: dict[tuple[str, str], StageTime] = {}
    for process_id, element_id, name, created_at, completed_at in session.execute(query):
        stage = stages.get((process_id, element_id))
        if stage is None:
            stage = stages[(process_id, element_id)] = StageTime(process_id, element_id, name, 0, None, None)
        stage.durations.append(clock.elapsed(as_utc(created_at), as_utc(completed_at)))
    for stage in stages.values():
        stage.count = len(stage.durations)
        stage.median = percentile(stage.durations, 0.5)
        stage.p90 = percentile(stage.durations, 0.9)
    return sorted(stages.values(), key=lambda s: (s.process_id, s.element_id))


def heatmap(session: Session, version_id: int, calendar: WorkingDayCalendar = ENGLAND_AND_WALES) -> dict[str, dict]:
    """Per BPMN element of one process version — every kind: tasks, gateways, events, timers, sub-processes — how
    many instances passed it, how many are there now (open tasks and waiting timers), and the median and 90th
    percentile of the working days spent there per passage (`working_days_elapsed`, entered → left).

    Passages are the runtime's `element_passage` rows (engine/bpmn/passages.py). History recorded before those existed
    still counts an instance as passed on a completed human task or a task.completed / timer.fired /
    message.received audit event, and an element with no passage times falls back to its human tasks' times."""
    on_version = select(Instance.id).where(Instance.process_version_id == version_id)
    passes = union(
        select(ElementPassage.element_id.label("element_id"), ElementPassage.instance_id.label("instance_id"))
        .where(ElementPassage.instance_id.in_(on_version)),
        select(AuditEvent.element_id, AuditEvent.instance_id)
        .where(AuditEvent.instance_id.in_(on_version), AuditEvent.action.in_(PASSING_ACTIONS),
               AuditEvent.element_id.is_not(None)),
        select(HumanTask.element_id, HumanTask.instance_id)
        .where(HumanTask.instance_id.in_(on_version), HumanTask.status == "completed")).subquery()
    session.info.pop("govflow_data_version", None)
    passed: dict[str, int] = cached(session, "heatmap_passed", (version_id,), lambda: dict(session.execute(
        select(passes.c.element_id, func.count(passes.c.instance_id)).group_by(passes.c.element_id)).all()))
    active: dict[str, int] = defaultdict(int)
    for element_id, n in session.execute(select(HumanTask.element_id, func.count()).where(
            HumanTask.instance_id.in_(on_version), HumanTask.status == "ready").group_by(HumanTask.element_id)):
        active[element_id] += n
    for element_id, n in session.execute(select(Timer.element_id, func.count()).where(
            Timer.instance_id.in_(on_version), Timer.status == "waiting").group_by(Timer.element_id)):
        active[element_id] += n
    times = cached(session, "heatmap_times", (version_id, id(calendar)),
                   lambda: _element_times(session, version_id, calendar))
    result = {}
    for element_id in set(passed) | set(active) | set(times):
        median, p90 = times.get(element_id, (None, None))
        result[element_id] = {"passed": passed.get(element_id, 0), "active": active.get(element_id, 0),
                              "median_days": median, "p90_days": p90}
    return result


def _element_times(session: Session, version_id: int, calendar: WorkingDayCalendar) -> dict[str, tuple]:
    """element id -> (median, p90) working days per passage on this version; human-task times where an element
    has no passages (history from before passages were recorded)."""
    clock = WorkingDayClock(calendar)
    durations: dict[str, list[float]] = defaultdict(list)
    for element_id, entered_at, left_at in session.execute(
            select(ElementPassage.element_id, raw(ElementPassage.entered_at), raw(ElementPassage.left_at))
            .where(ElementPassage.instance_id.in_(select(Instance.id).where(
                Instance.process_version_id == version_id)))):
        durations[element_id].append(0.0 if entered_at == left_at else  # most steps: within one command
                                     clock.elapsed(as_utc(entered_at), as_utc(left_at)))
    times = {e: (percentile(d, 0.5), percentile(d, 0.9)) for e, d in durations.items()}
    for stage in stage_durations(session, version_id=version_id, calendar=calendar):
        times.setdefault(stage.element_id, (stage.median, stage.p90))
    return times


def dashboard(session: Session, now: datetime, f: MetricFilters = MetricFilters()) -> dict:
    """Every dashboard figure at once. The figures over history (compliance, throughput, stage times) are reused
    while the data's fingerprint (`data_version`) is unchanged, so they are never stale; overdue work is always
    counted afresh (it moves with the clock)."""
    open_rows = open_instances(session, f)
    session.info.pop("govflow_data_version", None)  # one fingerprint per dashboard, read afresh
    key = (f.process_id, f.group, f.since, f.until)
    return {
        "open_instances": open_rows,
        "open_total": sum(r["count"] for r in open_rows),
        "overdue": overdue_tasks(session, now, f),
        "compliance": cached(session, "compliance", key, lambda: deadline_compliance(session, f)),
        "throughput": cached(session, "throughput", key, lambda: throughput(session, f)),
        "stages": cached(session, "stages", key, lambda: [s.as_dict() for s in stage_durations(session, f)]),
    }


def versions(session: Session) -> list[dict]:
    """Process versions with their instance counts (for choosing a heatmap)."""
    counts = dict(session.execute(select(Instance.process_version_id, func.count())
                                  .group_by(Instance.process_version_id)).all())
    rows = session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version.desc()))
    return [{"id": v.id, "process_id": v.process_id, "name": v.name, "version": v.version,
             "created_at": v.created_at, "instances": counts.get(v.id, 0)} for v in rows]


def end_of_day_range(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """Europe/London dates picked by a person (both inclusive) as the [since, until) moments of MetricFilters."""
    start = datetime.combine(since, datetime.min.time(), tzinfo=LONDON) if since else None
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=LONDON) if until else None
    return start, end


class Metrics:
    """The management figures over one database, repository and clock; each query answers in one read."""

    def __init__(self, db, repository, clock):
        self.db = db
        self.repository = repository
        self.clock = clock

    def dashboard(self, f: MetricFilters = MetricFilters()) -> dict:
        """Every dashboard figure at once (see `dashboard`), as of now."""
        with self.db.read() as session:
            return dashboard(session, self.clock.now(), f)

    def versions(self) -> list[dict]:
        """Process versions with their instance counts (for choosing a heatmap)."""
        with self.db.read() as session:
            return versions(session)

    def heatmap(self, version_id: int) -> dict:
        """A version's heatmap: {"version": {id, process_id, name, version}, "cells": element id → figures
        (`heatmap`), "instances": how many instances are on it, "names": element id → name}."""
        with self.db.read() as session:
            version = session.get(ProcessVersion, version_id)
            if version is None:
                raise NotFound(f"There is no process version {version_id}")
            cells = heatmap(session, version_id)
            instances = session.scalar(select(func.count()).select_from(Instance)
                                       .where(Instance.process_version_id == version_id)) or 0
            names = self.repository.compiled(session, version_id).element_names()
            return {"version": {"id": version.id, "process_id": version.process_id, "name": version.name,
                                "version": version.version},
                    "cells": cells, "instances": instances, "names": names}
