"""API fixtures: the web application (which mounts the API at /api/v1) over the shared `gov`, a test client, and
tokens for the test people."""
from __future__ import annotations

import pytest

from tests.conftest import TEST_PASSWORD
from tests.web.conftest import sign_in, token_from
from tests.webhook_receiver import receiver  # noqa: F401 (a fixture: a real HTTP receiver for webhooks)


@pytest.fixture
def bearer(gov):
    """bearer("carol", "read", "work") → the Authorization header of a new personal token of carol's."""
    def make(username: str, *scopes: str, **options) -> dict:
        secret, _made = gov.tokens.issue(username, f"{username}'s test token", list(scopes or ("read", "work")),
                                         **options)
        return {"Authorization": f"Bearer {secret}"}
    return make


@pytest.fixture
def browser_session(client):
    """Sign the test client in through the web's form; returns the session's CSRF token."""
    def _sign_in(username: str) -> str:
        assert sign_in(client, username, TEST_PASSWORD).status_code == 302
        return token_from(client, "/")
    return _sign_in
