"""Numbers from a request never reach a database unbounded (SQLite and PostgreSQL): every page number and size is
clamped (web/bounds.py), and an id in a path beyond what a column holds is a clean 404, never a 500."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from web.bounds import MAX_ID, MAX_PAGE, BoundedInt, page_number, whole_number

WEB = Path(__file__).resolve().parents[2] / "web"
HUGE = "99999999999999999999"
ODD_PAGES = [HUGE, "9" * 5000, "-5", "-" + HUGE, "0", "abc", "1e9", "2.5", " 3 ", "", "%00", "１２"]
LISTS = ["/", "/?tab=groups", "/?tab=completed", "/requests/", "/requests/?scope=all", "/manage/instances",
         "/manage/instances?sort=title&dir=asc"]


def test_page_numbers_are_clamped():
    assert page_number({"page": HUGE}) == MAX_PAGE
    assert page_number({"page": "9" * 5000}) == MAX_PAGE  # past Python's own digit limit too
    assert page_number({"page": "-5"}) == 1 and page_number({"page": "-" + HUGE}) == 1
    assert page_number({"page": "abc"}) == 1 and page_number({}) == 1 and page_number({"page": "１２"}) == 1
    assert page_number({"page": "7"}) == 7 and page_number({"page": "7"}, last=5) == 5
    assert whole_number({"size": HUGE}, "size", 50, 25, 200) == 200
    assert whole_number({"size": "x"}, "size", 50, 25, 200) == 50


def test_every_list_answers_an_odd_page_with_a_clean_page(signed_in):
    client = signed_in("admin")
    for page in ODD_PAGES:
        for path in LISTS:
            joined = f"{path}{'&' if '?' in path else '?'}page={page}"
            response = client.get(joined)
            assert response.status_code == 200, (joined, response.status_code)
            assert b"<html" in response.data, joined
        sized = client.get(f"/manage/instances?page={page}&size={page}")
        assert sized.status_code == 200, page
        with client.get(f"/manage/instances?format=csv&page={page}") as export:
            assert export.status_code == 200 and export.mimetype == "text/csv", page
            assert export.get_data(), page


def test_the_probe_page_number_is_a_clean_page(signed_in):
    response = signed_in("admin").get(f"/manage/instances?page={HUGE}")
    assert response.status_code == 200 and b"Internal Server Error" not in response.data


def test_an_id_no_database_holds_is_a_clean_404(signed_in):
    client = signed_in("admin")
    for path in IDS:
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert b"Page not found" in response.data or response.is_json, path


IDS = [
    f"/requests/{HUGE}", f"/attachments/{HUGE}", f"/manage/instances/{HUGE}", f"/manage/instances/{HUGE}/move",
    f"/library/versions/{HUGE}/archive", f"/library/versions/{HUGE}/files/x.bpmn", f"/logs/actions/{HUGE}",
    f"/logs/meetings/{HUGE}", f"/manage/versions/{HUGE}/diagram.bpmn", f"/requests/{MAX_ID + 1}",
    f"/views/{HUGE}", f"/requests/{'9' * 5000}", f"/api/v1/instances/{HUGE}", f"/api/v1/instances/{HUGE}/history",
    f"/api/v1/instances/1/attachments/{HUGE}", f"/api/v1/logs/meetings/{HUGE}"]


def test_an_id_no_database_holds_is_a_404_for_every_method(signed_in, token_from):
    """A path that takes GET and POST: refusing the id after matching would answer 405 to one of them."""
    client = signed_in("admin")
    token = token_from(client)
    for path in (f"/manage/instances/{HUGE}/move", f"/manage/instances/{MAX_ID + 1}/move",
                 f"/api/v1/instances/{HUGE}/comments", f"/library/versions/{HUGE}/archive"):
        for method in ("get", "post"):
            response = getattr(client, method)(path, data={"csrf_token": token}, headers={"X-CSRF-Token": token})
            assert response.status_code == 404, (method, path, response.status_code)


def test_a_forged_api_cursor_past_the_last_page_is_refused_plainly(signed_in):
    import base64
    import json
    client = signed_in("admin")
    for after in (10**30, -1, 100_000 * 200 + 1):
        cursor = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")
        for path in ("/api/v1/instances", "/api/v1/register", "/api/v1/notifications"):
            response = client.get(f"{path}?cursor={cursor}")
            assert response.status_code == 422, (path, after, response.status_code)
            assert "cursor" in response.get_data(as_text=True)
    assert client.get(f"/api/v1/instances?limit={HUGE}").status_code == 422


def test_huge_ids_in_forms_are_ignored(signed_in, token_from):
    client = signed_in("alice")
    response = client.post("/notifications/read", data={"notification": [HUGE, "1"],
                                                         "csrf_token": token_from(client, "/notifications/")})
    assert response.status_code == 302


def test_every_int_in_a_route_is_bounded(app):
    unbounded = [rule.rule for rule in app.url_map.iter_rules()
                 for converter in (rule._converters or {}).values()
                 if type(converter).__name__ == "IntegerConverter" or
                 (isinstance(converter, BoundedInt) and (converter.max is None or converter.max > MAX_ID))]
    assert unbounded == []
    assert any(isinstance(c, BoundedInt) for rule in app.url_map.iter_rules() for c in (rule._converters or {}).values())


PAGING_KEYS = {"page", "per_page", "page_size", "size", "offset", "limit", "start", "count"}


def test_every_page_parameter_in_the_web_is_read_through_bounds():
    """No request.args/form/values.get("page"|"size"|"offset"|"limit"…) outside web/bounds.py: pages are read with
    page_number or whole_number, which clamp."""
    offenders = []
    for path in sorted(WEB.glob("*.py")):
        if path.name == "bounds.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                    and ast.unparse(node.func.value).split(".")[-1] in ("args", "form", "values") and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in PAGING_KEYS:
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
