"""Whether a file's bytes are what its type says, all the way through, not just in its first bytes: a PDF parses
as a PDF (pypdf) and ends as one, an image decodes (Pillow), an Office file is a sound zip with the parts of its
kind, text decodes. A polyglot (a PDF or PNG header followed by HTML) is refused. Every check is bounded: images by
pixel count, Office files by the unpacked size their directory declares."""
from __future__ import annotations

import io
import logging
import unicodedata
import warnings
import zipfile

MAX_IMAGE_PIXELS = 25_000_000  # a 5000 x 5000 image; a 24-megapixel photo passes
MAX_UNPACKED_BYTES = 100_000_000  # what an Office file's parts may unpack to, all together
MAX_PARTS = 5_000
HTML_MARKERS = (b"<html", b"<script", b"<body", b"<!doctype html", b"<iframe", b"<svg", b"<object", b"<embed")
SNIFFED = 1024  # how far into a file browsers and our own check look for HTML

# kind → (the part every such file has, the content type [Content_Types].xml gives it)
OFFICE_MAIN = {
    "docx": ("word/document.xml", b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"),
    "xlsx": ("xl/workbook.xml", b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"),
    "pptx": ("ppt/presentation.xml",
             b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"),
}
IMAGE_FORMATS = {"png": "PNG", "jpg": "JPEG"}


def problem(kind: str, content: bytes) -> str | None:
    """Why these bytes are not a file of this kind (a phrase to follow "it"), or None when they are."""
    if kind in OFFICE_MAIN or kind in IMAGE_FORMATS or kind == "pdf":
        if any(marker in content[:SNIFFED].lower() for marker in HTML_MARKERS):
            return "has web page (HTML) code where its own format should be"
    if kind == "pdf":
        return _pdf_problem(content)
    if kind in IMAGE_FORMATS:
        return _image_problem(kind, content)
    if kind in OFFICE_MAIN:
        return _office_problem(kind, content)
    if kind in ("csv", "txt"):
        return _text_problem(content)
    return "is of a type govflow cannot check"


def _pdf_problem(content: bytes) -> str | None:
    if not content[:SNIFFED].lstrip().startswith(b"%PDF-"):
        return "does not start as a PDF"
    if b"%%EOF" not in content[-SNIFFED:]:
        return "does not end as a PDF (something follows its end, or it was cut short)"
    from pypdf import PdfReader
    try:
        with _quiet("pypdf"):
            reader = PdfReader(io.BytesIO(content), strict=False)
            if reader.is_encrypted:
                return None  # a password-protected PDF: its structure parsed, its pages are sealed
            if len(reader.pages) < 1:
                return "has no pages"
    except Exception as error:  # pypdf raises many kinds for a broken file; each means "not a PDF"
        return f"does not open as a PDF ({_reason(error)})"
    return None


def _image_problem(kind: str, content: bytes) -> str | None:
    from PIL import Image
    name = IMAGE_FORMATS[kind]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content), formats=[name]) as image:
                width, height = image.size
                if width * height > MAX_IMAGE_PIXELS:
                    return f"is {width} x {height} pixels: images may have up to {MAX_IMAGE_PIXELS:,} pixels"
                image.verify()
            with Image.open(io.BytesIO(content), formats=[name]) as image:
                image.load()
    except Exception as error:  # Pillow's many errors for a broken image each mean "does not decode"
        return f"does not decode as a {name} image ({_reason(error)})"
    return None


def _office_problem(kind: str, content: bytes) -> str | None:
    main, content_type = OFFICE_MAIN[kind]
    if not content.startswith(b"PK\x03\x04"):
        return "is not a zip container, as Office files are"
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts = archive.infolist()
            if len(parts) > MAX_PARTS or sum(p.file_size for p in parts) > MAX_UNPACKED_BYTES:
                return "unpacks to more than an Office file may"
            names = {p.filename for p in parts}
            missing = [n for n in ("[Content_Types].xml", "_rels/.rels", main) if n not in names]
            if missing:
                return f"lacks the parts every such file has ({', '.join(missing)})"
            if content_type not in archive.read("[Content_Types].xml"):
                return f"does not declare its {main} as the main part of this kind of file"
            broken = archive.testzip()  # every part unpacked (within the declared sizes) and its checksum checked
            if broken is not None:
                return f"has a damaged part ({broken})"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as error:
        return f"is not a sound zip container ({_reason(error)})"
    return None


def _text_problem(content: bytes) -> str | None:
    if b"\x00" in content:
        return "holds binary data, not text"
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = content.decode("cp1252")
        except UnicodeDecodeError:
            return "is not text in UTF-8 or Windows-1252"
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r\f" for c in text):
        return "holds control characters, not text"
    return None


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:120]


class _quiet:
    """Silence a library's logger while it reads a file we are only checking."""

    def __init__(self, name: str):
        self.logger = logging.getLogger(name)

    def __enter__(self):
        self.level = self.logger.level
        self.logger.setLevel(logging.CRITICAL)
        return self

    def __exit__(self, *_):
        self.logger.setLevel(self.level)
