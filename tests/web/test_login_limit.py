"""The failed-sign-in limit is counted in the database (engine/services/login_attempts.py): it holds across two app instances
(two gunicorn workers, or a restart) on one database, its window moves with the injected clock, and old rows go."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from engine.clock import Clock
from engine.services.login_attempts import LoginAttempts
from engine.store.models import LoginAttempt


WINDOW = timedelta(minutes=15)


def _rows(gov) -> int:
    with gov.db.read() as db:
        return db.scalar(select(func.count()).select_from(LoginAttempt))


def test_failures_count_per_username_and_address_within_the_window(gov, clock):
    attempts = LoginAttempts(gov.db, clock, WINDOW, limit=3)
    for _ in range(2):
        attempts.fail("Carol", "10.0.0.1")
    assert not attempts.blocked("carol", "10.0.0.1")
    attempts.fail("carol ", "10.0.0.1")  # the same person however typed
    assert attempts.blocked("CAROL", "10.0.0.1")
    assert not attempts.blocked("carol", "10.0.0.2") and not attempts.blocked("alice", "10.0.0.1")
    clock.advance(minutes=15)
    assert not attempts.blocked("carol", "10.0.0.1")  # the oldest failures left the window


def test_success_clears_the_pair_and_old_rows_are_purged(gov, clock):
    attempts = LoginAttempts(gov.db, clock, WINDOW, limit=3)
    attempts.fail("carol", "10.0.0.1")
    attempts.fail("alice", "10.0.0.9")
    attempts.clear("carol", "10.0.0.1")
    assert attempts.failures("carol", "10.0.0.1") == 0 and attempts.failures("alice", "10.0.0.9") == 1
    clock.advance(minutes=16)
    attempts.fail("bob", "10.0.0.3")
    assert _rows(gov) == 1  # alice's failure left the window and was purged with this one


def test_two_workers_on_one_database_share_the_count(gov, clock, database_url, tmp_path, shared):
    """Two Govflows (two processes' worth of engine, pool and clock) over the same database."""
    other = shared.make_govflow(database_url, tmp_path / "other", Clock(clock.now()))
    try:
        first = LoginAttempts(gov.db, clock, WINDOW, limit=5)
        second = LoginAttempts(other.db, other.clock, WINDOW, limit=5)
        for _ in range(3):
            first.fail("carol", "10.0.0.1")
        for _ in range(2):
            second.fail("carol", "10.0.0.1")
        assert first.blocked("carol", "10.0.0.1") and second.blocked("carol", "10.0.0.1")
    finally:
        other.db.dispose()


def _two_apps(gov, database_url, tmp_path, shared):
    from web.app import create_app
    other = shared.make_govflow(database_url, tmp_path / "other", Clock(gov.clock.now()))
    apps = [create_app(g, TESTING=True, SECRET_KEY="test-secret-key") for g in (gov, other)]
    return other, [a.test_client() for a in apps]


def test_the_web_limit_holds_across_two_app_instances(gov, database_url, tmp_path, shared, sign_in, password):
    other, (one, two) = _two_apps(gov, database_url, tmp_path, shared)
    try:
        for client in (one, two, one, two, one):
            assert sign_in(client, "carol", "nope").status_code == 401
        for client in (one, two):  # both workers refuse, even with the right password
            response = sign_in(client, "carol", password)
            assert response.status_code == 429 and b"too many times" in response.data
        assert sign_in(two, "alice", password).status_code == 302  # other usernames are not locked
    finally:
        other.db.dispose()


def test_a_restarted_app_still_refuses(gov, database_url, tmp_path, shared, sign_in, password):
    from web.app import create_app
    client = create_app(gov, TESTING=True, SECRET_KEY="test-secret-key").test_client()
    for _ in range(5):
        sign_in(client, "carol", "nope")
    restarted = create_app(gov, TESTING=True, SECRET_KEY="test-secret-key").test_client()
    assert sign_in(restarted, "carol", password).status_code == 429


def test_the_web_window_runs_on_the_wall_clock(app, client, password, sign_in, web_gov):
    now = [2_000_000_000.0]
    app.config["WALL_CLOCK"] = lambda: now[0]
    for _ in range(5):
        sign_in(client, "carol", "nope")
    assert _rows(web_gov) == 5
    assert sign_in(client, "carol", password).status_code == 429
    now[0] += 15 * 60 + 1
    assert sign_in(client, "carol", password).status_code == 302
    assert _rows(web_gov) == 0  # a successful sign-in forgets the failures


def test_an_account_guessed_at_from_many_addresses_is_refused_everywhere(gov, clock):
    attempts = LoginAttempts(gov.db, clock, WINDOW, limit=3, account_limit=5)
    for n in range(4):
        attempts.fail("carol", f"10.0.1.{n}")  # one failure per address: no pair reaches 3
    assert not attempts.blocked("carol", "10.0.2.1")
    attempts.fail("carol", "10.0.1.9")
    assert attempts.blocked("carol", "10.0.2.1") and attempts.blocked("carol", "10.0.1.0")
    assert not attempts.blocked("alice", "10.0.1.0")  # other accounts from those addresses are not affected
    assert attempts.failures("carol", "10.0.1.9") == 1
    clock.advance(minutes=15)
    assert not attempts.blocked("carol", "10.0.2.1")
    assert LoginAttempts(gov.db, clock, WINDOW, limit=5).account_limit == 20  # four times the pair's limit
