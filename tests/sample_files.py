"""Small real files of each kind an upload may be, made by the libraries that read them (pypdf, Pillow, zipfile),
and the polyglot probes that must be refused."""
from __future__ import annotations

import io
import zipfile

from PIL import Image
from pypdf import PdfWriter


def pdf(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(72, 72)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def image(kind: str = "png", size: tuple[int, int] = (2, 2)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (0, 112, 60)).save(buffer, {"png": "PNG", "jpg": "JPEG"}[kind])
    return buffer.getvalue()


MAIN = {"docx": ("word/document.xml", "wordprocessingml.document"), "xlsx": ("xl/workbook.xml", "spreadsheetml.sheet"),
        "pptx": ("ppt/presentation.xml", "presentationml.presentation")}


def office(kind: str = "docx", *, main_part: str | None = None) -> bytes:
    """A minimal Office Open XML container of this kind (`main_part` puts another kind's main part in it)."""
    part, content_type = MAIN[kind]
    part = main_part or part
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml",
                         '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                         'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                         f'<Override PartName="/{part}" ContentType="application/vnd.openxmlformats-'
                         f'officedocument.{content_type}.main+xml"/></Types>')
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.'
                                        'org/package/2006/relationships"/>')
        archive.writestr(part, "<document/>")
    return buffer.getvalue()


PDF = pdf()
PNG = image("png")
JPG = image("jpg")
DOCX = office("docx")
# the probes: a type's first bytes, then a web page
PDF_POLYGLOT = b"%PDF-1.4<html><script>alert(document.cookie)</script></html>\n%%EOF\n"
PNG_POLYGLOT = b"\x89PNG\r\n\x1a\n<html><script>alert(document.cookie)</script></html>"
