"""The web fixtures of tests/web for the logs' web tests."""
from tests.web.conftest import app, client, password, shared, signed_in, web_gov  # noqa: F401
