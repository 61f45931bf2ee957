"""The request, whole, where a person decides: every answer in words on the request page, on each task page and on
the consultation response page; a confidential response for the programme and its sender only; check your answers
before raising a request; PDFs and images previewed."""
from __future__ import annotations

import io

from sqlalchemy import select

from engine.store.models import Attachment, Instance
from tests.sample_files import PDF
from tests.scenarios.change_control_driver import ChangeRequest
from tests.web.cc_answers import RAISE
from tests.web.page_text import text_of
from web.form_fields import to_raw

def raise_form(gov, **extra) -> dict:
    """The raise form's fields as the browser posts them, filled with the scenario's answers."""
    return {**to_raw(gov.forms.start_form("change_control", "alice").schema, RAISE), **extra}




def test_the_request_page_shows_every_answer_in_words(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).do("validate").do("triage").do("impact_assessment")
    page = signed_in("alice").get(f"/requests/{cr.id}").data.decode()
    asked = text_of(page, "part-1")
    for expected in ("What is the problem? Qualification testing capacity is short in Q1 2027.",
                     "Which constituencies are affected? Large supplier Small supplier",
                     "How urgent is it? Urgent: needs a decision before the next scheduled meeting",
                     "When do you need a decision by? 20 January 2027",
                     "Estimated cost or benefit impact on the programme (£) £250,000",
                     "Does it materially change the Target Operating Model (TOM)? No",
                     "Contact email alice@example.org"):
        assert expected in asked, (expected, asked)
    assert "SUPPLIER_LARGE" not in page and "urgent<" not in page
    assert text_of(page, "key-facts").count("Alice Archer") == 1  # raised by a name, not a username
    # each later step, headed by its task, with who answered and the answers in words
    steps = text_of(page, "request-summary")
    assert "Validate the change request Answered by Carol Clarke" in steps and "Is the change request valid? Yes" in steps
    assert "Who decides it? Programme Steering Group (PSG)" in steps
    assert "Estimated cost to deliver (£) £300,000" in steps and "Answered by Will Walker" in steps


def test_every_task_page_and_the_response_page_show_the_request(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock)
    [validate] = cr.tasks_of("carol", "validate")
    page = signed_in("carol").get(f"/tasks/{validate.id}").data.decode()
    assert "Move M10 from 1 March to 29 March 2027." in text_of(page, "request-answers")
    assert '<details class="govuk-details" id="request-answers" open>' in page
    cr.to_consultation()
    [review_like] = [t for t in web_gov.tasks("carol") if t.instance_id == cr.id] or [None]
    bob = signed_in("bob")
    page = bob.get(f"/requests/{cr.id}/messages/consultation_response").data.decode()
    assert "Move M10 from 1 March to 29 March 2027." in text_of(page, "request-answers")
    assert "Do you support the move?" in text_of(page, "request-steps")  # the consultation's questions
    assert review_like is None or review_like.instance_id == cr.id


def test_a_confidential_response_is_for_the_programme_and_its_sender(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    cr.respond("bob", comments="Our costs are commercially sensitive.", confidential=True)
    cr.respond("alice", comments="We support it openly.")
    for user, sees in (("carol", True), ("olive", True), ("bob", True), ("alice", False)):
        page = signed_in(user).get(f"/requests/{cr.id}").data.decode()
        assert ("Our costs are commercially sensitive." in page) is sees, user
        assert "We support it openly." in page, user
    page = signed_in("carol").get(f"/requests/{cr.id}").data.decode()
    assert "Respond to the consultation Confidential Sent by Bob Baker" in text_of(page, "request-summary")


def test_check_your_answers_before_raising(signed_in, web_gov, csrf_of):
    client = signed_in("alice")
    form = {**raise_form(web_gov), "_action": "check",
            "csrf_token": csrf_of(client.get("/requests/new/change_control").data)}
    page = client.post("/requests/new/change_control", data={**form, "supporting_documents": [
        (io.BytesIO(PDF), "Options paper.pdf")]}, content_type="multipart/form-data")
    html = page.data.decode()
    assert page.status_code == 200 and "Check your answers before raising it" in html
    answers = text_of(html, "check-answers")
    assert "Which constituencies are affected? Large supplier Small supplier Change" in answers, answers
    assert "Supporting documents Options paper.pdf" in answers
    with web_gov.db.read() as db:
        assert db.scalars(select(Instance)).all() == []  # nothing raised yet
        [held] = db.scalars(select(Attachment)).all()
    assert held.status == "pending"
    # change: the form comes back with every answer, the file still held
    back = client.post("/requests/new/change_control", data={
        **{k: v for k, v in form.items() if k != "_action"}, "supporting_documents[files]": str(held.id),
        "_action": "change", "_change": "urgency", "csrf_token": csrf_of(html)}).data.decode()
    assert 'id="changing"' in back and 'value="urgent" checked' in back and "Options paper.pdf" in back
    # raise it from the check page: the carried answers and the held file
    raised = client.post("/requests/new/change_control", data={
        **{k: v for k, v in form.items() if k != "_action"}, "supporting_documents[files]": str(held.id),
        "_action": "start", "csrf_token": csrf_of(html)})
    assert raised.status_code == 302
    instance_id = int(raised.headers["Location"].rsplit("/", 1)[1])
    assert web_gov.show(instance_id)["data"]["supporting_documents"][0]["name"] == "Options paper.pdf"


def test_a_pdf_is_previewed_in_the_browser_and_other_files_downloaded(signed_in, web_gov, clock, csrf_of):
    client = signed_in("alice")
    form = {**raise_form(web_gov), "_action": "start", "csrf_token": csrf_of(client.get("/requests/new/change_control").data)}
    raised = client.post("/requests/new/change_control", data={**form, "supporting_documents": [
        (io.BytesIO(PDF), "Options paper.pdf")]}, content_type="multipart/form-data")
    instance_id = int(raised.headers["Location"].rsplit("/", 1)[1])
    [file] = web_gov.show(instance_id)["data"]["supporting_documents"]
    page = client.get(f"/requests/{instance_id}").data.decode()
    assert f'href="/attachments/{file["id"]}/preview"' in page
    shown = signed_in("carol").get(f"/attachments/{file['id']}/preview")
    assert shown.status_code == 200 and shown.data == PDF
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert "sandbox" not in shown.headers["Content-Security-Policy"]
    assert signed_in("bob").get(f"/attachments/{file['id']}/preview").status_code == 403  # not his to see


def test_a_returned_request_comes_back_with_every_answer_and_its_issues_as_lines(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).do("validate", valid=False,
                                          validation_issues="Give the volumes per wave.\nName the systems affected.")
    [task] = cr.tasks_of("alice", "resolve_issues")
    page = signed_in("alice").get(f"/tasks/{task.id}").data.decode()
    for filled in ('name="urgency" type="radio" value="urgent" checked', 'value="SUPPLIER_LARGE" checked',
                   'value="SUPPLIER_SMALL" checked', 'name="tom_impact" type="radio" value="false" checked',
                   'value="alice@example.org"', 'name="requested_decision_date[day]" type="text" '
                   'inputmode="numeric" value="20"', 'id="f-cost-impact-gbp" name="cost_impact_gbp"'):
        assert filled in page, filled
    assert "Give the volumes per wave.<br>\nName the systems affected." in page
    # a second round of validation does not come back with the first round's decision chosen
    [again] = cr.do("resolve_issues").tasks_of("carol", "validate")
    page = signed_in("carol").get(f"/tasks/{again.id}").data.decode()
    assert 'value="false" checked' not in page and 'value="true" checked' not in page


def test_answers_the_form_refuses_are_not_offered_for_checking(signed_in, web_gov, csrf_of):
    client = signed_in("alice")
    form = {**raise_form(web_gov), "title": "", "_action": "check",
            "csrf_token": csrf_of(client.get("/requests/new/change_control").data)}
    page = client.post("/requests/new/change_control", data=form)
    assert page.status_code == 422 and 'href="#f-title"' in page.data.decode()
    assert "Check your answers" not in page.data.decode()


def test_your_response_is_shown_and_sending_again_replaces_it(signed_in, web_gov, clock, csrf_of):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    cr.respond("bob", comments="First thoughts.", position="neutral")
    bob = signed_in("bob")
    page = bob.get(f"/requests/{cr.id}").data.decode()
    assert "First thoughts." in text_of(page, "mine-consultation-response")
    assert text_of(page, "message-consultation-response") == "Replace your response"
    form = bob.get(f"/requests/{cr.id}/messages/consultation_response").data.decode()
    assert 'id="earlier"' in form and "First thoughts.</textarea>" in form and 'value="neutral" checked' in form
    sent = bob.post(f"/requests/{cr.id}/messages/consultation_response", data={
        "respondent_organisation": "Small Energy Co", "constituency": "SUPPLIER_SMALL", "position": "support",
        "comments": "Second thoughts.", "confidential": "false", "csrf_token": csrf_of(form)})
    assert sent.status_code == 302
    responses = cr.data["consultation_responses"]
    assert [(r["sent_by"], r["comments"]) for r in responses] == [("bob", "Second thoughts.")]


def test_withdrawing_warns_and_needs_a_reason(signed_in, web_gov, clock, csrf_of):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    alice = signed_in("alice")
    form = alice.get(f"/requests/{cr.id}/messages/withdraw").data.decode()
    assert "cannot be undone" in text_of(form, "irreversible")
    assert "govuk-button--warning" in form and ">Withdraw the change request</button>" in form
    refused = alice.post(f"/requests/{cr.id}/messages/withdraw", data={"reason": "", "csrf_token": csrf_of(form)})
    assert refused.status_code == 422 and cr.status == "running"
    done = alice.post(f"/requests/{cr.id}/messages/withdraw", data={"reason": "Overtaken by CR009",
                                                                   "csrf_token": csrf_of(form)})
    assert done.status_code == 302 and cr.state == "withdrawn"


def test_the_history_reads_as_sentences_without_element_ids_or_timer_noise(signed_in, web_gov, clock):
    cr = ChangeRequest(web_gov, clock).to_consultation()
    cr.respond("bob")
    page = signed_in("alice").get(f"/requests/{cr.id}").data.decode()
    history = text_of(page, "history")
    for said in ("Alice Archer started it", "Carol Clarke completed ‘Validate the change request’",
                 "‘Write impact assessment and cost estimate’ is waiting", "Bob Baker sent consultation response"):
        assert said in history, (said, history)
    for noise in ("validate ", "window_closes", "Timer cancelled", "Task created", "impact_assessment"):
        assert noise not in history, noise
    # the management page: the same sentences; the stored data and events only in technical details, for admins
    staff = signed_in("ida").get(f"/manage/instances/{cr.id}").data.decode()  # assurance: no administer
    assert "Carol Clarke completed ‘Validate the change request’" in text_of(staff, "timeline")
    assert 'id="technical-details"' not in staff and "Task created" not in staff
    admin = signed_in("admin").get(f"/manage/instances/{cr.id}").data.decode()
    assert "consultation_responses" in text_of(admin, "technical-details")
    assert "task.completed" in text_of(admin, "technical-events")


def test_a_comment_over_the_limit_comes_back_with_its_text(signed_in, web_gov, clock, csrf_of):
    cr = ChangeRequest(web_gov, clock)
    alice = signed_in("alice")
    page = alice.get(f"/requests/{cr.id}").data.decode()
    long = "A considered view. " * 300
    response = alice.post(f"/requests/{cr.id}/comments", data={"comment": long, "next": f"/requests/{cr.id}",
                                                               "csrf_token": csrf_of(page)})
    html = response.data.decode()
    assert response.status_code == 422 and "characters or fewer" in text_of(html, "comment-error")
    assert long.strip() in html and web_gov.comments(cr.id) == []
