"""Ending sessions at once (SQLite and PostgreSQL): a session cookie copied before sign-out, a new password or
deactivation no longer opens anything, on this device or any other, whether the change came from the person, the
web or an operator's `govflow users …` command."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from engine.errors import FormInvalid, NotFound

COOKIE = "govflow_session"
NEW_PASSWORD = "plaice tundra ribbon lantern"


def saved_cookie(client) -> str:
    found = client.get_cookie(COOKIE)
    assert found is not None, "no session cookie"
    return found.value


def replay(app, cookie: str):
    """A fresh browser that only has the saved cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other


def opens_inbox(client) -> bool:
    """Whether this browser's session still opens the inbox, and the API agrees."""
    api = client.get("/api/v1/tasks")  # first: the web's answer to an ended session clears the cookie
    response = client.get("/")
    if response.status_code == 302:
        assert "/sign-in" in response.headers["Location"]
        assert api.status_code == 401, api.status_code
        return False
    assert response.status_code == 200 and api.status_code == 200, (response.status_code, api.status_code)
    return True


def audited(gov, action: str, username: str) -> list[dict]:
    with gov.db.read() as session:
        from sqlalchemy import select
        from engine.store.models import AuditEvent
        rows = session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()
        return [{"actor": r.actor, **(r.details or {})} for r in rows
                if r.actor == username or (r.details or {}).get("username") == username]


def test_a_cookie_saved_before_sign_out_no_longer_opens_the_inbox(app, signed_in, token_from):
    client = signed_in("carol")
    cookie = saved_cookie(client)
    assert opens_inbox(replay(app, cookie))  # a copy of the cookie works while the session lasts
    assert client.post("/sign-out", data={"csrf_token": token_from(client)}).status_code == 302
    assert not opens_inbox(client)
    thief = replay(app, cookie)
    assert not opens_inbox(thief)
    assert thief.get("/requests/").status_code == 302
    assert thief.post("/sign-out", data={"csrf_token": "x"}).status_code in (302, 400)


def test_signing_out_ends_the_sessions_on_other_devices_too(app, password, sign_in, token_from):
    laptop, phone = app.test_client(), app.test_client()
    assert sign_in(laptop, "alice", password).status_code == 302
    assert sign_in(phone, "alice", password).status_code == 302
    laptop.post("/sign-out", data={"csrf_token": token_from(laptop)})
    told = phone.get("/", follow_redirects=True)
    assert b"you signed out on another device, or your password was changed" in told.data
    assert not opens_inbox(phone)
    assert sign_in(phone, "alice", password).status_code == 302 and opens_inbox(phone)  # signing in again works
    bob = app.test_client()
    assert sign_in(bob, "bob", password).status_code == 302
    assert opens_inbox(bob)  # only alice's sessions ended


def test_a_new_password_from_an_administrator_ends_every_session(app, web_gov, signed_in, sign_in, password):
    client = signed_in("alice")
    cookie = saved_cookie(client)
    web_gov.accounts.change_password("alice", NEW_PASSWORD, "admin")
    assert not opens_inbox(client) and not opens_inbox(replay(app, cookie))
    fresh = app.test_client()
    assert sign_in(fresh, "alice", password).status_code == 401  # the old password is gone
    assert sign_in(fresh, "alice", NEW_PASSWORD).status_code == 302 and opens_inbox(fresh)
    assert audited(web_gov, "user.password_changed", "alice")[0]["actor"] == "admin"


def test_changing_my_own_password_on_the_web(app, web_gov, signed_in, sign_in, token_from, password):
    client = signed_in("bob")
    cookie = saved_cookie(client)
    page = client.get("/account/password")
    assert page.status_code == 200 and b"Change your password" in page.data
    token = token_from(client, "/account/password")

    def post(current, new, again=None):
        return client.post("/account/password", data={"csrf_token": token, "current_password": current,
                                                      "new_password": new, "confirm_password": again or new})

    wrong = post("not my password", NEW_PASSWORD)
    assert wrong.status_code == 422 and b"Your current password is not right" in wrong.data
    short = post(password, "short")
    assert short.status_code == 422 and b"at least 12 characters" in short.data
    assert post(password, "bob", "bob").status_code == 422
    mismatch = post(password, NEW_PASSWORD, NEW_PASSWORD + "!")
    assert mismatch.status_code == 422 and b"not the same" in mismatch.data
    assert opens_inbox(client)  # nothing changed yet
    done = post(password, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/sign-in"
    assert not opens_inbox(client) and not opens_inbox(replay(app, cookie))
    assert sign_in(app.test_client(), "bob", password).status_code == 401
    assert sign_in(client, "bob", NEW_PASSWORD).status_code == 302 and opens_inbox(client)
    assert audited(web_gov, "user.password_changed", "bob")[0]["actor"] == "bob"


def test_guessing_the_current_password_is_limited_like_signing_in(signed_in, token_from, password):
    client = signed_in("alice")
    token = token_from(client, "/account/password")
    form = {"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    for n in range(5):
        assert client.post("/account/password", data={**form, "current_password": f"guess {n}"}).status_code == 422
    refused = client.post("/account/password", data={**form, "current_password": password})
    assert refused.status_code == 429 and b"wrong too many times" in refused.data
    assert opens_inbox(client)  # the password did not change


def test_deactivation_ends_every_session_and_reactivation_brings_none_back(app, web_gov, signed_in, sign_in,
                                                                           password):
    client = signed_in("will")
    cookie = saved_cookie(client)
    web_gov.accounts.deactivate("will", "admin", "left the programme")
    assert not opens_inbox(replay(app, cookie))
    assert sign_in(app.test_client(), "will", password).status_code == 401
    web_gov.accounts.activate("will", "admin")
    assert not opens_inbox(replay(app, cookie))  # the old session stays ended
    fresh = app.test_client()
    assert sign_in(fresh, "will", password).status_code == 302 and opens_inbox(fresh)
    assert audited(web_gov, "user.deactivated", "will")[0]["reason"] == "left the programme"
    assert audited(web_gov, "user.activated", "will")


def test_the_account_operations_refuse_bad_input_plainly(web_gov):
    with pytest.raises(FormInvalid, match="at least 12 characters"):
        web_gov.accounts.change_password("alice", "tiny", "admin")
    with pytest.raises(NotFound, match="no user called 'nobody'"):
        web_gov.accounts.deactivate("nobody", "admin")
    with pytest.raises(NotFound):
        web_gov.accounts.end_sessions("nobody", "admin")


@pytest.fixture
def cli(web_gov, monkeypatch):
    """`govflow …` on the web's database."""
    from cli.commands import govflow
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", web_gov.config.database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(web_gov.config.instance_dir))
    runner = CliRunner()

    def invoke(*args, ok=True):
        result = runner.invoke(govflow, list(args), catch_exceptions=False)
        assert (result.exit_code == 0) == ok, result.output + result.stderr
        return result
    return invoke


def test_an_operator_ends_sessions_from_the_command_line(app, web_gov, signed_in, sign_in, password, cli):
    client = signed_in("pat")
    cli("users", "sign-out", "pat", "--by", "admin", "--reason", "laptop lost")
    assert not opens_inbox(client)
    assert audited(web_gov, "user.sessions_ended", "pat")[0]["reason"] == "laptop lost"

    client = signed_in("pat")
    cli("users", "password", "pat", "--password", NEW_PASSWORD, "--by", "admin")
    assert not opens_inbox(client)
    assert sign_in(app.test_client(), "pat", NEW_PASSWORD).status_code == 302

    client = signed_in("alice")
    cli("users", "deactivate", "alice", "--by", "admin")
    assert not opens_inbox(client)
    assert {u["username"]: u["active"] for u in web_gov.users()}["alice"] is False
    cli("users", "activate", "alice")
    assert sign_in(app.test_client(), "alice", password).status_code == 302

    weak = cli("users", "password", "alice", "--password", "weak", ok=False)
    assert "at least 12 characters" in weak.stderr
    unknown = cli("users", "deactivate", "nobody", ok=False)
    assert "no user called 'nobody'" in unknown.stderr
