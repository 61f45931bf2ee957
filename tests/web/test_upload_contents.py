"""Uploads are read all the way through, not just their first bytes: the polyglot probes (a PDF header then a web
page, PNG magic then HTML) and broken files are refused beside their field with the rest of the form kept, real
files of every kind pass, and every download is still an attachment with nosniff."""
from __future__ import annotations

import io
import re

import pytest

from engine.services.attachments import AttachmentRefused, Limits, check
from tests.sample_files import DOCX, JPG, PDF, PDF_POLYGLOT, PNG, PNG_POLYGLOT, image, office, pdf

from .test_attachments_web import NEW, RAISE, held_ids, post, raise_with_file, rows

EVERY_KIND = Limits(max_bytes=10_000_000, max_files=10, types=("pdf", "docx", "xlsx", "pptx", "csv", "txt", "png",
                                                                "jpg"))


@pytest.mark.parametrize("name, content", [
    ("paper.pdf", PDF), ("three pages.pdf", pdf(3)), ("chart.png", PNG), ("photo.jpg", JPG),
    ("plan.docx", DOCX), ("costs.xlsx", office("xlsx")), ("slides.pptx", office("pptx")),
    ("notes.txt", "Café £5\n".encode()), ("costs.csv", b"item,cost\nTesting,300000\n"),
])
def test_real_files_of_every_kind_pass(name, content):
    assert check(name, content, EVERY_KIND)


@pytest.mark.parametrize("name, content, reason", [
    ("report.pdf", PDF_POLYGLOT, "has web page (HTML) code where its own format should be"),
    ("chart.png", PNG_POLYGLOT, "has web page (HTML) code where its own format should be"),
    ("report.pdf", b"%PDF-1.4\n" + b"%" * 2000 + b"\n%%EOF\n", "does not open as a PDF"),
    ("report.pdf", PDF + b"\n" + b"x" * 2000, "does not end as a PDF"),
    ("report.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
     "does not open as a PDF"),
    ("chart.png", PNG[:-16], "does not decode as a PNG image"),
    ("chart.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "does not decode as a PNG image"),
    ("photo.jpg", JPG[:300], "does not decode as a JPEG image"),
    ("photo.jpg", PNG, "does not decode as a JPEG image"),
    ("huge.png", image("png", (6000, 5000)), "is 6000 x 5000 pixels"),
    ("plan.docx", office("docx", main_part="xl/workbook.xml"), "lacks the parts every such file has"),
    ("plan.docx", office("xlsx"), "lacks the parts every such file has (word/document.xml)"),
    ("plan.docx", DOCX[:-40], "is not a sound zip container"),
    ("notes.txt", b"MZ\x90\x00 a program", "holds binary data, not text"),
    ("notes.txt", b"bell \x07 ringing", "holds control characters, not text"),
])
def test_a_file_whose_contents_are_not_its_type_is_refused_with_the_reason(name, content, reason):
    with pytest.raises(AttachmentRefused) as refused:
        check(name, content, EVERY_KIND)
    assert str(refused.value).startswith(f"‘{name}’ is not a real ") and f"(it {reason}" in str(refused.value)


def test_an_office_file_whose_parts_do_not_unpack_is_refused():
    damaged = bytearray(DOCX)
    # a byte flipped inside the compressed main part: the zip's directory still reads, the part does not unpack
    damaged[bytes(damaged).index(b"word/document.xml") + len("word/document.xml") + 2] ^= 0xFF
    with pytest.raises(AttachmentRefused) as refused:
        check("plan.docx", bytes(damaged), EVERY_KIND)
    assert "not a real Word document" in str(refused.value)
    assert "damaged part (word/document.xml)" in str(refused.value) or "not a sound zip container" in str(refused.value)


def test_the_polyglot_probes_are_refused_beside_their_field_and_the_rest_is_kept(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents": [
        (io.BytesIO(PDF), "good.pdf"), (io.BytesIO(PDF_POLYGLOT), "report.pdf"),
        (io.BytesIO(PNG_POLYGLOT), "chart.png")]})
    html = response.data.decode()
    assert response.status_code == 422
    error = re.search(r'<p id="f-supporting-documents-error" class="govuk-error-message">(.*?)</p>', html, re.S)
    assert error, html[:3000]
    assert "‘report.pdf’ is not a real PDF" in error.group(1) and "‘chart.png’ is not a real PNG image" in error.group(1)
    assert "web page (HTML) code" in error.group(1)
    [good] = rows(web_gov)  # only the real PDF was stored
    assert good.name == "good.pdf" and held_ids(html) == str(good.id)
    assert 'value="Shorten the MPAN validation window"' in html and 'value="SUPPLIER_LARGE" checked' in html
    assert web_gov.instances("alice")[1] == 0


def test_downloads_stay_attachments_with_nosniff(signed_in, csrf_of, web_gov):
    client, _instance_id, row = raise_with_file(signed_in, csrf_of, web_gov, name="chart.png", content=PNG)
    response = client.get(f"/attachments/{row.id}")
    assert response.status_code == 200 and response.data == PNG
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
