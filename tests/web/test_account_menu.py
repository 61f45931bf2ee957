"""The signed-in bar's account links: every signed-in person reaches their API tokens from any page."""
from __future__ import annotations

from tests.web.page_text import text_of


def test_every_signed_in_person_finds_their_api_tokens(signed_in, client):
    assert 'id="api-tokens"' not in client.get("/sign-in").data.decode()  # nobody signed in: no account links
    for username in ("alice", "olive", "admin"):
        person = signed_in(username)
        page = person.get("/").data.decode()
        assert 'href="/account/tokens/" id="api-tokens"' in page
        assert text_of(page, "api-tokens") == "API tokens"
        tokens = person.get("/account/tokens/")
        assert tokens.status_code == 200 and 'id="api-tokens" aria-current="page"' in tokens.data.decode()
