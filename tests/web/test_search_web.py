"""The header's search: requests, escalations and appeals a person may read, by reference, title or (for staff)
any answer, and the logs for who may read them; nothing a person may not read."""
from __future__ import annotations

from tests.scenarios.change_control_driver import ChangeRequest
from tests.web.page_text import text_of


def test_search_finds_what_a_person_may_read(signed_in, web_gov, clock):
    mine = ChangeRequest(web_gov, clock, title="Publish run timetables earlier")
    theirs = ChangeRequest(web_gov, clock, raiser="bob", title="Bulk-appoint agents")
    alice = signed_in("alice")
    page = alice.get("/search/?q=timetables").data.decode()
    assert 'id="header-search"' in page
    assert "Publish run timetables earlier" in text_of(page, "results")
    assert "Bulk-appoint" not in alice.get("/search/?q=Bulk").data.decode()  # bob's, not open to the industry
    # a participant finds by reference or title; staff by any answer too
    assert "Publish run" not in text_of(alice.get("/search/?q=Qualification+testing").data, "results")
    carol = signed_in("carol")
    assert "Bulk-appoint agents" in text_of(carol.get("/search/?q=Qualification+testing").data, "results")
    assert "Type at least two characters" in carol.get("/search/?q=x").data.decode()
    assert mine.id != theirs.id


def test_search_reaches_the_logs_for_who_may_read_them(signed_in, web_gov, clock):
    web_gov.logs.save_raid("pat", {"type": "risk", "title": "Wave 2 testing capacity", "group_id": "PSG",
                                   "owner": "PMO", "rag": "amber", "status": "open"})
    found = text_of(signed_in("pat").get("/search/?q=capacity").data, "results")
    assert "RAID log" in found and "Wave 2 testing capacity" in found
    assert "Wave 2 testing" not in signed_in("alice").get("/search/?q=capacity").data.decode()
