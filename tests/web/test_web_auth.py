"""Sign-in, sign-out, session cookies and timeouts, CSRF refusal and the failed-login rate limit."""
from __future__ import annotations

from datetime import timedelta



def test_pages_need_sign_in(client):
    response = client.get("/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_sign_in_gives_a_fresh_secure_session_and_sign_out_ends_it(client, password, csrf_of):
    anonymous_token = csrf_of(client.get("/sign-in").data)
    response = client.post("/sign-in", data={"username": "carol", "password": password,
                                             "csrf_token": anonymous_token})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/")
    assert page.status_code == 200 and b"Carol Clarke" in page.data
    signed_in_token = csrf_of(page.data)
    assert signed_in_token != anonymous_token  # the session was replaced at sign-in
    response = client.post("/sign-out", data={"csrf_token": signed_in_token})
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_secure_cookie_over_https(client, password, csrf_of):
    token = csrf_of(client.get("/sign-in", base_url="https://localhost").data)
    response = client.post("/sign-in", base_url="https://localhost",
                           data={"username": "carol", "password": password, "csrf_token": token})
    assert "Secure" in response.headers["Set-Cookie"]


def test_wrong_password_is_refused_plainly(client, sign_in):
    response = sign_in(client, "carol", "wrong")
    assert response.status_code == 401 and b"The username or password is not right" in response.data
    assert client.get("/").status_code == 302


def test_post_without_csrf_token_is_refused(client, password, web_gov, sign_in):
    response = client.post("/sign-in", data={"username": "carol", "password": password})
    assert response.status_code == 400 and b"security token" in response.data
    sign_in(client, "alice", password)
    response = client.post("/requests/new/loop", data={"title": "No token here"})
    assert response.status_code == 400
    assert web_gov.tasks("carol") == []  # nothing was started


def test_sign_out_is_post_only(signed_in):
    client = signed_in("carol")
    assert client.get("/sign-out").status_code == 405
    assert client.get("/").status_code == 200


def test_rate_limit_after_five_failures(client, password, sign_in):
    for _ in range(5):
        assert sign_in(client, "carol", "nope").status_code == 401
    response = sign_in(client, "carol", password)  # even the right password waits
    assert response.status_code == 429 and b"too many times" in response.data
    assert sign_in(client, "alice", password).status_code == 302  # other usernames are not locked


def test_rate_limit_window_passes(app, client, password, sign_in):
    now = [1_000_000.0]
    app.config["WALL_CLOCK"] = lambda: now[0]
    for _ in range(5):
        sign_in(client, "carol", "nope")
    assert sign_in(client, "carol", password).status_code == 429
    now[0] += 15 * 60 + 1
    assert sign_in(client, "carol", password).status_code == 302


def test_idle_and_absolute_timeouts(app, client, password, sign_in):
    now = [1_000_000.0]
    app.config["WALL_CLOCK"] = lambda: now[0]
    sign_in(client, "carol", password)
    now[0] += 29 * 60
    assert client.get("/").status_code == 200
    now[0] += 31 * 60
    response = client.get("/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert b"timed out" in client.get("/sign-in").data
    sign_in(client, "carol", password)
    for _ in range(25):  # active all the time, but 12 hours is the most a session lives
        now[0] += 29 * 60
        client.get("/")
    assert client.get("/").status_code == 302


def test_next_only_goes_to_this_site(client, password, csrf_of):
    token = csrf_of(client.get("/sign-in").data)
    response = client.post("/sign-in?next=//evil.example/x", data={"username": "carol", "password": password,
                                                                   "csrf_token": token})
    assert response.headers["Location"] == "/"


def test_security_headers(signed_in):
    response = signed_in("carol").get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"


def test_secret_key_is_made_once_and_private(tmp_path, web_gov, monkeypatch):
    import os
    from web.app import create_app
    monkeypatch.delenv("GOVFLOW_SECRET_KEY", raising=False)
    first = create_app(web_gov).config["SECRET_KEY"]
    second = create_app(web_gov).config["SECRET_KEY"]
    key_file = web_gov.config.instance_dir / "secret_key"
    assert first == second and key_file.exists() and os.stat(key_file).st_mode & 0o077 == 0
