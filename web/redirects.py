"""Where the web may send a person back to: only a path on this site, read the way a browser would read it.

Every `next` (sign-in, comments, claim and release on the task page) goes through `safe_target`. A browser drops
tabs and line breaks anywhere in a URL, strips leading and trailing spaces and control characters, and reads a
backslash as a slash, so `"/\\t/evil.example"` and `"/\\\\evil.example"` are both `//evil.example`: another site.
The target is normalised the same way first, and then (and after each round of percent-decoding, for servers and
proxies that decode before routing) it must be a path that starts with one slash, with no scheme and no host.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MAX_TARGET = 2048  # characters: a longer `next` is refused rather than parsed
DECODING_ROUNDS = 3  # %252F%252F → %2F%2F → //: each round must still be a local path

_DROPPED = re.compile(r"[\t\n\r]")  # removed from anywhere in a URL by browsers
_EDGES = "".join(chr(c) for c in range(0x21))  # C0 controls and space, stripped from both ends by browsers
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_target(raw: object, fallback: str) -> str:
    """`raw` normalised, when it is a path on this site; `fallback` otherwise (absent, empty, another site, a
    scheme such as `javascript:`, a protocol-relative `//host`, control characters, or too long)."""
    target = normalise(raw)
    return target if target is not None else fallback


def normalise(raw: object) -> str | None:
    """The path a browser would follow for `raw`, or None when that is not a path on this site."""
    if not isinstance(raw, str) or len(raw) > MAX_TARGET:
        return None
    target = _read_as_browser(raw)
    if not _is_local_path(target):
        return None
    decoded = target
    for _ in range(DECODING_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
        if not _is_local_path(_read_as_browser(decoded), decoded_form=True):
            return None
    return target


def _read_as_browser(text: str) -> str:
    return _DROPPED.sub("", text).strip(_EDGES).replace("\\", "/")


def _is_local_path(target: str, decoded_form: bool = False) -> bool:
    """One leading slash, then no second one, no scheme and no host. Control characters are refused in the target
    itself (a decoded `%0A` in a query is only text)."""
    if not target.startswith("/") or target.startswith("//"):
        return False
    if not decoded_form and _CONTROL.search(target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
