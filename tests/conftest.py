"""Shared fixtures: a govflow on SQLite or on a throwaway PostgreSQL cluster, with a frozen clock and test users."""
from __future__ import annotations

import itertools
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.clock import Clock
from engine.config import PROJECT_ROOT, Config
from engine.platform import Govflow

from . import seeds
from .postgres_cluster import Cluster, find_pg_bin

os.environ.setdefault("GOVFLOW_PASSWORD_PROFILE", "cheapest")  # real argon2id, test-suite cost
FIXTURES = Path(__file__).resolve().parent / "fixtures"
TEST_PASSWORD = "correct horse battery staple"
# Tuesday 1 December 2026, 09:00 UTC: a working day with no bank holiday near.
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)

PEOPLE = [
    ("alice", "Alice Archer", ["participant"], "Northern Power Supply", "SUPPLIER_LARGE"),
    ("bob", "Bob Baker", ["participant"], "Small Energy Co", "SUPPLIER_SMALL"),
    ("carol", "Carol Clarke", ["change_control_manager", "participant"], "MHHS Programme", None),
    ("will", "Will Walker", ["workstream", "participant"], "Lead Delivery Partner", None),
    ("pat", "Pat Patel", ["pmo", "participant"], "Lead Delivery Partner", None),
    ("chris", "Chris Chen", ["chair", "participant"], "MHHS Programme", None),
    ("sam", "Sam Singh", ["sro", "chair", "participant"], "Elexon", None),
    ("ida", "Ida Ibrahim", ["ipa"], "Independent Programme Assurance", None),
    ("olive", "Olive Osei", ["ofgem_observer"], "Ofgem", None),
    ("ann", "Ann Analyst", ["analyst"], "MHHS Programme", None),
    ("admin", "Ada Admin", ["admin", "pmo"], "MHHS Programme", None),
]


BACKENDS = ("sqlite", "postgres")


def pytest_configure(config):
    # Every database test runs on both backends (the `backend` fixture below); the old opt-in marker is kept
    # registered only because tests/conformance still carries it, and it does nothing.
    config.addinivalue_line("markers", "postgres: obsolete, no effect (every database test runs on both backends)")


def pytest_collection_modifyitems(config, items):
    """A test in the browser runs on SQLite only (its PostgreSQL case is deselected, and counted so): what it adds
    is the page as people see and use it; the requests behind those pages run on both databases in the web, API
    and scenario tests."""
    on_postgres = [item for item in items if "browser" in getattr(item, "fixturenames", ())
                   and getattr(item, "callspec", None) and item.callspec.params.get("backend") == "postgres"]
    if on_postgres:
        config.hook.pytest_deselected(items=on_postgres)
        dropped = set(on_postgres)
        items[:] = [item for item in items if item not in dropped]


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """The database backend: every test that touches a database (through `database_url`, `empty_database_url` or
    a fixture built on them, such as `gov`) runs once on SQLite and once on PostgreSQL."""
    return request.param


@pytest.fixture(scope="session")
def pg_cluster():
    pg_bin = find_pg_bin()
    if pg_bin is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) were not found: install postgresql-15 "
                    "or set GOVFLOW_PG_BIN. The suite runs on both SQLite and PostgreSQL.")
    cluster = Cluster(pg_bin).start()
    from engine.store.db import Database
    from engine.store.schema import upgrade
    template_url = cluster.create_database("govflow_template")
    db = Database(template_url)
    upgrade(db)
    db.dispose()
    yield cluster
    cluster.stop()


_counter = itertools.count()


def _database_name() -> str:
    return f"t{next(_counter)}"  # one cluster per test process: a counter is unique


@pytest.fixture
def database_url(backend, tmp_path, request):
    """A fresh database of the test's backend, ready for `init`: on SQLite a file not yet created; on PostgreSQL a
    database cloned from the migrated template (dropped after the test). For a test that uses `gov`, the PostgreSQL
    database is already set up as `gov` needs it; `gov` copies SQLite's."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'govflow.db'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = _database_name()
    template = "govflow_template"
    if "gov" in request.fixturenames:  # what `gov` would set up, made once by this test process (tests/seeds.py)
        template = request.getfixturevalue("seeded").postgres_template(cluster, request.getfixturevalue("clock"))
    yield cluster.create_database(name, template)
    cluster.drop_database(name)


@pytest.fixture
def empty_database_url(backend, tmp_path, request):
    """A database of the test's backend that was never initialised (no tables): on SQLite a file not yet created;
    on PostgreSQL an empty database (dropped after the test)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'never-initialised.db'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = _database_name()
    yield cluster.create_database(name)
    cluster.drop_database(name)


@pytest.fixture
def clock():
    return Clock(T0)


def make_govflow(database_url: str, tmp_path: Path, clock: Clock, **config) -> Govflow:
    values = dict(database_url=database_url, instance_dir=tmp_path / "instance",
                  processes_dir=PROJECT_ROOT / "processes", forms_dir=PROJECT_ROOT / "forms")
    values.update(config)
    return Govflow(Config(**values), clock)


def _set_up_govflow(database_url: str, folder: Path, clock: Clock) -> Govflow:
    govflow = make_govflow(database_url, folder, clock)
    seeds.set_up(govflow, PEOPLE, TEST_PASSWORD, FIXTURES)
    return govflow


@pytest.fixture(scope="session")
def seeded(tmp_path_factory):
    """This test process's set-up databases (tests/seeds.py)."""
    return seeds.Seeds(tmp_path_factory.mktemp("seeds"), _set_up_govflow)


@pytest.fixture
def gov(database_url, tmp_path, clock, seeded):
    """govflow initialised with processes/ deployed and the test people, on the parametrised database: a copy of
    the database this test process set up so (tests/seeds.py), with a govflow of its own."""
    if database_url.startswith("sqlite"):
        seeded.copy_sqlite(database_url, clock)  # PostgreSQL's: made so by `database_url`
    govflow = make_govflow(database_url, tmp_path, clock)
    yield govflow
    govflow.db.dispose()


@pytest.fixture
def app(gov):
    """The web application over `gov` (the web tests' own conftest builds it over `web_gov`)."""
    from web.app import create_app
    return create_app(gov, TESTING=True, SECRET_KEY="test-secret-key")


@pytest.fixture
def client(app):
    return app.test_client()


CHROMIUM = "/usr/bin/chromium"  # Debian's package; tests never download a browser
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per test process, driven by Playwright (a second Playwright in the same thread fails)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def live_server(app):
    """The `app` fixture of the calling test folder on a real HTTP server thread on 127.0.0.1 (a free port)."""
    import threading
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(5)
