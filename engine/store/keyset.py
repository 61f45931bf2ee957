"""Keyset (seek) paging: the rows after a given row's sort key, in a query's order, however deep the page and
whatever was added or removed since; a key travels as a JSON list (datetimes as ISO text)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, and_, literal, or_, tuple_
from sqlalchemy.orm import Session

from engine.errors import FormInvalid
from engine.store.models import UtcDateTime

NOT_A_KEY = "This cursor does not fit this list: use next_cursor from a previous page of it"


@dataclass(frozen=True)
class SortKey:
    """One term of an order: a column, its direction, and whether it may be blank (blank rows come after every
    value, whichever the direction, on SQLite and PostgreSQL alike)."""

    column: Any
    descending: bool = False
    blanks_last: bool = False


def order_by(keys: list[SortKey]) -> list:
    """The ORDER BY terms of these keys (the last key must be unique, such as the id)."""
    terms = []
    for key in keys:
        if key.blanks_last:
            terms.append(key.column.is_(None))
        terms.append(key.column.desc() if key.descending else key.column.asc())
    return terms


def after(keys: list[SortKey], values: list) -> Any:
    """The condition 'comes after the row whose key is `values`' in the keys' order: a row-value comparison when
    every key runs one way and none is blank, else k1 > v1 OR (k1 = v1 AND k2 > v2) … bounded by the first key."""
    columns = [k.column for k in keys]
    if None not in values and len({k.descending for k in keys}) == 1 and not any(k.blanks_last for k in keys):
        row = tuple_(*columns)
        bound = tuple_(*(literal(v, type_=c.type) for c, v in zip(columns, values)))
        return row < bound if keys[0].descending else row > bound
    beyond, equal = [], []
    for key, value in zip(keys, values):
        column = key.column
        if value is None:  # a blank: only blanks follow it within this key
            equal.append(column.is_(None))
            continue
        later = column < value if key.descending else column > value
        beyond.append(and_(*equal, or_(later, column.is_(None)) if key.blanks_last else later))
        equal.append(column == value)
    condition = or_(*beyond)
    first, value = keys[0], values[0]
    if value is not None and not first.blanks_last:  # lets an index on the first key start at the cursor
        condition = and_(first.column <= value if first.descending else first.column >= value, condition)
    return condition


def key_of(values) -> list:
    """A row's key as JSON: datetimes as ISO text."""
    return [v.isoformat() if isinstance(v, datetime) else v for v in values]


def parse(keys: list[SortKey], found: Any) -> list:
    """The key a cursor carries, checked against the keys' columns (a FormInvalid on `cursor` when it does not
    fit): a list of one value per key, blank only where the key may be, datetimes back from ISO text."""
    if not isinstance(found, list) or len(found) != len(keys):
        raise FormInvalid({"cursor": NOT_A_KEY})
    values = []
    for key, value in zip(keys, found):
        kind = key.column.type
        if value is None:
            ok = key.blanks_last
        elif isinstance(kind, UtcDateTime):
            try:
                value = datetime.fromisoformat(value) if isinstance(value, str) else None
            except ValueError:
                value = None
            ok = value is not None and value.tzinfo is not None
        elif isinstance(kind, Integer):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise FormInvalid({"cursor": NOT_A_KEY})
        values.append(value)
    return values


def rows_after(session: Session, query, keys: list[SortKey], key: list | None, limit: int) -> tuple[list, list | None]:
    """Up to `limit` rows of `query` after the row whose key is `key` (from the first without one), in the keys'
    order, each as the query's own columns, and the last row's key when more follow (None on the last page)."""
    width = len(keys)
    query = query.add_columns(*(k.column for k in keys)).order_by(*order_by(keys))
    if key is not None:
        query = query.where(after(keys, parse(keys, key)))
    found = session.execute(query.limit(limit + 1)).all()
    more, found = len(found) > limit, found[:limit]
    next_key = key_of(found[-1][-width:]) if more and found else None
    return [tuple(row[:-width]) for row in found], next_key
