"""Browser fixtures (the same set-up as tests/web): the Flask app over the shared `gov` fixture (tests/conftest.py), a test client, and sign-in helpers.

If `govflow.init()` cannot deploy processes/ yet (the change-control diagram is still being drawn), `web_gov` falls
back to the same set-up without init's deploy of processes/: roles, groups, the test people and the fixture processes.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine.definitions import DeploymentError
from engine.identity import NewUser

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _root(config):
    for plugin in config.pluginmanager.get_plugins():
        if getattr(plugin, "__file__", None) and Path(plugin.__file__).resolve() == ROOT_CONFTEST:
            return plugin
    raise RuntimeError("tests/conftest.py is not loaded")


@pytest.fixture
def shared(request):
    """tests/conftest.py as a module: TEST_PASSWORD, PEOPLE, FIXTURES, make_govflow."""
    return _root(request.config)


@pytest.fixture
def web_gov(request, database_url, tmp_path, clock, shared):
    try:
        return request.getfixturevalue("gov")
    except DeploymentError:
        pass
    from engine import governance, identity, schema
    govflow = shared.make_govflow(database_url, tmp_path, clock)
    schema.upgrade(govflow.db)
    processes = govflow.config.processes_dir
    with govflow.db.write() as session:
        identity.load_roles(session, processes / "roles.yaml")
    with govflow.db.write() as session:
        governance.load_groups(session, processes / "governance-groups.yaml")
    for username, name, roles, organisation, constituency in shared.PEOPLE:
        govflow.add_user(NewUser(username, name, f"{username}@example.org", shared.TEST_PASSWORD, tuple(roles),
                                 organisation, constituency))
    govflow.deploy([shared.FIXTURES / "processes"], forms_dir=shared.FIXTURES / "forms", note="test fixtures")
    request.addfinalizer(govflow.db.dispose)
    return govflow


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




@pytest.fixture
def live_server(app):
    """The app on a real HTTP server thread on 127.0.0.1 (a free port)."""
    import threading
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)


@pytest.fixture
def page(browser):
    # axe-core is injected as an inline script, which our Content-Security-Policy would rightly block
    context = browser.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()
