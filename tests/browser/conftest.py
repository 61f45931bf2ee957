"""Browser fixtures: the web fixtures of tests/web over a live server thread, and a page with axe-core allowed."""
from __future__ import annotations

import pytest

from tests.web.conftest import (app, client, csrf_of, csrf_of_fixture, password, receiver, shared, sign_in,  # noqa: F401
                                sign_in_fixture, signed_in, token_from, token_from_fixture, web_gov)


@pytest.fixture
def page(browser):
    # axe-core is injected as an inline script, which our Content-Security-Policy would rightly block
    context = browser.new_context(bypass_csp=True)
    yield context.new_page()
    context.close()
