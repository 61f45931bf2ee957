"""The shipped instructions that loop (processes/change_control.bpmn's review, processes/meeting.bpmn's amended
report) render as one bullet per item on the real task page and from the diagrams, with every value shown as text."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from lxml import etree

from web.instructions import render

from .cc_answers import AFTER_WINDOW, ANSWERS, RAISE, RESPONSE

ROOT = Path(__file__).resolve().parents[2]


def _instructions_of(diagram: str, element_id: str) -> str:
    tree = etree.parse(str(ROOT / "processes" / diagram))
    [node] = tree.xpath(f"//*[@id='{element_id}']//*[local-name()='instructionsForEndUser']")
    return node.text


def _to_consultation(gov) -> int:
    instance_id = gov.start("change_control", "alice", RAISE).instance_id
    for element, who in [("validate", "carol"), ("triage", "carol"), ("impact_assessment", "will"),
                         ("amend", "carol"), ("issue_consultation", "carol")]:
        task = next(t for t in gov.tasks(who) if t.instance_id == instance_id and t.element_id == element)
        gov.complete(task.id, who, ANSWERS[element])
    return instance_id


def _bullets(html: str) -> list[str]:
    section = html.split('id="instructions"', 1)[1].split("</div>", 1)[0]
    return [re.sub(r"\s+", " ", item).strip() for item in re.findall(r"<li>(.*?)</li>", section, re.S)]


def test_the_review_task_shows_one_bullet_per_consultation_response(signed_in, web_gov, clock):
    instance_id = _to_consultation(web_gov)
    web_gov.send_message(instance_id, "consultation_response", "bob", RESPONSE)
    clock.set(AFTER_WINDOW)
    web_gov.fire_due_timers(AFTER_WINDOW)
    # a late response, with Markdown and HTML in it, restarts the review so that it is seen
    clock.set(AFTER_WINDOW + timedelta(hours=1))
    web_gov.send_message(instance_id, "consultation_response", "alice", {
        **RESPONSE, "respondent_organisation": "Northern <b>Power</b>", "position": "oppose",
        "comments": "**Too costly** <script>alert(1)</script>"})
    [task] = [t for t in web_gov.tasks("will") if t.instance_id == instance_id and t.element_id == "review"]

    page = signed_in("will").get(f"/tasks/{task.id}")
    assert page.status_code == 200
    html = page.data.decode()
    assert 'id="instructions-notice"' not in html
    assert _bullets(html) == [
        "Round 1, <strong>Small Energy Co</strong> (support): We support it.",
        "Round 1, <strong>Northern &lt;b&gt;Power&lt;/b&gt;</strong> (oppose, late): "
        "**Too costly** &lt;script&gt;alert(1)&lt;/script&gt;",
    ]
    assert "{%" not in html and "<script>alert" not in html
    assert "Review the 2 responses to the consultation on <strong>CR001: " in html


def test_the_review_instructions_with_no_responses_have_no_list():
    html = str(render(_instructions_of("change_control.bpmn", "review"),
                      {"consultation_responses": [], "reference": "CR001", "title": "T"}))
    assert "<li>" not in html and "{%" not in html and "<strong>CR001: T</strong>" in html


def test_the_amended_report_lists_each_amendment_request_and_marks_the_carried_ones():
    text = _instructions_of("meeting.bpmn", "issue_amended_report")
    html = str(render(text, {"title": "PSG 13 January 2027", "next_papers_due_on": "2027-02-03", "amendment_requests": [
        {"about": "Minutes", "agenda_item": "Item 3", "requested_change": "Record Ofgem's view.", "carried": False},
        {"about": "Actions", "agenda_item": "", "requested_change": "Add the owner_name _field_.", "carried": True},
    ]}))
    items = [re.sub(r"\s+", " ", i).strip() for i in re.findall(r"<li>(.*?)</li>", html, re.S)]
    assert items == ["Minutes (Item 3): Record Ofgem's view.",
                     "Actions: Add the owner_name _field_. (after the cut-off: carried to the following cycle)"]
    assert "<strong>PSG 13 January 2027</strong>" in html and "3 February 2027" in html


def test_the_review_lists_each_responses_documents_and_reads_dates_as_people_write_them():
    data = {"reference": "CR001", "title": "Faster settlement", "consultation_response_count": 2,
            "consultation_closed_at": "2027-01-15T17:00:00+00:00",
            "consultation_responses": [
                {"round": 1, "respondent_organisation": "Small Energy Co", "position": "support", "comments": "Yes.",
                 "documents": [{"id": 1, "name": "evidence.pdf", "size": 10, "type": "application/pdf"},
                               {"id": 2, "name": "costs.xlsx", "size": 20, "type": "application/vnd.ms-excel"}]},
                {"round": 1, "respondent_organisation": "Grid Co", "position": "oppose", "comments": "No."}]}
    html = str(render(_instructions_of("change_control.bpmn", "review"), data))
    assert _bullets('<div id="instructions">' + html + "</div>") == [
        "Round 1, <strong>Small Energy Co</strong> (support): Yes. Documents on the request page: evidence.pdf, "
        "costs.xlsx.",
        "Round 1, <strong>Grid Co</strong> (oppose): No.",
    ]
    assert "which closed on 15 January 2027, 17:00." in html
