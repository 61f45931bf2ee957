"""Single sign-on against a real OpenID provider (npm's oidc-provider): authorization code with PKCE, roles from
claims (processes/sso.yaml), accounts made just in time, a tampered ID token refused, sessions that expire, sign-out
at the provider, local passwords turned off."""
from __future__ import annotations

import base64
import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc.errors import BadSignatureError, InvalidClaimError

from engine.errors import Forbidden
from tests.conftest import TEST_PASSWORD
from tests.web.conftest import csrf_of


def provider_sign_in(authorize_url: str, login: str) -> str:
    """Drive the provider's own login and consent pages as a person would; returns the callback URL it sends the
    browser back to (with the code)."""
    browser = requests.Session()
    url = authorize_url
    for _ in range(12):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code in (302, 303):
            url = urljoin(url, response.headers["Location"])
            if url.startswith("http://localhost/"):
                return url
            continue
        page = response.text
        action = urljoin(url, re.search(r'<form[^>]*action="([^"]+)"', page).group(1))
        fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
        if 'name="login"' in page:
            fields.update(login=login, password="any")
        response = browser.post(action, data=fields, allow_redirects=False, timeout=10)
        url = urljoin(action, response.headers["Location"])
        if url.startswith("http://localhost/"):
            return url
    raise AssertionError(f"the provider never sent the browser back: {url}")


def start(client) -> str:
    page = client.get("/sign-in")
    assert b"Sign in with your organisation" in page.data
    response = client.post("/sign-in/sso", data={"csrf_token": csrf_of(page.data)})
    assert response.status_code == 302
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"]  # PKCE
    assert query["nonce"] and query["state"]
    return location


def sign_in_via_provider(client, login: str):
    back = provider_sign_in(start(client), login)
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def test_sign_in_makes_the_account_with_roles_from_its_groups(sso_app, gov):
    client = sso_app.test_client()
    response = sign_in_via_provider(client, "dora")
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    assert client.get("/").status_code == 200
    account = gov.accounts.find("dora")
    assert account.name == "Dora Dean" and account.roles == {"change_control_manager", "participant"}
    assert "administer" in account.capabilities


def test_no_mapped_group_and_no_taking_over_a_local_account(sso_app, gov):
    refused = sign_in_via_provider(sso_app.test_client(), "gus")
    assert refused.status_code == 403 and b"None of your groups" in refused.data
    assert gov.accounts.find("gus") is None
    taken = sign_in_via_provider(sso_app.test_client(), "alice")  # alice has a local password
    assert taken.status_code == 403 and b"local account" in taken.data
    assert gov.accounts.find("alice").roles == {"participant"}


def test_a_tampered_id_token_is_refused(sso_app, oidc_provider):
    client = sso_app.test_client()
    back = provider_sign_in(start(client), "dora")
    code = parse_qs(urlsplit(back).query)["code"][0]
    with client.session_transaction() as session:
        state = next(v for k, v in session.items() if k.startswith("_state_provider_"))
    verifier, nonce = state["data"]["code_verifier"], state["data"]["nonce"]
    metadata = requests.get(oidc_provider + "/.well-known/openid-configuration", timeout=10).json()
    token = requests.post(metadata["token_endpoint"], timeout=10, auth=("govflow", "govflow-test-client-secret"),
                          data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                "redirect_uri": "http://localhost/sign-in/sso/callback"}).json()
    from web import sso
    with sso_app.test_request_context():
        assert sso.verified_claims(token, nonce)["preferred_username"] == "dora"  # the real one passes
        header, payload, signature = token["id_token"].split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["groups"] = ["govflow-admins"]
        forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        with pytest.raises(BadSignatureError):
            sso.verified_claims({**token, "id_token": f"{header}.{forged}.{signature}"}, nonce)
        with pytest.raises(InvalidClaimError):  # another sign-in's nonce
            sso.verified_claims(token, "not-this-nonce")


def test_a_session_from_single_sign_on_expires(sso_app):
    now = [1_000_000.0]
    sso_app.config["WALL_CLOCK"] = lambda: now[0]
    client = sso_app.test_client()
    assert sign_in_via_provider(client, "dora").status_code == 302
    assert client.get("/").status_code == 200
    now[0] += sso_app.config["IDLE_TIMEOUT"].total_seconds() + 1
    expired = client.get("/")
    assert expired.status_code == 302 and "/sign-in" in expired.headers["Location"]


def test_sign_out_ends_the_session_here_and_at_the_provider(sso_app, oidc_provider):
    client = sso_app.test_client()
    sign_in_via_provider(client, "dora")
    token = csrf_of(client.get("/").data)
    out = client.post("/sign-out", data={"csrf_token": token})
    assert out.status_code == 302 and out.headers["Location"].startswith(oidc_provider)
    assert "id_token_hint=" in out.headers["Location"]
    assert client.get("/").status_code == 302


def test_local_passwords_can_be_turned_off(sso_app):
    sso_app.config["LOCAL_PASSWORDS"] = False
    client = sso_app.test_client()
    page = client.get("/sign-in")
    assert b'name="password"' not in page.data
    refused = client.post("/sign-in", data={"username": "alice", "password": TEST_PASSWORD,
                                            "csrf_token": csrf_of(page.data)})
    assert refused.status_code == 403
    assert client.get("/").status_code == 302  # not signed in


def _audited(gov, action: str) -> list[dict]:
    from sqlalchemy import select

    from engine.store.models import AuditEvent
    with gov.db.read() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


def test_the_account_is_matched_by_the_providers_subject_not_a_reused_username(sso_app, gov, oidc_provider):
    assert sign_in_via_provider(sso_app.test_client(), "dora").status_code == 302  # made and linked to sub dora
    assert sign_in_via_provider(sso_app.test_client(), "dora").status_code == 302  # found by its subject
    other = sign_in_via_provider(sso_app.test_client(), "dora-elsewhere")  # same username, another subject
    assert other.status_code == 403 and "belongs to another person at the identity provider" in other.data.decode()
    assert gov.accounts.find("dora").name == "Dora Dean"  # not taken over, not renamed
    refused = [d for d in _audited(gov, "user.sign_in_failed") if d.get("subject") == "dora-elsewhere"]
    assert refused and "belongs to another person" in refused[0]["reason"]
    assert [d["subject"] for d in _audited(gov, "user.created") if d.get("username") == "dora"] == ["dora"]


def test_an_existing_account_is_linked_by_username_once_then_found_by_subject(gov):
    from engine.services.identity import NewUser
    gov.add_user(NewUser("erin", "Erin Evans", "erin@example.org", "", ("participant",), None, None))
    issuer = "https://idp.example.org"
    claims = {"sub": "s-123", "preferred_username": "erin", "name": "Erin Evans", "groups": ["pmo"]}
    assert gov.sso.sign_in(claims, issuer).username == "erin"
    assert _audited(gov, "user.sso_linked") == [{"username": "erin", "issuer": issuer, "subject": "s-123"}]
    renamed = gov.sso.sign_in(dict(claims, preferred_username="erin.evans"), issuer)  # renamed at the provider
    assert renamed.username == "erin" and len(_audited(gov, "user.sso_linked")) == 1
    with pytest.raises(Forbidden, match="belongs to another person"):
        gov.sso.sign_in(dict(claims, sub="s-999"), issuer)
    with pytest.raises(Forbidden, match="belongs to another person"):
        gov.sso.sign_in(claims, "https://another-idp.example.org")  # the same sub from another issuer is another
    with pytest.raises(Forbidden, match="no usable subject"):
        gov.sso.sign_in({k: v for k, v in claims.items() if k != "sub"}, issuer)
