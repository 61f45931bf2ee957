"""Library fixtures: the Flask app over the shared `gov` fixture (tests/conftest.py), a signed-in test client, and
for the browser test a live server and Debian's headless Chromium (never a downloaded browser)."""
from __future__ import annotations

import re

import pytest

from tests.conftest import TEST_PASSWORD



def csrf_of(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "no CSRF token on the page"
    return found.group(1)


@pytest.fixture
def signed_in(client):
    """signed_in("ann") → the test client signed in as ann, with `client.csrf` set."""
    def _sign_in(username: str):
        client.delete_cookie("govflow_session")
        token = csrf_of(client.get("/sign-in").data)
        response = client.post("/sign-in", data={"username": username, "password": TEST_PASSWORD,
                                                 "csrf_token": token})
        assert response.status_code == 302, response.data[:500]
        client.csrf = csrf_of(client.get("/library/").data) if username != "alice" else token
        return client
    return _sign_in


@pytest.fixture
def page(browser):
    # the library's own Content-Security-Policy stays on: the editors must work under it
    context = browser.new_context()
    yield context.new_page()
    context.close()
