"""A process version as one zip: its files (diagram, decision tables, forms, settings) and a manifest, and the same
zip read back, hardened (size, entry count and compression-ratio limits read as the bytes arrive, no path that
leaves the archive, no links, no encrypted entries, every file's sha256 checked against the manifest)."""
from __future__ import annotations

import hashlib
import io
import json
import posixpath
import stat
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

MANIFEST = "manifest.json"
FORMAT = "govflow-process-version/1"
MAX_ENTRIES = 200
MAX_RATIO = 200  # uncompressed / compressed, per entry: text compresses 5-20 times, a zip bomb thousands
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the same bytes for the same files, whenever downloaded


class ArchiveRefused(ValueError):
    """The zip was refused; the message says which entry and why."""


@dataclass
class Archive:
    manifest: dict[str, Any] | None
    files: dict[str, bytes]


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def build(files: dict[str, bytes], manifest: dict[str, Any]) -> bytes:
    """The zip: manifest.json first (with each file's sha256 and size), then the files by path."""
    manifest = dict(manifest, format=FORMAT, files=[
        {"path": path, "sha256": sha256(content), "bytes": len(content)} for path, content in sorted(files.items())])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, content in [(MANIFEST, (json.dumps(manifest, indent=2, default=str) + "\n").encode())] + sorted(
                files.items()):
            info = zipfile.ZipInfo(path, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def read(data: bytes, max_bytes: int, max_total: int | None = None) -> Archive:
    """The files of an uploaded zip (path -> bytes) and its manifest, or ArchiveRefused with the reason."""
    max_total = max_total or 4 * max_bytes
    if len(data) > max_bytes:
        raise ArchiveRefused(f"the zip is too large ({len(data):,} bytes; the limit is {max_bytes:,})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as err:
        raise ArchiveRefused(f"not a readable zip file ({err})")
    if len(entries) > MAX_ENTRIES:
        raise ArchiveRefused(f"the zip holds {len(entries)} entries; the limit is {MAX_ENTRIES}")
    files: dict[str, bytes] = {}
    total = 0
    with archive:
        for info in entries:
            path = _safe_path(info)
            if path is None:  # a folder entry
                continue
            if path in files:
                raise ArchiveRefused(f"{path} appears twice in the zip")
            if info.file_size > max_bytes:
                raise ArchiveRefused(f"{path} is too large ({info.file_size:,} bytes; the limit is {max_bytes:,})")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise ArchiveRefused(f"{path} is compressed {info.file_size // info.compress_size} times; "
                                     f"the limit is {MAX_RATIO} (it looks like a zip bomb)")
            content = _bounded_read(archive, info, path, min(max_bytes, max_total - total))
            total += len(content)
            files[path] = content
    manifest = None
    if MANIFEST in files:
        manifest = _checked_manifest(files.pop(MANIFEST), files)
    if not files:
        raise ArchiveRefused("the zip holds no files")
    return Archive(manifest, files)


def _safe_path(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if info.flag_bits & 0x1:
        raise ArchiveRefused(f"{name} is encrypted")
    if stat.S_ISLNK(mode):
        raise ArchiveRefused(f"{name} is a link; only plain files are accepted")
    if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveRefused(f"{name}: a path outside the archive is not allowed")
    parts = name.split("/")
    if ".." in parts or "." in parts[:-1] or posixpath.normpath(name).startswith(".."):
        raise ArchiveRefused(f"{name}: a path outside the archive is not allowed")
    if name.endswith("/") or info.is_dir():
        return None
    return name


def _bounded_read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    """Read at most `limit` bytes however large the entry claims to be (headers can lie)."""
    try:
        with archive.open(info) as stream:
            content = stream.read(limit + 1)
    except (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, ValueError) as err:
        raise ArchiveRefused(f"{path} cannot be read ({err})")
    if len(content) > limit:
        raise ArchiveRefused(f"{path} unpacks to more than the limit of {limit:,} bytes")
    return content


def _checked_manifest(raw: bytes, files: dict[str, bytes]) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except ValueError as err:
        raise ArchiveRefused(f"{MANIFEST} is not valid JSON: {err}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise ArchiveRefused(f"{MANIFEST} does not list the files")
    listed = {}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise ArchiveRefused(f"{MANIFEST} has an entry without a path")
        listed[entry["path"]] = entry.get("sha256")
    missing = sorted(listed.keys() - files.keys())
    extra = sorted(files.keys() - listed.keys())
    if missing:
        raise ArchiveRefused(f"{MANIFEST} lists {', '.join(missing)}, which the zip does not hold")
    if extra:
        raise ArchiveRefused(f"the zip holds {', '.join(extra)}, which {MANIFEST} does not list")
    for path, expected in listed.items():
        if expected != sha256(files[path]):
            raise ArchiveRefused(f"{path} does not match its sha256 in {MANIFEST} (changed after it was downloaded?): "
                                 f"leave {MANIFEST} out of the zip to upload edited files")
    return manifest
