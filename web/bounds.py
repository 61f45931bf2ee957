"""Numbers read from a request, bounded before they reach the engine: page numbers and sizes from the query string,
and the ids in paths (the `int` URL converter). A number that is absent, not a whole number, negative or huge gives
the first page (or the last one allowed), and an id beyond what a database column holds gives a 404: never a 500
from a database that cannot hold it.
"""
from __future__ import annotations

from typing import Mapping

from werkzeug.routing import IntegerConverter

MAX_PAGE = 100_000  # pages: far beyond any list govflow shows, and an offset every database holds
ID_DIGITS = 9
MAX_ID = 10**ID_DIGITS - 1  # below a PostgreSQL `integer`'s 2**31 - 1 (every id column), and far beyond any id made
MAX_DIGITS = 12  # a number written longer than this is not read at all


def whole_number(args: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    """args[key] as a whole number clamped to low..high; `default` when absent or not a whole number."""
    raw = str(args.get(key, "") or "").strip()
    if not raw:
        return default
    sign, digits = (-1, raw[1:]) if raw[:1] == "-" else (1, raw.removeprefix("+"))
    if not digits.isascii() or not digits.isdigit():
        return default
    if len(digits) > MAX_DIGITS:
        return low if sign < 0 else high
    return max(low, min(sign * int(digits), high))


def page_number(args: Mapping[str, str], key: str = "page", last: int = MAX_PAGE) -> int:
    """The page asked for, from 1 to `last` (1 when absent or not a number)."""
    return whole_number(args, key, 1, 1, last)


class BoundedInt(IntegerConverter):
    """`<int:…>` that matches only ids a database can hold (up to MAX_ID unless the rule says otherwise). The
    pattern itself stops at ID_DIGITS digits, so a longer number matches no rule for any method: a 404, where a
    value refused after matching would be a 405 when the same path takes another method."""

    regex = rf"\d{{1,{ID_DIGITS}}}"

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):  # noqa: A002 (werkzeug's names)
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)


def init_app(app) -> None:
    """Use BoundedInt for every `<int:…>` rule (call before any blueprint is registered)."""
    app.url_map.converters["int"] = BoundedInt
