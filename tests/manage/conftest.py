"""The management tests reuse the web fixtures (app, client, signed_in…) and the browser fixtures."""
from tests.browser.conftest import page  # noqa: F401  (browser and live_server: tests/conftest.py)
from tests.web.conftest import (app, client, csrf_of, csrf_of_fixture, password, shared, sign_in,  # noqa: F401
                                sign_in_fixture, signed_in, token_from, token_from_fixture, web_gov)
