"""Consultation responses with documents: a participant attaches a PDF to a response (kept across a form sent back
with errors), the process records its descriptor, and the file shows on the request page for those who may see it;
a confidential response's documents are seen by the programme and their sender only."""
from __future__ import annotations

import io
import re

from sqlalchemy import select

from engine.store.models import Attachment, AuditEvent
from tests.scenarios.change_control_driver import ChangeRequest

from tests.sample_files import PDF
from tests.sample_files import PNG
RESPONSE = {"respondent_organisation": "Small Energy Co", "constituency": "SUPPLIER_SMALL", "position": "oppose",
            "comments": "The window is too short for small suppliers.", "confidential": "false"}


def respond_url(cr) -> str:
    return f"/requests/{cr.id}/messages/consultation_response"


def post(client, url: str, data: dict):
    return client.post(url, data=data, content_type="multipart/form-data")


def held_ids(html: str) -> str:
    found = re.search(r'name="documents\[files\]" value="([^"]*)"', html)
    assert found, "no documents[files] on the page"
    return found.group(1)


def files_table(html: str) -> str:
    """The request page's "Attached files" table ('' when there is none)."""
    found = re.search(r'<table class="govuk-table" id="attached-files">.*?</table>', html, re.S)
    return found.group(0) if found else ""


def rows(gov) -> list[Attachment]:
    with gov.db.read() as db:
        return db.scalars(select(Attachment).order_by(Attachment.id)).all()


def send_with_pdf(signed_in, csrf_of, cr, user: str = "bob", name: str = "Small Energy Co analysis.pdf",
                  **changes) -> Attachment:
    """`user` responds with one PDF: first without comments (sent back, the file kept), then complete."""
    client = signed_in(user)
    page = client.get(respond_url(cr)).data.decode()
    form = {**RESPONSE, **changes, "csrf_token": csrf_of(page)}
    first = post(client, respond_url(cr), {**form, "comments": "", "documents": [(io.BytesIO(PDF), name)]})
    html = first.data.decode()
    assert first.status_code == 422 and 'href="#f-comments"' in html
    assert name in html and 'value="Small Energy Co"' in html  # the file and the answers are kept
    [pending] = [r for r in rows(cr.gov) if r.status == "pending"]
    assert held_ids(html) == str(pending.id) and pending.instance_id == cr.id
    response = post(client, respond_url(cr), {**form, "documents[files]": held_ids(html)})
    assert response.status_code == 302, response.data.decode()[:2000]
    assert response.headers["Location"].endswith(f"/requests/{cr.id}")
    with cr.gov.db.read() as db:
        return db.get(Attachment, pending.id)


def test_the_response_form_offers_documents_with_the_fields_own_limits(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    html = signed_in("bob").get(respond_url(cr)).data.decode()
    assert 'enctype="multipart/form-data"' in html
    chooser = re.search(r'<input class="govuk-file-upload"[^>]*>', html).group(0)
    assert 'name="documents"' in chooser and "multiple" in chooser and 'accept=".pdf,.docx,.xlsx"' in chooser
    assert "Supporting documents (optional)" in html
    assert "Up to 5 files, each smaller than 10 MB: PDF, DOCX, XLSX." in html


def test_a_participant_attaches_a_pdf_and_everyone_who_may_see_the_request_gets_it(signed_in, csrf_of, web_gov,
                                                                                   clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    row = send_with_pdf(signed_in, csrf_of, cr)
    assert (row.status, row.instance_id, row.field, row.kind, row.uploaded_by) == \
        ("attached", cr.id, "documents", "pdf", "bob")
    [response] = cr.data["consultation_responses"]
    assert response["documents"] == [{"id": row.id, "name": "Small Energy Co analysis.pdf", "size": len(PDF),
                                      "type": "application/pdf"}]
    assert response["position"] == "oppose" and response["confidential"] is False
    with web_gov.db.read() as db:
        attached = db.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.attached")).all()
    assert [(e.actor, e.instance_id, e.details["attachments"]) for e in attached] == \
        [("bob", cr.id, [{"id": row.id, "name": "Small Energy Co analysis.pdf", "field": "documents"}])]
    # alice raised the request; carol runs change control: both see the file on the request page and download it
    for user in ("alice", "carol", "bob"):
        client = signed_in(user)
        table = files_table(client.get(f"/requests/{cr.id}").data.decode())
        assert f'href="/attachments/{row.id}"' in table and "Small Energy Co analysis.pdf" in table, user
        assert "Documents" in table and "Bob Baker" in table and "Confidential" not in table
        download = client.get(f"/attachments/{row.id}")
        assert download.status_code == 200 and download.data == PDF, user


def test_a_confidential_responses_documents_are_for_the_programme_only(signed_in, csrf_of, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    row = send_with_pdf(signed_in, csrf_of, cr, name="Commercially sensitive costs.pdf", confidential="true")
    assert (row.status, row.instance_id) == ("confidential", cr.id)
    assert cr.data["consultation_responses"][0]["documents"][0]["id"] == row.id
    # another participant (alice, who raised the request and may read it) neither sees nor downloads it
    alice = signed_in("alice")
    page = alice.get(f"/requests/{cr.id}").data.decode()
    assert "Commercially sensitive costs.pdf" not in page and files_table(page) == ""
    refused = alice.get(f"/attachments/{row.id}")
    assert refused.status_code == 403 and b"confidential response" in refused.data
    with web_gov.db.read() as db:
        denied = db.scalars(select(AuditEvent).where(AuditEvent.action == "access.denied")).all()
    assert [(e.actor, e.details["attachment_id"]) for e in denied] == [("alice", row.id)]
    # the programme (carol) and the sender (bob) see it, marked confidential
    for user in ("carol", "bob"):
        client = signed_in(user)
        table = files_table(client.get(f"/requests/{cr.id}").data.decode())
        assert "Commercially sensitive costs.pdf" in table and "Confidential" in table, user
        assert client.get(f"/attachments/{row.id}").data == PDF


def test_a_type_the_field_does_not_allow_is_explained_and_the_response_kept(signed_in, csrf_of, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    bob = signed_in("bob")
    response = post(bob, respond_url(cr), {**RESPONSE, "csrf_token": csrf_of(bob.get(respond_url(cr)).data),
                                           "documents": [(io.BytesIO(PNG), "chart.png")]})
    html = response.data.decode()
    assert response.status_code == 422
    assert "‘chart.png’ must be a PDF, DOCX, XLSX" in html and 'href="#f-documents"' in html
    assert "The window is too short for small suppliers.</textarea>" in html
    assert rows(web_gov) == [] and cr.data.get("consultation_responses", []) == []
