"""Error pages in plain English: engine errors (404, 403, 409, 422) and HTTP errors (400 CSRF, 404, 405, 429, 500)."""
from __future__ import annotations

import logging

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from engine.errors import Conflict, Forbidden, GovflowError, NotFound

log = logging.getLogger(__name__)

TITLES = {
    400: "Sorry, there is a problem with the request",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "Sorry, that action is not possible here",
    409: "Someone else got there first",
    413: "The file or form is too large",
    422: "The process could not continue",
    429: "Too many attempts",
    500: "Sorry, there is a problem with the service",
}


def _page(status: int, message: str, csrf: bool = False):
    return render_template("errors/error.html", status=status, title=TITLES.get(status, "Sorry, there is a problem"),
                           message=message, csrf=csrf), status


def init_app(app: Flask) -> None:
    @app.errorhandler(GovflowError)
    def engine_error(err: GovflowError):
        status = err.status if isinstance(err, (NotFound, Forbidden, Conflict)) else getattr(err, "status", 400)
        return _page(status, str(err))

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        status = err.code or 500
        if status == 400 and err.description == "csrf":
            return _page(400, "This form could not be sent because its security token was missing or had expired. "
                              "Go back, reload the page and try again.", csrf=True)
        messages = {
            403: err.description if err.description and "permission" not in err.description
            else "You are signed in, but your role does not allow this.",
            404: "If you typed the web address, check it is correct. If you followed a link, the item may have "
                 "been removed.",
            405: "Use the buttons on the page rather than typing the address.",
        }
        return _page(status, messages.get(status, err.description or ""))

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        log.exception("unexpected error")
        return _page(500, "Try again later. Nothing you did was lost unless the page says so.")
