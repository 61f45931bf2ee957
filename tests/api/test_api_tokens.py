"""API tokens: hashed at rest, shown once, scoped, expiring, revocable, rate limited, every use audited; made and
revoked in the CLI and the browser."""
from __future__ import annotations

import json
import re
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from sqlalchemy import event, select

from engine.errors import Forbidden, FormInvalid
from engine.store.models import ApiToken, AuditEvent
from tests.api.test_api_work import raise_cr, validate_task
from tests.web.cc_answers import ANSWERS


def test_the_secret_is_kept_only_as_its_hash_and_never_listed(gov):
    secret, made = gov.tokens.issue("alice", "Jira", ["read"])
    assert secret.startswith("gft_") and len(secret) > 40
    with gov.db.read() as session:
        row = session.scalars(select(ApiToken)).one()
        stored = json.dumps({c.name: str(getattr(row, c.name)) for c in ApiToken.__table__.columns})
    assert secret not in stored and secret[10:] not in stored
    listed = gov.tokens.listing("alice")
    assert [t["id"] for t in listed] == [made["id"]] and secret not in json.dumps(listed)


def test_a_token_acts_as_its_person_within_its_scopes(client, bearer):
    reader = bearer("carol", "read")
    assert client.get("/api/v1/tasks", headers=reader).status_code == 200
    refused = client.post("/api/v1/instances", headers=reader, json={"process_id": "change_control", "data": {}})
    assert refused.status_code == 403
    assert "'work' scope" in refused.json["detail"]
    assert refused.headers["Content-Type"] == "application/problem+json"


def test_no_unknown_expired_or_revoked_token_gets_in(gov, client, bearer, clock):
    assert client.get("/api/v1/tasks").status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer gft_not-a-token"}).status_code == 401
    assert client.get("/api/v1/tasks", headers={"Authorization": "Basic abc"}).status_code == 401
    header = bearer("alice", "read", days=1)
    assert client.get("/api/v1/tasks", headers=header).status_code == 200
    clock.advance(days=1, seconds=1)
    expired = client.get("/api/v1/tasks", headers=header)
    assert expired.status_code == 401 and "expired" in expired.json["detail"]
    header = bearer("alice", "read")
    token_id = gov.tokens.listing("alice")[-1]["id"]
    gov.tokens.revoke(token_id, "alice", "leaked")
    revoked = client.get("/api/v1/tasks", headers=header)
    assert revoked.status_code == 401 and "revoked" in revoked.json["detail"]


def test_every_use_is_audited(gov, client, bearer):
    header = bearer("alice", "read")
    client.get("/api/v1/tasks?tab=groups", headers=header)
    client.get("/api/v1/notifications", headers=header)
    with gov.db.read() as session:
        uses = session.scalars(select(AuditEvent).where(AuditEvent.action == "token.used")
                               .order_by(AuditEvent.id)).all()
    assert [(u.actor, u.details["method"], u.details["path"]) for u in uses] == [
        ("alice", "GET", "/api/v1/tasks?tab=groups"), ("alice", "GET", "/api/v1/notifications")]


def token_uses(gov) -> list[tuple[str, str]]:
    with gov.db.read() as session:
        return [(u.details["method"], u.details["path"]) for u in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "token.used").order_by(AuditEvent.id))]


@contextmanager
def transactions_committed(gov):
    """The list of transactions committed inside the block (SQLAlchemy's 'commit' on the engine; reads roll back)."""
    committed: list[object] = []

    def count(connection):
        committed.append(connection)
    event.listen(gov.db.engine, "commit", count)
    try:
        yield committed
    finally:
        event.remove(gov.db.engine, "commit", count)


def test_a_commands_use_is_recorded_in_its_own_transaction_and_a_refused_ones_still_is(gov, client, bearer):
    alice, carol = bearer("alice"), bearer("carol")
    made = raise_cr(client, alice)
    task = validate_task(client, carol, made["instance_id"])
    refused = client.post(f"/api/v1/tasks/{task['id']}/complete", headers=carol, json={"data": {"valid": "perhaps"}})
    assert refused.status_code == 422
    path = f"/api/v1/tasks/{task['id']}/complete"
    assert token_uses(gov)[-1] == ("POST", path), "a refused command's use is still counted and audited"
    before = len(token_uses(gov))
    done = client.post(path, headers=carol, json={"data": ANSWERS["validate"]})
    assert done.status_code == 200 and token_uses(gov)[before:] == [("POST", path)]
    with gov.db.read() as session:
        completed, used = (session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                          .order_by(AuditEvent.id.desc())).first()
                           for action in ("task.completed", "token.used"))
    assert used.id > completed.id and used.at == completed.at, "written last, in the command's transaction"


def test_completing_through_the_api_commits_no_more_transactions_than_the_service_itself(gov, client, bearer):
    carol = bearer("carol")
    first, second = (raise_cr(client, bearer("alice")) for _ in range(2))
    by_api, by_service = (validate_task(client, carol, made["instance_id"]) for made in (first, second))
    gov.effects.wait_idle()
    with transactions_committed(gov) as by_api_committed:  # the command's, and its announcement's after the response
        assert client.post(f"/api/v1/tasks/{by_api['id']}/complete", headers=carol,
                           json={"data": ANSWERS["validate"]}).status_code == 200
        gov.effects.wait_idle()
    with transactions_committed(gov) as by_service_committed:  # the command's, and its announcement's on the worker
        gov.complete(by_service["id"], "carol", ANSWERS["validate"])
        gov.effects.wait_idle()
    assert 1 <= len(by_api_committed) <= len(by_service_committed), "the use rides in the command's transaction"


def test_each_token_has_its_own_rate_limit(client, bearer, clock):
    limited, other = bearer("alice", "read", rate_limit=3), bearer("alice", "read")
    assert [client.get("/api/v1/notifications", headers=limited).status_code for _ in range(4)] == [200] * 3 + [429]
    refused = client.get("/api/v1/notifications", headers=limited)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/api/v1/notifications", headers=other).status_code == 200  # another token is not limited
    clock.advance(seconds=61)
    assert client.get("/api/v1/notifications", headers=limited).status_code == 200


def test_service_tokens_are_for_whoever_may_integrate(gov, client):
    with pytest.raises(Forbidden):
        gov.tokens.issue("pat", "Reporting", ["read"], kind="service", username="bob")
    secret, made = gov.tokens.issue("admin", "Reporting", ["read"], kind="service", username="bob")
    assert made["username"] == "bob" and made["kind"] == "service"
    with pytest.raises(FormInvalid):
        gov.tokens.issue("admin", "Ghost", ["read"], kind="service", username="nobody")
    with pytest.raises(Forbidden):  # a personal token acts as its maker only
        gov.tokens.issue("alice", "As bob", ["read"], username="bob")
    with pytest.raises(Forbidden):
        gov.tokens.listing("alice", everyone=True)
    assert [t["id"] for t in gov.tokens.listing("admin", everyone=True)] == [made["id"]]
    mine = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {secret}"}).json["items"]
    assert [t["name"] for t in mine] == ["Reporting"]


def test_bad_token_requests_get_each_fields_error(gov):
    with pytest.raises(FormInvalid) as refused:
        gov.tokens.issue("alice", "", ["read", "everything"], days=0)
    assert set(refused.value.errors) == {"name", "scopes", "days"}


def test_a_token_cannot_make_another(client, bearer):
    made = client.post("/api/v1/tokens", headers=bearer("alice", "read", "work"),
                       json={"name": "child", "scopes": ["read", "work", "admin"]})
    assert made.status_code == 403


def test_the_cli_makes_lists_and_revokes_tokens(gov, monkeypatch):
    from cli.commands import govflow
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", gov.config.database_url)
    runner = CliRunner()
    made = runner.invoke(govflow, ["tokens", "add", "Jira", "--as", "carol", "--scope", "read", "--scope", "work",
                                   "--json"])
    assert made.exit_code == 0, made.output
    token = json.loads(made.output)
    assert token["token"].startswith("gft_") and token["scopes"] == ["read", "work"]
    listed = runner.invoke(govflow, ["tokens", "list", "--as", "carol"])
    assert "Jira" in listed.output and token["token"] not in listed.output and "active" in listed.output
    revoked = runner.invoke(govflow, ["tokens", "revoke", str(token["id"]), "--as", "carol", "--reason", "done"])
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    refused = runner.invoke(govflow, ["tokens", "add", "Bad", "--as", "carol", "--scope", "read", "--service", "bob"])
    assert refused.exit_code != 0 and "integrate" in refused.output


def test_the_browser_page_shows_a_new_secret_once_and_revokes(client, browser_session, gov):
    csrf = browser_session("carol")
    page = client.post("/account/tokens/", data={"name": "Power BI", "scopes": ["read"], "days": "30",
                                                  "csrf_token": csrf})
    assert page.status_code == 200
    secret = re.search(r'id="token-secret">([^<]+)<', page.data.decode()).group(1)
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    again = client.get("/account/tokens/").data.decode()
    assert "Power BI" in again and secret not in again
    token_id = gov.tokens.listing("carol")[0]["id"]
    client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    invalid = client.post("/account/tokens/", data={"name": "", "days": "x", "csrf_token": csrf})
    assert invalid.status_code == 422
