"""The change-request register: every instance with its number, raiser, state, decision body and decision —
filtered, sorted and paged in SQL, and streamed as rows for CSV and spreadsheet exports."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Iterator

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from engine.store import keyset
from engine.store.models import HumanTask, Instance, Organisation, User

SORTS = {
    "reference": Instance.reference,
    "title": Instance.title,
    "state": Instance.state,
    "status": Instance.status,
    "started": Instance.started_at,
    "updated": Instance.updated_at,
    "ended": Instance.ended_at,
    "process": Instance.process_id,
}
MAX_PAGE_SIZE = 200
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting so as a formula

COLUMNS = [  # (key, heading) of the register, in export order
    ("reference", "Number"), ("title", "Title"), ("process_id", "Process"), ("raiser", "Raised by"),
    ("organisation", "Organisation"), ("constituency", "Constituency"), ("state", "State"), ("status", "Status"),
    ("decision_body", "Decision body"), ("decision", "Decision"), ("started_at", "Raised"),
    ("decided_at", "Decided"), ("ended_at", "Closed"), ("overdue_tasks", "Overdue tasks"), ("id", "Instance"),
]


def csv_cell(value: Any) -> str:
    """A register cell as CSV text a spreadsheet will not run as a formula (such text gets a leading apostrophe)."""
    text = "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    return "'" + text if text[:1] in FORMULA_STARTS else text


@dataclass(frozen=True)
class RegisterQuery:
    """Filters, sort and page of the register; every field may come straight from a query string."""

    process_id: str | None = None
    state: str | None = None
    status: str | None = None
    group: str | None = None          # decision body (facts.decision_body)
    organisation: str | None = None   # the raiser's organisation name
    constituency: str | None = None   # the raiser's organisation's constituency
    started_from: datetime | None = None
    started_to: datetime | None = None   # exclusive
    ended_from: datetime | None = None
    ended_to: datetime | None = None     # exclusive
    overdue: bool = False
    text: str | None = None
    sort: str = "started"
    descending: bool = True
    page: int = 1
    page_size: int = 50

    def with_page(self, page: int) -> "RegisterQuery":
        return replace(self, page=page)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def _facts(key: str):
    return Instance.facts[key].as_string()


def _overdue_condition(now: datetime):
    return exists().where(HumanTask.instance_id == Instance.id, HumanTask.status == "ready",
                          HumanTask.due_at.is_not(None), HumanTask.due_at < now)


def _conditions(q: RegisterQuery, now: datetime) -> list:
    found = []
    if q.process_id:
        found.append(Instance.process_id == q.process_id)
    if q.state:
        found.append(Instance.state == q.state)
    if q.status:
        found.append(Instance.status == q.status)
    if q.group:
        found.append(_facts("decision_body") == q.group)
    if q.organisation:
        found.append(Organisation.name == q.organisation)
    if q.constituency:
        found.append(Organisation.constituency == q.constituency)
    for column, low, high in ((Instance.started_at, q.started_from, q.started_to),
                              (Instance.ended_at, q.ended_from, q.ended_to)):
        if low is not None:
            found.append(column >= low)
        if high is not None:
            found.append(column < high)
    if q.overdue:
        found.append(_overdue_condition(now))
    if q.text and q.text.strip():
        needle = "%" + q.text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        found.append(or_(func.lower(Instance.title).like(needle, escape="\\"),
                         func.lower(Instance.reference).like(needle, escape="\\")))
    return found


def _base(columns, q: RegisterQuery, now: datetime):
    return (select(*columns).select_from(Instance)
            .outerjoin(User, User.username == Instance.started_by)
            .outerjoin(Organisation, Organisation.id == User.organisation_id)
            .where(*_conditions(q, now)))


def _row_columns(now: datetime) -> list:
    overdue_count = (select(func.count()).select_from(HumanTask)
                     .where(HumanTask.instance_id == Instance.id, HumanTask.status == "ready",
                            HumanTask.due_at.is_not(None), HumanTask.due_at < now)
                     .correlate(Instance).scalar_subquery())
    return [Instance.id, Instance.reference, Instance.title, Instance.process_id, Instance.started_by,
            User.display_name, Organisation.name, Organisation.constituency, Instance.state, Instance.status,
            _facts("decision_body"), _facts("outcome_label"), _facts("final_outcome"), _facts("final_decided_at"),
            Instance.started_at, Instance.ended_at, overdue_count]


def _as_row(r) -> dict[str, Any]:
    (id_, reference, title, process_id, started_by, display_name, organisation, constituency, state, status,
     body, label, outcome, decided_at, started_at, ended_at, overdue) = r
    return {"id": id_, "reference": reference or "", "title": title or "", "process_id": process_id,
            "raiser": display_name or started_by, "raiser_username": started_by,
            "organisation": organisation or "", "constituency": constituency or "", "state": state or "",
            "status": status, "decision_body": body or "", "decision": label or outcome or "",
            "decided_at": decided_at or "", "started_at": started_at, "ended_at": ended_at,
            "overdue_tasks": overdue or 0}


def sort_keys(q: RegisterQuery) -> list[keyset.SortKey]:
    """The register's order: the chosen column (blanks last, on either database) then the id, one way."""
    column = SORTS.get(q.sort, Instance.started_at)
    return [keyset.SortKey(column, q.descending, blanks_last=column.nullable),
            keyset.SortKey(Instance.id, q.descending)]


def _ordered(query, q: RegisterQuery):
    return query.order_by(*keyset.order_by(sort_keys(q)))


def count(session: Session, q: RegisterQuery, now: datetime) -> int:
    return session.scalar(_base([func.count()], q, now)) or 0


def page(session: Session, q: RegisterQuery, now: datetime) -> tuple[list[dict], int]:
    """(rows of the asked page, total matching)."""
    size = max(1, min(q.page_size, MAX_PAGE_SIZE))
    total = count(session, q, now)
    query = _ordered(_base(_row_columns(now), q, now), q).limit(size).offset((max(q.page, 1) - 1) * size)
    return [_as_row(r) for r in session.execute(query)], total


def page_after(session: Session, q: RegisterQuery, now: datetime, key: list | None,
               limit: int) -> tuple[list[dict], int, list | None]:
    """(up to `limit` rows after the row whose sort key is `key`, total matching, the last row's key when more
    follow): the page's filters and sort, sought by key instead of counted from the first."""
    total = count(session, q, now)
    found, next_key = keyset.rows_after(session, _base(_row_columns(now), q, now), sort_keys(q), key,
                                        max(1, min(limit, MAX_PAGE_SIZE)))
    return [_as_row(r) for r in found], total, next_key


def rows(session: Session, q: RegisterQuery, now: datetime, batch: int = 1000) -> Iterator[dict]:
    """Every matching row, in the query's order, fetched in batches (for exports)."""
    query = _ordered(_base(_row_columns(now), q, now), q).execution_options(yield_per=batch)
    for r in session.execute(query):
        yield _as_row(r)


def choices(session: Session) -> dict[str, list[str]]:
    """The values the filters offer: processes, states, decision bodies, organisations, constituencies."""
    body = _facts("decision_body")
    return {
        "process_id": list(session.scalars(select(Instance.process_id).distinct().order_by(Instance.process_id))),
        "state": [s for s in session.scalars(select(Instance.state).distinct().order_by(Instance.state)) if s],
        "group": [g for g in session.scalars(select(body).distinct().order_by(body)) if g],
        "organisation": list(session.scalars(select(Organisation.name).order_by(Organisation.name))),
        "constituency": [c for c in session.scalars(select(Organisation.constituency).distinct()
                                                    .order_by(Organisation.constituency)) if c],
    }


# --- saved views --------------------------------------------------------------------------------------------------

MAX_VIEW_NAME = 120
VIEW_KEYS = ("process", "state", "status", "group", "organisation", "constituency", "started_from", "started_to",
             "ended_from", "ended_to", "overdue", "q", "sort", "dir", "size")


def views_for(session: Session, username: str) -> list[dict]:
    """My saved register views and those other managers shared, by name."""
    from engine.store.models import ManagerView
    rows = session.scalars(select(ManagerView).where(or_(ManagerView.owner == username, ManagerView.shared))
                           .order_by(ManagerView.name, ManagerView.id)).all()
    return [{"id": v.id, "owner": v.owner, "name": v.name, "query": dict(v.query or {}), "shared": v.shared,
             "mine": v.owner == username} for v in rows]


def save_view(session: Session, username: str, name: str, query: dict, shared: bool, now: datetime) -> int:
    """Save (or replace, under the same name) a register view; only the known filter keys are kept."""
    from engine.store import audit
    from engine.errors import FormInvalid
    from engine.store.models import ManagerView
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_VIEW_NAME:
        raise FormInvalid({"name": f"Enter a name of 1 to {MAX_VIEW_NAME} characters for this view"})
    clean = {k: str(v)[:200] for k, v in query.items() if k in VIEW_KEYS and v not in (None, "")}
    found = session.scalar(select(ManagerView).where(ManagerView.owner == username, ManagerView.name == name))
    if found is None:
        found = ManagerView(owner=username, name=name, query=clean, shared=shared, created_at=now)
        session.add(found)
    else:
        found.query, found.shared = clean, shared
    session.flush()
    audit.record(session, now, username, "manager_view.saved", view_id=found.id, name=name, query=clean,
                 shared=shared)
    return found.id


def delete_view(session: Session, username: str, view_id: int, now: datetime) -> None:
    from engine.store import audit
    from engine.errors import Forbidden, NotFound
    from engine.store.models import ManagerView
    found = session.get(ManagerView, view_id)
    if found is None:
        raise NotFound(f"There is no saved view {view_id}")
    if found.owner != username:
        raise Forbidden(f"Only {found.owner}, who saved it, can delete this view")
    audit.record(session, now, username, "manager_view.deleted", view_id=view_id, name=found.name)
    session.delete(found)


class Register:
    """The CR register over one database and clock: pages, exports (each audited: an export is a disclosure), the
    values the filters offer, and managers' saved views. One transaction or read each."""

    def __init__(self, db, clock):
        self.db = db
        self.clock = clock

    def page(self, q: RegisterQuery) -> tuple[list[dict], int]:
        """One page of rows and how many match in all, as of now."""
        with self.db.read() as session:
            return page(session, q, self.clock.now())

    def page_after(self, q: RegisterQuery, key: list | None, limit: int) -> tuple[list[dict], int, list | None]:
        """Up to `limit` rows after the row whose sort key is `key`, how many match in all, and the last row's key
        when more follow."""
        with self.db.read() as session:
            return page_after(session, q, self.clock.now(), key, limit)

    def export(self, q: RegisterQuery, username: str, kind: str, filters: dict) -> Iterator[dict]:
        """Record the export (`register.exported`, its format and filters) now, then every matching row, read in
        batches as the caller consumes them."""
        from engine.store import audit
        now = self.clock.now()
        with self.db.write() as session:
            audit.record(session, now, username, "register.exported", format=kind, filters=filters)
        return self._rows(q, now)

    def _rows(self, q: RegisterQuery, now: datetime) -> Iterator[dict]:
        with self.db.read() as session:
            yield from rows(session, q, now)

    def choices(self) -> dict[str, list[str]]:
        with self.db.read() as session:
            return choices(session)

    def views_for(self, username: str) -> list[dict]:
        with self.db.read() as session:
            return views_for(session, username)

    def save_view(self, username: str, name: str, query: dict, shared: bool) -> int:
        with self.db.write() as session:
            return save_view(session, username, name, query, shared, self.clock.now())

    def delete_view(self, username: str, view_id: int) -> None:
        with self.db.write() as session:
            delete_view(session, username, view_id, self.clock.now())
