"""Web fixtures: the Flask app over the shared `gov` fixture (tests/conftest.py), a test client, and sign-in helpers."""
from __future__ import annotations

import re

import pytest

import tests.conftest as shared_conftest
from tests.webhook_receiver import receiver  # noqa: F401 (a fixture: a real HTTP receiver for webhooks)


@pytest.fixture
def shared():
    """tests/conftest.py as a module: TEST_PASSWORD, PEOPLE, FIXTURES, make_govflow."""
    return shared_conftest


@pytest.fixture
def web_gov(gov):
    return gov


@pytest.fixture
def app(web_gov):
    from web.app import create_app
    return create_app(web_gov, TESTING=True, SECRET_KEY="test-secret-key")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def password(shared):
    return shared.TEST_PASSWORD


def csrf_of(html: str | bytes) -> str:
    text = html.decode() if isinstance(html, bytes) else html
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sign_in(client, username: str, password: str):
    token = csrf_of(client.get("/sign-in").data)
    return client.post("/sign-in", data={"username": username, "password": password, "csrf_token": token})


def token_from(client, path: str = "/") -> str:
    return csrf_of(client.get(path).data)


@pytest.fixture
def signed_in(client, password):
    """Sign the test client in as a person: signed_in("carol")."""
    def _sign_in(username: str):
        client.delete_cookie("govflow_session")  # whoever was signed in before is gone
        response = sign_in(client, username, password)
        assert response.status_code == 302, response.data[:500]
        return client
    return _sign_in


@pytest.fixture(name="csrf_of")
def csrf_of_fixture():
    return csrf_of


@pytest.fixture(name="sign_in")
def sign_in_fixture():
    return sign_in


@pytest.fixture(name="token_from")
def token_from_fixture():
    return token_from
