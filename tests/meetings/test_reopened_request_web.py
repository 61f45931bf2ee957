"""A change request reopened after an upheld appeal keeps its history: the reopened instance carries
the decisions taken before and names the instance it was reopened from; its request page shows them, and the
decision log's "Reopened" column links the two instances."""
from __future__ import annotations

import re

from ..scenarios.test_appeal import reopen_after_upheld_appeal


def test_the_reopened_request_page_shows_the_earlier_decisions(gov, clock, signed_in):
    cr, meeting, reopened = reopen_after_upheld_appeal(gov, clock, "Reopened.")

    client = signed_in("alice")  # the raiser
    page = client.get(f"/requests/{reopened}").get_data(as_text=True)
    raised_by = re.search(r'Raised by</dt>\s*<dd class="govuk-summary-list__value">([^<]*)</dd>', page).group(1)
    assert raised_by.strip() == "Alice Archer"  # the original raiser (by name), not the SRO who reopened it
    section = page[page.index('id="reopened-from"'):]
    assert "Reopened after appeal APP001" in section
    assert f'href="/requests/{cr}"' in section
    row = re.search(r'<table class="govuk-table" id="previous-decisions">.*?</table>', section, re.S).group(0)
    assert "PSG" in row and "Reject" in row and meeting.isoformat() in row
    assert 'id="reopened-from"' not in client.get(f"/requests/{cr}").get_data(as_text=True)

    client = signed_in("pat")
    log = client.get("/logs/decisions?q=CR001").get_data(as_text=True)
    assert f"Reopened after APP001 as instance {reopened}" in log
    assert f'href="/requests/{cr}"' in log  # the instance column links to the request
