"""Keyset cursors: walking any list a page at a time gives the whole list in order, once each, also when rows are
added or finished between pages (ties, blanks and both directions included); a cursor altered, or made for another
list, sort or filter, is a 422 naming `cursor`."""
from __future__ import annotations

from tests.web.cc_answers import RAISE


def _raise(gov, username: str = "alice") -> int:
    return gov.start("change_control", username, RAISE).instance_id


def _walk(client, path: str, header: dict, limit: int = 2, between=None) -> list[dict]:
    """Every item of a list, `limit` at a time (calling `between` after the first page); the last page says so."""
    joiner = "&" if "?" in path else "?"
    found, cursor, pages = [], None, 0
    while True:
        response = client.get(f"{path}{joiner}limit={limit}" + (f"&cursor={cursor}" if cursor else ""),
                              headers=header)
        assert response.status_code == 200, response.json
        found += response.json["items"]
        cursor, pages = response.json["next_cursor"], pages + 1
        if pages == 1 and between:
            between()
        if cursor is None:
            assert len(response.json["items"]) <= limit
            return found
        assert len(response.json["items"]) == limit and pages < 50


def _ids(items: list[dict], key: str = "id") -> list:
    return [item[key] for item in items]


def _whole(client, path: str, header: dict) -> list[dict]:
    joiner = "&" if "?" in path else "?"
    response = client.get(f"{path}{joiner}limit=200", headers=header).json
    assert response["next_cursor"] is None
    return response["items"]


def test_every_list_walked_by_cursor_is_the_whole_list_in_order(client, bearer, gov, clock):
    alice, carol, olive = bearer("alice"), bearer("carol"), bearer("olive")
    made = []
    for n in range(5):
        made.append(_raise(gov))
        if n % 2:
            clock.advance(minutes=1)  # some rows tie on their time: the id breaks the tie
    gov.admin.terminate(made[1], "admin", "Raised twice")
    clock.advance(minutes=1)
    gov.admin.terminate(made[3], "admin", "Raised twice")  # the register's `ended`: two dates, three blanks
    gov.deliver_effects()  # carol hears of each new task
    lists = [("/api/v1/instances", alice), ("/api/v1/instances?scope=visible", carol),
             ("/api/v1/notifications", carol), (f"/api/v1/instances/{made[1]}/history", alice),
             ("/api/v1/tasks?tab=groups", carol), ("/api/v1/tasks?tab=groups&sort=reference&dir=desc", carol),
             ("/api/v1/tasks?tab=groups&sort=completed", carol), ("/api/v1/register", olive),
             ("/api/v1/register?sort=ended&dir=asc", olive), ("/api/v1/register?sort=ended&dir=desc", olive),
             ("/api/v1/register?sort=reference&dir=asc", olive)]
    for path, header in lists:
        whole = _whole(client, path, header)
        assert len(whole) >= 3, path
        walked = _walk(client, path, header)
        assert walked == whole, path
    ended = _ids(_whole(client, "/api/v1/register?sort=ended&dir=desc", olive))
    assert ended[:2] == [made[3], made[1]] and set(ended[2:]) == {made[0], made[2], made[4]}  # blanks last


def test_rows_added_or_gone_between_pages_neither_repeat_nor_skip_others(client, bearer, gov, clock):
    alice, carol = bearer("alice"), bearer("carol")
    made = [_raise(gov) for _ in range(5)]
    before = _ids(_whole(client, "/api/v1/instances", alice))
    assert before == sorted(made, reverse=True)  # newest first
    added = []

    def raise_one_more():
        clock.advance(minutes=1)
        added.append(_raise(gov))  # newest: it lands before the cursor

    assert _ids(_walk(client, "/api/v1/instances", alice, between=raise_one_more)) == before
    assert _ids(_whole(client, "/api/v1/instances", alice)) == added + before
    tasks = _ids(_whole(client, "/api/v1/tasks?tab=groups&sort=created", carol))
    first_two = tasks[:2]

    def claim_the_first_two():
        for task_id in first_two:  # claimed: gone from the groups' list, before the cursor
            gov.claim(task_id, "carol")

    walked = _ids(_walk(client, "/api/v1/tasks?tab=groups&sort=created", carol, between=claim_the_first_two))
    assert walked == tasks  # with an offset the third page would have started two rows late


def test_an_altered_or_foreign_cursor_is_a_422_naming_cursor(client, bearer, gov):
    alice, carol = bearer("alice"), bearer("carol")
    for _ in range(3):
        _raise(gov)
    cursor = client.get("/api/v1/instances?limit=1", headers=alice).json["next_cursor"]
    body, _, signature = cursor.partition(".")
    altered = ("A" if body[0] != "A" else "B") + body[1:] + "." + signature
    for path, header, message in [
            (f"/api/v1/instances?cursor={altered}", alice, "not given by the API"),
            (f"/api/v1/instances?cursor={body}", alice, "not given by the API"),
            (f"/api/v1/instances?scope=visible&cursor={cursor}", alice, "another list, sort or filter"),
            (f"/api/v1/notifications?cursor={cursor}", alice, "another list, sort or filter"),
            (f"/api/v1/instances?cursor={cursor}", carol, "another list, sort or filter")]:
        refused = client.get(path, headers=header)
        assert refused.status_code == 422, path
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in refused.json["errors"]] == ["cursor"]
        assert message in refused.json["errors"][0]["message"], refused.json
    tasks = client.get("/api/v1/tasks?tab=groups&limit=1", headers=carol).json["next_cursor"]
    other_sort = client.get(f"/api/v1/tasks?tab=groups&sort=reference&cursor={tasks}", headers=carol)
    assert other_sort.status_code == 422 and other_sort.json["errors"][0]["field"] == "cursor"
    same_sort = client.get(f"/api/v1/tasks?tab=groups&limit=5&cursor={tasks}", headers=carol)
    assert same_sort.status_code == 200 and len(same_sort.json["items"]) == 2  # a new limit keeps the place


def test_the_openapi_document_describes_the_cursor_of_every_list(client):
    document = client.get("/api/v1/openapi.json").json
    for path in ("/tasks", "/instances", "/instances/{instance_id}/history", "/notifications", "/register"):
        parameters = {p["name"]: p for p in document["paths"][path]["get"]["parameters"]}
        described = parameters["cursor"].get("description") or parameters["cursor"]["schema"]["description"]
        assert "next_cursor" in described and "422" in described, path
    assert "null on the last" in document["components"]["schemas"]["Page"]["properties"]["next_cursor"]["description"]
