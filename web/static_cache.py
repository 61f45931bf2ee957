"""Static files a browser keeps: every url_for('static', ...) carries the file's fingerprint (?v=<hash of its
contents>), and a request with the current fingerprint is cached for a year, so a returning user's pages ask the
server for no script, style sheet or image they already have. A file that changes gets a new fingerprint and so a
new address; a request without the fingerprint, or with an old one, is revalidated as before (no-cache)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from flask import Flask, request
from werkzeug.security import safe_join

YEAR = 31_536_000


class Fingerprints:
    """The short content hash of each file under a folder, computed once per version of the file."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = str(folder)
        self._known: dict[str, tuple[int, int, str]] = {}

    def of(self, filename: str) -> str | None:
        path = safe_join(self.folder, filename)
        try:
            stat = os.stat(path) if path else None
        except OSError:
            return None
        if stat is None or not Path(path).is_file():
            return None
        known = self._known.get(filename)
        if known and known[:2] == (stat.st_mtime_ns, stat.st_size):
            return known[2]
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
        self._known[filename] = (stat.st_mtime_ns, stat.st_size, digest)
        return digest


def init_app(app: Flask) -> None:
    fingerprints = Fingerprints(app.static_folder)
    app.extensions["static_fingerprints"] = fingerprints

    @app.url_defaults
    def _fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and "filename" in values:
            digest = fingerprints.of(values["filename"])
            if digest:
                values["v"] = digest

    def max_age(filename: str | None) -> int | None:
        digest = fingerprints.of(filename) if filename else None
        return YEAR if digest and request.args.get("v") == digest else None  # None: Flask's no-cache, a conditional request each time

    app.get_send_file_max_age = max_age
