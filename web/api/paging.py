"""Keyset cursors: `limit` and an opaque `cursor` in, `next_cursor` out (null on the last page).

A cursor carries the last row's sort key and a digest of the list it belongs to (the list, its caller, its sort and
filters), as base64url JSON signed with the application's secret. The engine answers "the rows after that key", so a
deep page costs what the first does, and rows added or removed between pages neither repeat nor skip others."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from flask import current_app
from pydantic import BaseModel

from engine.errors import FormInvalid

NOT_OURS = "This cursor was not given by the API: use next_cursor from a previous page"
ANOTHER_LIST = ("This cursor belongs to another list, sort or filter: use next_cursor from a page of this one, or "
                "leave cursor out to start from the first page")


def belongs_to(list_name: str, username: str, args: BaseModel | None = None, **more) -> str:
    """What a cursor is for: the list, whose it is and every query argument but `limit` and `cursor` (a key
    means nothing in another sort's or filter's order)."""
    found = args.model_dump(mode="json", exclude={"limit", "cursor"}) if args is not None else {}
    text = json.dumps([list_name, username, found, more], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def key_from(cursor: str | None, scope: str) -> list | None:
    """The sort key a cursor carries (None without one); a 422 on `cursor` for one not signed here, or made for
    another list, sort or filter."""
    if not cursor:
        return None
    body, _, signature = cursor.partition(".")
    try:
        if not hmac.compare_digest(_unpadded(_sign(body.encode())), signature.encode()):
            raise ValueError("not signed here")
        found = json.loads(base64.urlsafe_b64decode(body.encode() + b"=" * (-len(body) % 4)))
        belongs, key = found["for"], found["after"]
    except (ValueError, KeyError, TypeError, UnicodeError):
        raise FormInvalid({"cursor": NOT_OURS})
    if belongs != scope:
        raise FormInvalid({"cursor": ANOTHER_LIST})
    return key


def cursor_for(key: list | None, scope: str) -> str | None:
    """The cursor of the rows after this key (None: there are none)."""
    if key is None:
        return None
    body = _unpadded(base64.urlsafe_b64encode(json.dumps({"for": scope, "after": key}, separators=(",", ":"),
                                                          ensure_ascii=False).encode()))
    return f"{body.decode()}.{_unpadded(_sign(body)).decode()}"


def page(items: list, next_key: list | None, scope: str, total: int | None = None) -> dict:
    """The page's envelope: items, next_cursor (when more follow) and the total when known."""
    return {"items": items, "next_cursor": cursor_for(next_key, scope), "total": total}


def _sign(body: bytes) -> bytes:
    secret = current_app.secret_key
    secret = secret.encode() if isinstance(secret, str) else bytes(secret)
    key = hmac.new(secret, b"govflow api cursor", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()[:18])


def _unpadded(text: bytes) -> bytes:
    return text.rstrip(b"=")
