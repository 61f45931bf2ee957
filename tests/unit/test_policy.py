"""Reading roles.yaml as the access policy (engine/governance/policy.py), without a database: what a file must say,
what a person with several roles may do, and a changed file read again without a restart."""
from __future__ import annotations

import os

import pytest
import yaml

from engine.config import PROJECT_ROOT
from engine.governance import policy
from engine.governance.policy import Policy, PolicyError

SHIPPED = yaml.safe_load((PROJECT_ROOT / "processes" / "roles.yaml").read_text())


def with_roles(*roles: dict) -> dict:
    return {"capabilities": dict(SHIPPED["capabilities"]), "roles": list(roles)}


def test_the_shipped_file_documents_exactly_the_capabilities_govflow_checks():
    assert set(SHIPPED["capabilities"]) == policy.KNOWN_CAPABILITIES
    rules = policy.for_processes(PROJECT_ROOT / "processes")
    assert set(rules.roles) == {r["id"] for r in SHIPPED["roles"]}
    assert all(r.may <= policy.KNOWN_CAPABILITIES for r in rules.roles.values())


@pytest.mark.parametrize("data, words", [
    (with_roles({"id": "x", "name": "X", "may": ["act", "publsh"]}), "publsh"),
    (with_roles({"id": "x", "name": "X", "never": ["fly"]}), "fly"),
    (with_roles({"id": "x", "name": "X", "acts": True}), "`acts` is now the capability `act`"),
    (with_roles({"id": "x", "name": "X"}, {"id": "x", "name": "Y"}), "listed twice"),
    (with_roles({"name": "X"}), "needs an `id`"),
    (with_roles({"id": "x", "name": "X", "may": "act"}), "must be a list"),
    ({"capabilities": {**SHIPPED["capabilities"], "fly": "Fly"}, "roles": []}, "no capability fly"),
    ({"capabilities": {k: v for k, v in SHIPPED["capabilities"].items() if k != "migrate"}, "roles": []},
     "does not document migrate"),
    ({"roles": []}, "`capabilities` must list"),
])
def test_a_file_govflow_cannot_read_as_a_policy_is_refused_in_plain_words(data, words):
    with pytest.raises(PolicyError, match=words.replace("`", ".")):
        Policy.from_data(data, "roles.yaml")


def test_several_roles_may_what_any_may_less_what_one_never_may():
    rules = Policy.from_data(with_roles(
        {"id": "clerk", "name": "Clerk", "may": ["act", "keep_logs"]},
        {"id": "boss", "name": "Boss", "may": ["administer", "reassign"]},
        {"id": "watcher", "name": "Watcher", "may": ["see_all_requests", "observe"], "never": ["administer", "act"]},
    ))
    assert rules.capabilities_of({"clerk", "boss"}) == {"act", "keep_logs", "administer", "reassign"}
    assert rules.capabilities_of({"boss", "watcher"}) == {"reassign", "see_all_requests", "observe"}
    assert rules.acting_roles({"clerk"}) == {"clerk"}
    assert rules.acting_roles({"clerk", "watcher"}) == frozenset()  # `never: [act]` wins over the clerk's lanes
    assert rules.capabilities_of({"unknown"}) == frozenset()
    assert rules.names_with("administer") == "Boss" and rules.names_with("manage") == "no role"
    assert rules.names_with("act") == "Clerk"


def test_a_changed_file_is_read_again_and_an_unchanged_one_is_not(tmp_path):
    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(with_roles({"id": "clerk", "name": "Clerk", "may": ["act"]})))
    first = policy.load(path)
    assert policy.load(path) is first  # cached per file
    path.write_text(yaml.safe_dump(with_roles({"id": "clerk", "name": "Clerk", "may": ["act", "manage"]})))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new stamp even on a coarse clock
    assert policy.load(path).capabilities_of({"clerk"}) == {"act", "manage"}


def test_an_unknown_capability_asked_for_is_an_error_not_a_no():
    rules = policy.for_processes(PROJECT_ROOT / "processes")
    with pytest.raises(PolicyError):
        rules.allows(None, "do_anything")
