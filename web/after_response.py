"""A command's background deliveries (announcing new tasks, e-mails, webhooks) made after the response is sent.

While a request runs, the effects its commands leave for the background are held; once the server has taken the
body's last chunk — or closes the body (PEP 3333), whichever comes first — they are made, in the worker's own thread.
They no longer compete with the request, or with the next one the worker takes, for the interpreter; the person has
their answer first. Both moments count: Werkzeug's server skips the close when the client resets the connection
after reading the response. A response that never finishes leaves them in the outbox, where the scheduler's sweep
delivers them: nothing is lost.

The test client closes each response as a server does (`ClosingClient`), so tests see what production does.
"""
from __future__ import annotations

from flask.testing import FlaskClient

from engine.services.effects import Effects


class DeliverAfterResponse:
    """WSGI middleware: hold the request's background deliveries; make them once the response is written."""

    def __init__(self, app, effects: Effects):
        self.app = app
        self.effects = effects

    def __call__(self, environ, start_response):
        self.effects.hold()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.effects.release()
            raise
        if not self.effects.holding:  # the body goes back as it came (a file keeps the server's sendfile)
            self.effects.release()
            return body
        return _ReleasingBody(body, self.effects.release)


class _ReleasingBody:
    """A response body that makes the held deliveries after its last chunk, or at its close if that comes first."""

    def __init__(self, body, release):
        self.body = body
        self.release = release

    def __iter__(self):
        yield from self.body
        self.release()

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.release()


class ClosingClient(FlaskClient):
    """Flask's test client, closing every response once read, as a WSGI server does."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)
