"""File attachments on the real change-control forms through the test client: a refused file is explained beside its
field and in the error summary while everything else (files already attached included) is kept; Remove; drafts keep
files; downloads go to who may see the request, with safe headers; a request over the size limit gets a clear page."""
from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from engine.store.models import Attachment, AuditEvent
from tests.scenarios.change_control_driver import ANSWERS, ChangeRequest

from tests.sample_files import PDF
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(64)
NEW = "/requests/new/change_control"
RAISE = {
    "title": "Shorten the MPAN validation window", "problem_statement": "Validation takes too long",
    "proposed_change": "Cut the window from 5 to 3 days", "justification": "Faster settlement",
    "impacted_constituencies.0": "SUPPLIER_LARGE", "urgency": "standard", "cost_impact_gbp": "12500",
    "tom_impact": "false", "consumer_competition_impact": "false", "level1_milestone_change": "false",
    "raiser_organisation": "Northern Power Supply", "raiser_contact_email": "alice@example.org",
}


def post(client, url: str, data: dict):
    return client.post(url, data=data, content_type="multipart/form-data")


def held_ids(html: str, field: str = "supporting_documents") -> str:
    found = re.search(rf'name="{re.escape(field)}\[files\]" value="([^"]*)"', html)
    assert found, f"no {field}[files] on the page"
    return found.group(1)


def rows(gov, **where) -> list[Attachment]:
    with gov.db.read() as db:
        return db.scalars(select(Attachment).filter_by(**where).order_by(Attachment.id)).all()


def audit(gov, action: str) -> list[AuditEvent]:
    with gov.db.read() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def raise_with_file(signed_in, csrf_of, web_gov, name: str = "options.pdf", content: bytes = PDF) -> tuple:
    """alice raises a CR with one file (first with a too-short title, then fixed); (client, instance id, file row)."""
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    first = post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                               "supporting_documents": [(io.BytesIO(content), name)]})
    html = first.data.decode()
    assert first.status_code == 422 and 'href="#f-title"' in html
    ids = held_ids(html)
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents[files]": ids})
    assert response.status_code == 302, response.data.decode()[:2000]
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    [row] = rows(web_gov, instance_id=instance_id)
    return client, instance_id, row


def test_the_raise_form_offers_a_file_chooser(signed_in):
    html = signed_in("alice").get(NEW).data.decode()
    assert 'enctype="multipart/form-data"' in html
    chooser = re.search(r'<input class="govuk-file-upload"[^>]*>', html).group(0)
    assert 'name="supporting_documents"' in chooser and "multiple" in chooser and 'accept=".pdf,.docx' in chooser
    assert "Up to 10 files, each smaller than 10 MB: PDF, DOCX, XLSX, PPTX, CSV, TXT, PNG, JPG." in html
    assert '<label class="govuk-label govuk-label--s" for="f-supporting-documents">' in html


def test_a_file_survives_an_invalid_form_and_reaches_the_request(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    response = post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                                  "supporting_documents": [(io.BytesIO(PDF), "Options paper.pdf")]})
    html = response.data.decode()
    assert response.status_code == 422 and 'href="#f-title"' in html
    assert 'value="ab"' in html and 'value="Validation takes too long"' not in html  # textareas keep text inside
    assert "Validation takes too long</textarea>" in html
    [pending] = rows(web_gov)
    assert (pending.status, pending.instance_id, pending.name) == ("pending", None, "Options paper.pdf")
    files = re.search(r'<dl class="govuk-summary-list govflow-attached-files".*?</dl>', html, re.S).group(0)
    assert "Options paper.pdf" in files and f'href="/attachments/{pending.id}"' in files
    assert f"{len(PDF)} bytes" in files
    assert held_ids(html) == str(pending.id)

    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents[files]": str(pending.id)})
    assert response.status_code == 302
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    descriptor = {"id": pending.id, "name": "Options paper.pdf", "size": len(PDF), "type": "application/pdf"}
    assert web_gov.show(instance_id)["data"]["supporting_documents"] == [descriptor]
    [row] = rows(web_gov, id=pending.id)
    assert (row.status, row.instance_id) == ("attached", instance_id)
    page = client.get(f"/requests/{instance_id}").data.decode()
    assert 'id="attached-files"' in page and "Options paper.pdf" in page and "Supporting documents" in page
    history = [e["action"] for e in web_gov.show(instance_id)["history"]]
    assert "attachment.attached" in history


def test_a_file_of_the_wrong_type_is_explained_beside_the_field_and_nothing_is_lost(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents": [
        (io.BytesIO(PDF), "good.pdf"), (io.BytesIO(EXE), "report.pdf"), (io.BytesIO(EXE), "setup.exe")]})
    html = response.data.decode()
    assert response.status_code == 422
    error = re.search(r'<p id="f-supporting-documents-error" class="govuk-error-message">(.*?)</p>', html, re.S)
    assert error and "‘report.pdf’ is not a real PDF" in error.group(1)
    assert "‘setup.exe’ must be a PDF" in error.group(1)
    assert 'href="#f-supporting-documents">‘report.pdf’ is not a real PDF' in html  # in the error summary too
    assert 'govuk-file-upload--error' in html
    [good] = rows(web_gov)  # the good one is kept, the refused ones never stored
    assert good.name == "good.pdf" and held_ids(html) == str(good.id)
    assert 'value="Shorten the MPAN validation window"' in html and 'value="SUPPLIER_LARGE" checked' in html
    assert web_gov.instances("alice")[1] == 0  # nothing was raised


def test_a_file_over_the_size_limit_is_refused(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    big = PDF + bytes(10_000_000)
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents": [(io.BytesIO(big), "big.pdf")]})
    assert response.status_code == 422
    assert "‘big.pdf’ must be smaller than 10 MB" in response.data.decode()
    assert rows(web_gov) == []


def test_too_many_files_keeps_the_first_ones(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    files = [(io.BytesIO(PDF), f"paper {i}.pdf") for i in range(11)]
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents": files})
    html = response.data.decode()
    assert response.status_code == 422 and "You can attach up to 10 files here" in html
    assert len(rows(web_gov)) == 10 and len(held_ids(html).split(",")) == 10
    assert "paper 9.pdf" in html and "paper 10.pdf" not in html


def test_remove_takes_a_pending_file_off_and_deletes_it(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    html = post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token, "supporting_documents": [
        (io.BytesIO(PDF), "keep.pdf"), (io.BytesIO(PDF), "drop.pdf")]}).data.decode()
    keep, drop = rows(web_gov)
    assert f'name="_detach" value="supporting_documents:{drop.id}"' in html
    response = post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                                  "_detach": f"supporting_documents:{drop.id}",
                                  "supporting_documents[files]": held_ids(html)})
    page = response.data.decode()
    assert response.status_code == 200 and "drop.pdf" not in page and "keep.pdf" in page
    assert held_ids(page) == str(keep.id) and 'value="ab"' in page  # the rest of the form is as it was
    assert [r.id for r in rows(web_gov)] == [keep.id]
    [removed] = audit(web_gov, "attachment.removed")
    assert removed.actor == "alice" and removed.details["name"] == "drop.pdf"


def test_someone_elses_file_id_cannot_be_slipped_into_a_form(signed_in, csrf_of, web_gov):
    bob = signed_in("bob")
    token = csrf_of(bob.get(NEW).data)
    post(bob, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                    "supporting_documents": [(io.BytesIO(PDF), "bobs.pdf")]})
    [bobs] = rows(web_gov)
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    response = post(client, NEW, {**RAISE, "csrf_token": token, "supporting_documents[files]": str(bobs.id)})
    assert response.status_code == 302
    instance_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert "supporting_documents" not in web_gov.show(instance_id)["data"]
    assert rows(web_gov, id=bobs.id)[0].status == "pending"


def test_download_is_for_those_who_may_see_the_request(signed_in, csrf_of, web_gov):
    client, instance_id, row = raise_with_file(signed_in, csrf_of, web_gov, name="Plan “v2” <final>.pdf")
    response = client.get(f"/attachments/{row.id}")
    assert response.status_code == 200 and response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''Plan%20%E2%80%9Cv2%E2%80%9D%20%3Cfinal%3E.pdf" \
        in disposition and "\n" not in disposition
    assert "no-store" in response.headers["Cache-Control"]
    assert signed_in("carol").get(f"/attachments/{row.id}").data == PDF  # staff see every request
    refused = signed_in("bob").get(f"/attachments/{row.id}")  # not his, not open to the industry yet
    assert refused.status_code == 403 and PDF not in refused.data
    denied = audit(web_gov, "access.denied")[-1]
    assert denied.actor == "bob" and denied.details["attempted"] == "download attachment"
    assert denied.instance_id == instance_id
    assert signed_in("alice").get("/attachments/999999").status_code == 404


def test_a_pending_file_is_only_for_its_uploader(signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                       "supporting_documents": [(io.BytesIO(PDF), "draft.pdf")]})
    [pending] = rows(web_gov)
    assert client.get(f"/attachments/{pending.id}").status_code == 200
    assert signed_in("carol").get(f"/attachments/{pending.id}").status_code == 403


def test_a_request_over_the_form_limit_gets_a_clear_page(app, signed_in, csrf_of, web_gov):
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    app.config["FORM_UPLOAD_LIMIT"] = 5_000
    response = post(client, NEW, {**RAISE, "csrf_token": token,
                                  "supporting_documents": [(io.BytesIO(PDF + bytes(6_000)), "big.pdf")]})
    html = response.data.decode()
    assert response.status_code == 413
    assert "The files you sent are too large" in html and "more than 5 KB" in html and 'class="govuk-' in html
    assert rows(web_gov) == []
    # elsewhere the app keeps its own (engine) limit
    assert app.config["MAX_CONTENT_LENGTH"] == web_gov.config.max_upload_bytes


def _impact_assessment(web_gov, clock):
    cr = ChangeRequest(web_gov, clock).do("validate").do("triage")
    return cr, cr.task("impact_assessment")


def _ia_form() -> dict:
    answers = ANSWERS["impact_assessment"]
    return {"ia_summary": answers["ia_summary"], "ia_cost_estimate_gbp": "300000",
            "ia_schedule_impact": answers["ia_schedule_impact"], "ia_tom_impact": "false",
            "ia_consumer_competition_impact": "false", "ia_level1_milestone_change": "false"}


def test_a_task_form_keeps_files_in_its_draft_and_attaches_them_on_submit(signed_in, csrf_of, web_gov, clock):
    cr, task = _impact_assessment(web_gov, clock)
    will = signed_in("will")
    url = f"/tasks/{task.id}"
    page = will.get(url).data.decode()
    assert 'enctype="multipart/form-data"' in page and 'name="ia_documents"' in page
    token = csrf_of(page)
    response = post(will, url, {"ia_summary": "Half written", "csrf_token": token, "_action": "draft",
                                "ia_documents": [(io.BytesIO(b"item,cost\nTesting,300000\n"), "costs.csv")]})
    assert response.status_code == 302
    [pending] = rows(web_gov)
    assert (pending.status, pending.instance_id, pending.task_id, pending.kind) == ("pending", cr.id, task.id, "csv")
    page = will.get(url).data.decode()  # the draft shows the file again
    assert 'id="draft-note"' in page and "costs.csv" in page and held_ids(page, "ia_documents") == str(pending.id)
    assert signed_in("carol").get(f"/attachments/{pending.id}").status_code == 403  # still will's alone

    will = signed_in("will")
    response = post(will, url, {**_ia_form(), "csrf_token": csrf_of(will.get(url).data), "_action": "complete",
                                "ia_documents[files]": str(pending.id)})
    assert response.status_code == 302, response.data.decode()[:2000]
    assert cr.data["ia_documents"] == [{"id": pending.id, "name": "costs.csv", "size": pending.size,
                                        "type": "text/csv"}]
    [row] = rows(web_gov)
    assert (row.status, row.instance_id) == ("attached", cr.id)
    assert signed_in("carol").get(f"/attachments/{row.id}").data == b"item,cost\nTesting,300000\n"


def test_a_task_form_with_an_error_keeps_the_file_just_uploaded(signed_in, csrf_of, web_gov, clock):
    cr, task = _impact_assessment(web_gov, clock)
    will = signed_in("will")
    url = f"/tasks/{task.id}"
    form = {**_ia_form(), "ia_cost_estimate_gbp": "lots"}
    response = post(will, url, {**form, "csrf_token": csrf_of(will.get(url).data), "_action": "complete",
                                "ia_documents": [(io.BytesIO(PDF), "assessment.pdf")]})
    html = response.data.decode()
    assert response.status_code == 422 and 'href="#f-ia-cost-estimate-gbp"' in html
    assert "assessment.pdf" in html and 'value="lots"' in html
    [pending] = rows(web_gov)
    response = post(will, url, {**_ia_form(), "csrf_token": csrf_of(html), "_action": "complete",
                                "ia_documents[files]": held_ids(html, "ia_documents")})
    assert response.status_code == 302
    assert [d["id"] for d in cr.data["ia_documents"]] == [pending.id]


def test_files_on_a_task_claimed_by_someone_else_are_refused_before_storing(signed_in, csrf_of, web_gov, clock):
    cr, task = _impact_assessment(web_gov, clock)
    web_gov.claim(task.id, "will")
    from engine.services.identity import NewUser
    web_gov.add_user(NewUser("wendy", "Wendy West", "wendy@example.org", "correct horse battery staple",
                             ("workstream",), "Lead Delivery Partner", None))
    wendy = signed_in("wendy")
    page = wendy.get(f"/tasks/{task.id}")
    token = csrf_of(wendy.get("/").data)
    assert page.status_code == 200
    response = post(wendy, f"/tasks/{task.id}", {"csrf_token": token, "_action": "draft",
                                                 "ia_documents": [(io.BytesIO(PDF), "sneaky.pdf")]})
    assert response.status_code == 403
    with web_gov.db.read() as db:
        assert db.scalar(select(func.count()).select_from(Attachment)) == 0


def test_enter_in_a_text_box_submits_rather_than_removing_a_file(signed_in, csrf_of, web_gov):
    """The first submit button of a form listing files is the form's own action, not a Remove button."""
    client = signed_in("alice")
    token = csrf_of(client.get(NEW).data)
    html = post(client, NEW, {**RAISE, "title": "ab", "csrf_token": token,
                              "supporting_documents": [(io.BytesIO(PDF), "keep.pdf")]}).data.decode()
    form = html[html.index('id="task-form"'):]
    first_button = re.search(r"<button[^>]*>", form).group(0)
    assert 'name="_action" value="check"' in first_button and 'tabindex="-1"' in first_button
    assert 'tabindex="-1" aria-hidden="true"' not in client.get(NEW).data.decode()  # no files, no extra button
