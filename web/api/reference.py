"""The OpenAPI 3.1 document, generated from the API's views and schemas, and its reference page (Swagger UI from
npm, served locally)."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app, render_template, request

bp = APIBlueprint("reference", __name__, enable_openapi=False)


@bp.get("/openapi.json", endpoint="openapi")
def openapi():
    return current_app._get_spec("json")  # generated once, then kept


@bp.get("/docs", endpoint="page")
def page():
    root = request.script_root[: -len("/api/v1")] if request.script_root.endswith("/api/v1") else ""
    response = current_app.make_response(render_template(
        "api/reference.html", spec_url=request.script_root + "/openapi.json", vendor=f"{root}/static/vendor",
        script=f"{root}/static/js/api-reference.js"))
    # Swagger UI sets inline styles; nothing else is relaxed
    response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                   "style-src 'self' 'unsafe-inline'; object-src 'none'; "
                                                   "base-uri 'self'; frame-ancestors 'none'")
    return response
