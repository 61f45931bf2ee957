"""Operations fixtures: the web app over the shared `gov`, and a local SMTP server (aiosmtpd) that keeps what it gets."""
from __future__ import annotations

import socket

import pytest

from tests.conftest import make_govflow  # noqa: F401  (re-exported for the tests here)


@pytest.fixture
def smtp_server():
    """A real SMTP server on a free loopback port; `.messages` holds what it received."""
    from aiosmtpd.controller import Controller

    class Keep:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    handler = Keep()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    controller.messages = handler.messages
    yield controller
    controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
