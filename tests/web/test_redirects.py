"""Going back after a form never leaves the site: web/redirects.py reads a `next` as a browser would (tabs and line
breaks dropped, backslashes as slashes, percent-decoding) and keeps only paths on this site; the sign-in page, the
comment form and the task page's claim and release (SQLite and PostgreSQL) all use it, and nothing else in web/ reads
a `next`."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from web.redirects import normalise, safe_target

WEB = Path(__file__).resolve().parents[2] / "web"

# what an outside probe sent: each would take a browser to another site, or run script
HOSTILE = [
    "/\t/evil.example",
    "/\t/evil.example/path?x=1",
    "\t//evil.example",
    " //evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/%2F/evil.example",
    "/%2f%2fevil.example",
    "/%5Cevil.example",
    "/%252F%252Fevil.example",
    "/%09/evil.example",
    "https://evil.example",
    "http:/evil.example",
    "HTTPS://evil.example/",
    "javascript:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "/\x00/evil.example",
    "/requests/\x0b1",
    "",
    "/" + "a" * 3000,
]
LOCAL = {
    "/": "/",
    "/requests/5": "/requests/5",
    "/?tab=groups&page=2": "/?tab=groups&page=2",
    "/requests/?q=a%2Fb": "/requests/?q=a%2Fb",
    "/tasks/abc#form": "/tasks/abc#form",
    "/requests/5\t": "/requests/5",  # a browser drops the tab: the same place
    "/requests/1\x0b": "/requests/1",  # and strips control characters at either end
    "/manage/instances?q=x%0Ay": "/manage/instances?q=x%0Ay",  # an encoded line break in a query is text
}


@pytest.mark.parametrize("target", HOSTILE)
def test_hostile_targets_fall_back(target):
    assert normalise(target) is None
    assert safe_target(target, "/home") == "/home"


@pytest.mark.parametrize("target,expected", LOCAL.items())
def test_paths_on_this_site_are_kept(target, expected):
    assert safe_target(target, "/home") == expected


def test_anything_but_text_falls_back():
    assert safe_target(None, "/home") == "/home"
    assert safe_target(["/requests/1"], "/home") == "/home"


# --- the three places that honour a `next` -----------------------------------------------------------------------

WEB_PAYLOADS = ["/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example",
                "javascript:alert(1)", "/%2F%2Fevil.example"]


def _location(response) -> str:
    assert response.status_code == 302, response.status_code
    return response.headers["Location"]


@pytest.fixture
def loop(web_gov):
    """A request alice raised (the loop fixture), and its open review task for carol."""
    instance_id = web_gov.start("loop", "alice", {"title": "Fix the MPAN format"}).instance_id
    task_id = next(t.id for t in web_gov.tasks("carol") if t.instance_id == instance_id)
    return instance_id, task_id


def test_the_comment_form_goes_back_only_to_this_site(signed_in, token_from, loop):
    instance_id, _ = loop
    client = signed_in("alice")
    token = token_from(client, f"/requests/{instance_id}")
    for payload in WEB_PAYLOADS:
        response = client.post(f"/requests/{instance_id}/comments",
                               data={"comment": "Looks right", "next": payload, "csrf_token": token})
        assert _location(response) == f"/requests/{instance_id}#comments", payload
    kept = client.post(f"/requests/{instance_id}/comments",
                       data={"comment": "Again", "next": "/?tab=mine", "csrf_token": token})
    assert _location(kept) == "/?tab=mine#comments"


def test_claim_and_release_go_back_only_to_this_site(signed_in, token_from, loop):
    _, task_id = loop
    client = signed_in("carol")
    token = token_from(client, f"/tasks/{task_id}")
    for payload in WEB_PAYLOADS:
        claimed = client.post(f"/tasks/{task_id}/claim", data={"next": payload, "csrf_token": token})
        assert _location(claimed) == f"/tasks/{task_id}", payload
        released = client.post(f"/tasks/{task_id}/unclaim", data={"next": payload, "csrf_token": token})
        assert _location(released) == f"/tasks/{task_id}", payload
    kept = client.post(f"/tasks/{task_id}/claim", data={"next": "/?tab=groups", "csrf_token": token})
    assert _location(kept) == "/?tab=groups"


def test_sign_in_goes_on_only_to_this_site(client, password, csrf_of):
    from urllib.parse import quote
    for payload in WEB_PAYLOADS + ["/\r\n/evil.example"]:
        client.delete_cookie("govflow_session")
        token = csrf_of(client.get("/sign-in").data)
        response = client.post(f"/sign-in?next={quote(payload, safe='')}",
                               data={"username": "carol", "password": password, "csrf_token": token})
        assert _location(response) == "/", payload
    client.delete_cookie("govflow_session")
    token = csrf_of(client.get("/sign-in").data)
    response = client.post("/sign-in?next=%2Frequests%2F%3Fscope%3Dall",
                           data={"username": "carol", "password": password, "csrf_token": token})
    assert _location(response) == "/requests/?scope=all"


def test_a_page_that_needs_sign_in_comes_back_after_it(client, password, csrf_of):
    first = client.get("/requests/?scope=all")
    assert "/sign-in?next=" in _location(first)
    token = csrf_of(client.get(_location(first)).data)
    response = client.post(_location(first), data={"username": "carol", "password": password, "csrf_token": token})
    assert _location(response) == "/requests/?scope=all"


# --- one helper, used everywhere ---------------------------------------------------------------------------------

BACK_KEYS = {"next", "_back", "back", "return_to", "redirect", "redirect_to", "came_from"}


def test_every_next_in_the_web_goes_through_the_one_helper():
    """Each read of a `next`-like request value (request.args/form/values.get("next")…) is the first argument of
    safe_target or _safe_next, or only tested for presence."""
    offenders = []
    for path in sorted(WEB.glob("*.py")):
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("get", "getlist") and node.args
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value in BACK_KEYS
                    and "request" in ast.unparse(node.func.value)):
                continue
            parent = parents.get(node)
            wrapped = isinstance(parent, ast.Call) and ast.unparse(parent.func) in ("safe_target", "_safe_next")
            tested = isinstance(parent, (ast.IfExp, ast.If, ast.BoolOp, ast.UnaryOp)) and parent is not None \
                and getattr(parent, "test", None) is node
            if not (wrapped or tested):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []
