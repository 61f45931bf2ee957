"""HTTPS and the proxies in front (SQLite and PostgreSQL): Strict-Transport-Security on every HTTPS response, served
directly or through a trusted proxy's X-Forwarded-Proto; a forged X-Forwarded-* from anywhere else changes nothing
(no HSTS, no Secure cookie, no other client address to escape the sign-in limit)."""
from __future__ import annotations

import pytest

from web.app import create_app
from web.proxies import TrustedProxies, hops, networks

HSTS = "Strict-Transport-Security"
PROXY = "10.1.2.3"
STRANGER = "203.0.113.9"
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7", "X-Forwarded-Host": "evil.example"}


def app_with(gov, **config):
    return create_app(gov, TESTING=True, SECRET_KEY="test-secret-key", **config)


def sign_in_from(client, password, csrf_of, address, headers=None, username="carol", secret=None):
    environ = {"REMOTE_ADDR": address}
    page = client.get("/sign-in", environ_base=environ, headers=headers or {})
    return client.post("/sign-in", environ_base=environ, headers=headers or {},
                       data={"username": username, "password": secret or password,
                             "csrf_token": csrf_of(page.data)})


def last_sign_in(gov) -> dict:
    from sqlalchemy import select
    from engine.store.models import AuditEvent
    with gov.db.read() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.signed_in")
                                .order_by(AuditEvent.id.desc())).first()
        return dict(event.details or {})


def test_plain_http_has_no_hsts(client):
    assert HSTS not in client.get("/sign-in").headers


def test_direct_https_has_hsts_on_every_response(client, password, csrf_of):
    page = client.get("/sign-in", base_url="https://localhost")
    assert page.headers[HSTS] == "max-age=31536000"
    response = client.post("/sign-in", base_url="https://localhost",
                           data={"username": "carol", "password": password, "csrf_token": csrf_of(page.data)})
    assert response.headers[HSTS] == "max-age=31536000" and "Secure" in response.headers["Set-Cookie"]
    assert client.get("/static/does-not-exist.css", base_url="https://localhost").headers[HSTS]
    assert client.get("/no-such-page", base_url="https://localhost").headers[HSTS]
    assert client.get("/api/v1/openapi.json", base_url="https://localhost").headers[HSTS] == "max-age=31536000"
    assert HSTS not in client.get("/api/v1/openapi.json").headers


def test_a_trusted_proxy_says_https_and_who_the_client_is(web_gov, password, csrf_of):
    app = app_with(web_gov, TRUSTED_PROXIES=f"{PROXY}, 192.0.2.0/24")
    client = app.test_client()
    response = sign_in_from(client, password, csrf_of, PROXY, FORGED)
    assert response.status_code == 302
    assert response.headers[HSTS] == "max-age=31536000" and "Secure" in response.headers["Set-Cookie"]
    assert last_sign_in(web_gov)["ip"] == "198.51.100.7"  # the client the proxy saw, not the proxy
    assert response.headers["Location"] == "/"
    other = app.test_client()
    assert sign_in_from(other, password, csrf_of, "192.0.2.77", FORGED).headers[HSTS]  # a network, too
    api = client.get("/api/v1/openapi.json", environ_base={"REMOTE_ADDR": PROXY}, headers=FORGED)
    assert api.headers[HSTS] == "max-age=31536000"  # the API behind the same proxy


@pytest.mark.parametrize("trusted", ["", f"{PROXY}"])
def test_a_forged_forwarded_header_from_elsewhere_changes_nothing(web_gov, password, csrf_of, trusted):
    app = app_with(web_gov, TRUSTED_PROXIES=trusted)
    client = app.test_client()
    response = sign_in_from(client, password, csrf_of, STRANGER, FORGED)
    assert response.status_code == 302
    assert HSTS not in response.headers and "Secure" not in response.headers["Set-Cookie"]
    assert last_sign_in(web_gov)["ip"] == STRANGER
    api = client.get("/api/v1/openapi.json", environ_base={"REMOTE_ADDR": STRANGER}, headers=FORGED)
    assert HSTS not in api.headers
    # nor does a forged client address escape the failed sign-in limit
    client = app.test_client()
    for n in range(5):
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        assert sign_in_from(client, password, csrf_of, STRANGER, headers, "alice", "wrong").status_code == 401
    assert sign_in_from(client, password, csrf_of, STRANGER, {"X-Forwarded-For": "198.51.100.99"},
                        "alice").status_code == 429


def test_the_proxy_settings_are_checked_when_the_web_starts(web_gov, monkeypatch):
    with pytest.raises(ValueError, match="'proxy.example' is not an IP address or network"):
        app_with(web_gov, TRUSTED_PROXIES="127.0.0.1, proxy.example")
    with pytest.raises(ValueError, match="GOVFLOW_PROXY_HOPS: '0' is not a number of proxies from 1 to 5"):
        app_with(web_gov, TRUSTED_PROXIES="127.0.0.1", PROXY_HOPS="0")
    monkeypatch.setenv("GOVFLOW_BEHIND_PROXY", "1")
    with pytest.raises(ValueError, match="GOVFLOW_TRUSTED_PROXIES"):
        app_with(web_gov)


def test_the_middleware_reads_addresses_and_hops():
    assert [str(n) for n in networks(" 127.0.0.1 ,10.0.0.0/8,::1,")] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    assert networks("") == ()
    assert hops(None) == 1 and hops("2") == 2
    with pytest.raises(ValueError):
        hops("two")
    seen = {}

    def inner(environ, start_response):
        seen.update(environ)
        return []

    middleware = TrustedProxies(inner, networks("10.0.0.0/8"), 2)
    assert middleware.is_trusted("::ffff:10.9.9.9") and not middleware.is_trusted("11.0.0.1")
    assert not middleware.is_trusted("") and not middleware.is_trusted("not an address")
    environ = {"REMOTE_ADDR": "10.0.0.1", "wsgi.url_scheme": "http", "HTTP_X_FORWARDED_FOR": "198.51.100.1, 10.0.0.9",
               "HTTP_X_FORWARDED_PROTO": "https, https", "HTTP_HOST": "inside"}
    middleware(dict(environ), lambda *a: None)
    assert seen["REMOTE_ADDR"] == "198.51.100.1" and seen["wsgi.url_scheme"] == "https"  # two hops back
    seen.clear()
    middleware({**environ, "REMOTE_ADDR": "172.16.0.1", "HTTP_FORWARDED": "for=1.2.3.4;proto=https"},
               lambda *a: None)
    assert seen["REMOTE_ADDR"] == "172.16.0.1" and seen["wsgi.url_scheme"] == "http"
    assert not any(key.startswith(("HTTP_X_FORWARDED", "HTTP_FORWARDED")) for key in seen)
