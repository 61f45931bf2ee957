"""The JSON API under /api/v1: an APIFlask application over the same Govflow as the web, mounted beside it, sharing
its signed session cookie. An adapter like the web: it calls the facade and its services only."""
from __future__ import annotations

from flask import Flask, current_app, request
from werkzeug.middleware.dispatcher import DispatcherMiddleware

PREFIX = "/api/v1"
SHARED_CONFIG = ("SECRET_KEY", "SESSION_COOKIE_NAME", "SESSION_COOKIE_HTTPONLY", "SESSION_COOKIE_SAMESITE",
                 "SESSION_COOKIE_SECURE", "IDLE_TIMEOUT", "ABSOLUTE_TIMEOUT", "WALL_CLOCK", "MAX_CONTENT_LENGTH")


def create_api(web: Flask):
    """The API application for this web application (its Govflow, secret key and session settings)."""
    from apiflask import APIFlask

    from .. import bounds
    from . import access, admin, library, problems, records, reference, work
    from .form_files import UPLOAD_BODY
    from .schemas import Problem

    api = APIFlask(__name__, title="govflow API", version="1", spec_path=None, docs_path=None,
                   template_folder=web.template_folder, static_folder=None)
    api.root_path = web.root_path  # templates from web/templates
    api.extensions["govflow"] = web.extensions["govflow"]
    api.extensions["web"] = web
    api.config.update({key: web.config[key] for key in SHARED_CONFIG if key in web.config})
    api.config.update(
        OPENAPI_VERSION="3.1.0",
        VALIDATION_ERROR_STATUS_CODE=422,
        SERVERS=[{"url": PREFIX}],
        INFO={"description": "Everything a person or an integration does in govflow, under the same access policy "
                             "as the web. Authenticate with `Authorization: Bearer <token>` (tokens are made in "
                             "the browser at /account/tokens or with `govflow tokens add`). Errors are RFC 9457 "
                             "problem details; writes to instances and tasks honour If-Match (412 when stale); "
                             "lists page with `limit` and a keyset `cursor` (each page's `next_cursor`, null on "
                             "the last)."},
        SECURITY_SCHEMES={"token": {"type": "http", "scheme": "bearer", "description": "An API token (gft_…)"},
                          "session": {"type": "apiKey", "in": "cookie", "name": "govflow_session",
                                      "description": "The browser's signed-in session (send X-CSRF-Token on writes)"}},
        AUTO_OPERATION_ID=True,  # e.g. post_tasks_task_id_complete, for generated clients
    )  # no TAGS: each blueprint's tag groups its operations (declared tags would switch that off)
    api.session_interface = web.session_interface
    api.before_request(access.authenticate)
    api.after_request(access.settle)
    api.teardown_request(access.abandon)

    @api.spec_processor
    def secured(spec: dict) -> dict:
        spec["security"] = [{"token": []}, {"session": []}]
        problem_schema = {"$ref": "#/components/schemas/Problem"}
        spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = \
            Problem.model_json_schema()
        for path in spec.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status, text in (("400", "Bad request"), ("401", "Not authenticated"), ("403", "Not allowed"),
                                     ("404", "Not found"), ("409", "Conflict with the current state"),
                                     ("412", "Stale: If-Match names an older version"), ("422", "Invalid input"),
                                     ("429", "Rate limited")):
                    entry = responses.setdefault(status, {"description": text})
                    entry["content"] = {"application/problem+json": {"schema": problem_schema}}
        upload = spec.get("paths", {}).get("/instances/{instance_id}/attachments", {}).get("post")
        if upload is not None:  # read by hand (a multipart body), so described here
            upload["requestBody"] = UPLOAD_BODY
        return spec

    problems.init_app(api)
    bounds.init_app(api)  # ids in paths beyond what a database holds are a 404
    for blueprint in (reference.bp, work.tasks, work.instances, library.bp, records.notifications,
                      records.register, records.logs, admin.bp, admin.tokens, admin.webhooks):
        api.register_blueprint(blueprint)
    api.after_request(_headers)
    return api


def _headers(response):
    response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:  # as the web: direct HTTPS or a trusted proxy's X-Forwarded-Proto
        seconds = int(current_app.extensions["web"].config["HSTS_SECONDS"])
        response.headers.setdefault("Strict-Transport-Security", f"max-age={seconds}")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
    return response


def mount(web: Flask) -> None:
    """Serve the API at /api/v1 beside the web application."""
    web.extensions["govflow_api"] = api = create_api(web)
    web.wsgi_app = DispatcherMiddleware(web.wsgi_app, {PREFIX: api})
