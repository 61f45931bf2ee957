"""Errors as RFC 9457 problem details (application/problem+json), with per-field errors for invalid bodies."""
from __future__ import annotations

import logging

from flask import Flask, Response, json, request

from engine.errors import FormInvalid, GovflowError, TooManyRequests
from engine.services.library import DeploymentError, FileRefused

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPES = "https://govflow.invalid/problems/"  # a stable identifier per kind of problem, not a page to fetch
TITLES = {400: "Bad request", 401: "Not signed in", 403: "Not allowed", 404: "Not found",
          405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 412: "Precondition failed",
          413: "Too large", 415: "Unsupported media type", 422: "Invalid input", 428: "Precondition required",
          429: "Too many requests", 500: "Internal error"}
KINDS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         406: "not-acceptable", 409: "conflict", 412: "stale", 413: "too-large", 415: "unsupported-media-type",
         422: "invalid", 428: "if-match-required", 429: "rate-limited", 500: "internal"}


def problem(status: int, detail: str, *, errors: list[dict] | None = None, headers: dict | None = None) -> Response:
    """A problem details response: type, title, status, detail, instance (the request path), errors when given."""
    body = {"type": TYPES + KINDS.get(status, "error"), "title": TITLES.get(status, "Error"), "status": status,
            "detail": detail, "instance": request.script_root + request.path}
    if errors:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="govflow"')
    return response


def field_errors(errors: dict) -> list[dict]:
    """{field: message} (the engine's) or {location: {field: [messages]}} (the validator's) as
    [{"field", "message"}]."""
    found = []
    for key, value in errors.items():
        if isinstance(value, dict):
            for name, messages in value.items():
                for message in (messages if isinstance(messages, list) else [messages]):
                    found.append({"field": str(name), "message": str(message), "in": key})
        else:
            found.append({"field": str(key), "message": str(value)})
    return found


def init_app(app: Flask) -> None:
    @app.errorhandler(FormInvalid)
    def invalid(err: FormInvalid):
        return problem(422, "The data is not valid: see errors", errors=field_errors(err.errors))

    @app.errorhandler(FileRefused)
    @app.errorhandler(DeploymentError)
    def refused(err):
        return problem(422, "The files were refused: see errors",
                       errors=[{"field": f"files.{p.file}", "message": p.reason, "line": p.line,
                                "element_id": p.element_id} for p in err.problems])

    @app.errorhandler(TooManyRequests)
    def limited(err: TooManyRequests):
        return problem(429, str(err), headers={"Retry-After": str(err.retry_after)})

    @app.errorhandler(GovflowError)
    def engine_error(err: GovflowError):
        return problem(getattr(err, "status", 400), str(err))

    @app.error_processor
    def http_error(err):
        """Every HTTP error (werkzeug's and the validator's, as APIFlask's HTTPError) as a problem."""
        status = err.status_code or 500
        if status in (400, 422) and isinstance(err.detail, dict) and err.detail:
            return problem(422, "The request is not valid: see errors", errors=field_errors(err.detail))
        message = err.message if isinstance(err.message, str) else TITLES.get(status, "Error")
        headers = {k: v for k, v in (err.headers or {}).items() if k.lower() != "content-type"}
        return problem(status, message, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unexpected error in the API")
        return problem(500, "Something went wrong on our side; nothing was changed unless the response said so")
