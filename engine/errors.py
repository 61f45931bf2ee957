"""The errors the engine API raises; the web and the CLI turn each into a clear message and status."""
from __future__ import annotations


class GovflowError(Exception):
    """Base of every error a user can be shown."""

    status = 400


class NotFound(GovflowError):
    status = 404


class Forbidden(GovflowError):
    status = 403


class Conflict(GovflowError):
    """Someone else changed the same thing first, or the thing is no longer in a state that allows this."""

    status = 409


class FormInvalid(GovflowError):
    """Submitted data failed the form's JSON Schema; `errors` maps each field (dotted path) to a message."""

    status = 422

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k else v for k, v in errors.items()))


class ProcessError(GovflowError):
    """A step of the diagram failed (a script, a condition, a decision table): nothing was saved."""

    status = 422


class Unauthenticated(GovflowError):
    """No valid credentials: a missing, unknown, expired or revoked API token."""

    status = 401


class TooManyRequests(GovflowError):
    """A rate limit was reached; `retry_after` says in how many seconds to try again."""

    status = 429

    def __init__(self, message: str, retry_after: int):
        self.retry_after = retry_after
        super().__init__(message)
