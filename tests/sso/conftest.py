"""A real OpenID provider (npm's oidc-provider, run with node) for the single sign-on tests, and the web app
configured to use it."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID, CLIENT_SECRET = "govflow", "govflow-test-client-secret"
CALLBACK = "http://localhost/sign-in/sso/callback"  # the Flask test client's host
PEOPLE = {
    "dora": {"preferred_username": "dora", "name": "Dora Dean", "email": "dora@example.org",
             "groups": ["change-control"]},
    "gus": {"preferred_username": "gus", "name": "Gus Green", "email": "gus@example.org", "groups": ["visitors"]},
    "dora-elsewhere": {"preferred_username": "dora", "name": "Another Dora", "email": "dora2@example.org",
                       "groups": ["change-control"]},  # another person at the provider, whose username is dora's
    "alice": {"preferred_username": "alice", "name": "Alice Impostor", "email": "x@example.org",
              "groups": ["govflow-admins"]},
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def oidc_provider():
    """The provider's issuer URL; the node process is stopped after the session."""
    if shutil.which("node") is None or not (ROOT / "node_modules" / "oidc-provider").exists():
        pytest.fail("node and npm's oidc-provider are needed (make assets installs the npm packages)")
    port = _free_port()
    env = dict(os.environ, OIDC_PORT=str(port), OIDC_PEOPLE=json.dumps(PEOPLE), OIDC_CLIENT_ID=CLIENT_ID,
               OIDC_CLIENT_SECRET=CLIENT_SECRET, OIDC_REDIRECT_URI=CALLBACK,
               OIDC_POST_LOGOUT_URI="http://localhost/sign-in", NODE_ENV="test")
    process = subprocess.Popen(["node", str(Path(__file__).with_name("provider.mjs"))], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "ready" in line:
            break
        if process.poll() is not None:
            raise RuntimeError(f"the OpenID provider did not start: {line}{process.stdout.read()}")
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(10)


@pytest.fixture
def sso_app(gov, oidc_provider):
    from web.app import create_app
    return create_app(gov, TESTING=True, SECRET_KEY="test-secret-key", OIDC_ISSUER=oidc_provider,
                      OIDC_CLIENT_ID=CLIENT_ID, OIDC_CLIENT_SECRET=CLIENT_SECRET)
