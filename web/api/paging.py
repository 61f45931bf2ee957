"""Cursor pagination: `limit` and an opaque `cursor` in, `next_cursor` out (null on the last page)."""
from __future__ import annotations

import base64
import json

from engine.errors import FormInvalid

DEFAULT_LIMIT = 25
MAX_LIMIT = 200
MAX_POSITION = 100_000 * MAX_LIMIT  # the web's last page (web/bounds.py) at the largest size


def decode(cursor: str | None) -> int:
    """The position a cursor stands for (0 without one); a cursor not made here is a 422 on `cursor`."""
    if not cursor:
        return 0
    try:
        found = json.loads(base64.urlsafe_b64decode(cursor.encode() + b"=" * (-len(cursor) % 4)))
        position = int(found["after"])
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise FormInvalid({"cursor": "This cursor was not given by the API: use next_cursor from a previous page"})
    if not 0 <= position <= MAX_POSITION:
        raise FormInvalid({"cursor": "This cursor was not given by the API: use next_cursor from a previous page"})
    return position


def encode(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": position}).encode()).decode().rstrip("=")


def page(items: list, position: int, limit: int, total: int | None = None) -> dict:
    """The page's envelope: items, next_cursor (when more follow) and the total when known."""
    more = (position + len(items) < total) if total is not None else len(items) > limit
    items = items[:limit]
    return {"items": items, "next_cursor": encode(position + len(items)) if more and items else None,
            "total": total}
