"""The access policy, role by role and action by action (SQLite and PostgreSQL): for every role of roles.yaml and
every action — act on a task of each lane, see a request in each shape, hear about a task, reassign, administer,
edit the library, publish, migrate, keep the logs, assign seats, comment, be told of incidents, open the web's pages —
the engine's answer equals what the YAML says. The expectations are derived from the YAML (read here with
yaml.safe_load, not through the engine), and every check runs twice: on processes/roles.yaml as shipped, and on a copy
changed only in YAML (a new role with a lane of its own, capabilities added, taken away and refused with `never`), so
the behaviour follows the file without a line of Python changing. DOMAIN.md's own words are the independent oracle
(`test_the_domain_rules_hold`): "Ofgem observers read everything, act on nothing", the IPA never administers…"""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from engine.config import PROJECT_ROOT
from engine.errors import Forbidden, GovflowError
from engine.governance import meetings, policy
from engine.governance.seats import assign_seat
from engine.services import incidents
from engine.services.admin import InstanceAdmin
from engine.services.identity import NewUser
from engine.services.library import Library

from ..conftest import PEOPLE, TEST_PASSWORD, make_govflow
from .policy_probes import (MATRIX, PARTICIPANT, PROBE, SHAPES, capabilities_in_yaml, person_capabilities, read_roles,
                            write_probes)

SHIPPED = PROJECT_ROOT / "processes"
ROLES_YAML = SHIPPED / "roles.yaml"
GROUPS_YAML = SHIPPED / "governance-groups.yaml"


def changed_roles(data: dict) -> dict:
    """roles.yaml changed as an analyst would, in YAML only: a new Auditor role with a lane of its own; workstreams
    may reassign and hear of incidents; chairs only read now; the SRO never acts (whatever else they hold); the PMO no
    longer administers."""
    roles = {r["id"]: r for r in data["roles"]}
    roles["workstream"]["may"] = [*roles["workstream"]["may"], "reassign", "hear_incidents"]
    roles["chair"]["may"] = ["see_all_requests", "observe", "read_logs"]
    roles["sro"]["never"] = ["act"]
    roles["pmo"]["may"] = [c for c in roles["pmo"]["may"] if c != "administer"]
    data["roles"].append({"id": "auditor", "name": "Auditor", "description": "Reads and checks everything",
                          "may": ["act", "see_all_requests", "manage", "read_logs"]})
    return data


@pytest.fixture(params=["shipped", "changed"])
def world(request, database_url, tmp_path, clock):
    """A govflow on roles.yaml as shipped or changed (see `build_world`)."""
    built = build_world(request.param, database_url, tmp_path, clock)
    yield built
    built.gov.db.dispose()


@pytest.fixture
def shipped_world(database_url, tmp_path, clock):
    built = build_world("shipped", database_url, tmp_path, clock)
    yield built
    built.gov.db.dispose()


def build_world(variant: str, database_url: str, tmp_path: Path, clock) -> "World":
    """A govflow on roles.yaml as shipped or changed, with the test people, one person per role (`m_<role>`, that role
    only), the probe diagrams deployed, a matrix instance (one open task per lane) and one probe request per shape,
    each raised by alice."""
    processes = SHIPPED
    if variant == "changed":
        processes = tmp_path / "processes"
        shutil.copytree(SHIPPED, processes)
        data = changed_roles(yaml.safe_load(ROLES_YAML.read_text()))
        (processes / "roles.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    gov = make_govflow(database_url, tmp_path, clock, processes_dir=processes)
    gov.init()
    roles = read_roles(processes / "roles.yaml")
    for username, name, role_ids, organisation, constituency in PEOPLE:
        gov.add_user(NewUser(username, name, f"{username}@example.org", TEST_PASSWORD, tuple(role_ids), organisation,
                             constituency))
    for role in roles:
        gov.add_user(NewUser(f"m_{role['id']}", f"Only {role['name']}", f"m_{role['id']}@example.org", TEST_PASSWORD,
                             (role["id"],)))
    start_role = next(r["id"] for r in roles if "act" in capabilities_in_yaml(r))
    gov.deploy([write_probes(tmp_path / "probes", tmp_path / "forms", roles, start_role)], forms_dir=tmp_path / "forms")
    matrix = gov.start(MATRIX, f"m_{start_role}", {}).instance_id
    tasks = {t["element_id"]: t["id"] for t in gov.show(matrix)["tasks"]}
    probes = {shape: gov.start(PROBE, "alice", {"shape": shape}).instance_id for shape in SHAPES}
    gov.effects.wait_idle()  # the new tasks' announcements are made on the effects thread: all made before reading
    return World(gov, roles, matrix, tasks, probes, variant)


class World:
    def __init__(self, gov, roles, matrix, tasks, probes, variant):
        self.gov, self.roles, self.matrix, self.tasks, self.probes, self.variant = \
            gov, roles, matrix, tasks, probes, variant
        self.by_id = {r["id"]: r for r in roles}

    def caps(self, role_id: str) -> set[str]:
        return capabilities_in_yaml(self.by_id[role_id])

    def people(self) -> dict[str, set[str]]:
        """Every active person and the roles they hold."""
        return {u["username"]: set(u["roles"]) for u in self.gov.users() if u["active"]}

    def acts_in(self, role_ids: set[str], lane_role: str) -> bool:
        """The YAML's answer: someone with these roles may act in this lane."""
        return lane_role in role_ids and "act" in self.caps(lane_role) \
            and "act" in person_capabilities(self.roles, role_ids)


def refused(call) -> bool:
    """True when the engine refuses the call (Forbidden); any other outcome means it was allowed to try."""
    try:
        call()
    except Forbidden:
        return True
    except GovflowError:  # past the policy: no draft to publish, an incident already closed…
        return False
    return False


# --- capabilities -----------------------------------------------------------------------------------------------------

def test_every_role_has_what_the_yaml_says(world):
    gov = world.gov
    documented = set(yaml.safe_load((Path(gov.config.processes_dir) / "roles.yaml").read_text())["capabilities"])
    assert documented == set(policy.KNOWN_CAPABILITIES)  # the file documents exactly what the engine checks
    for role in world.roles:
        expected = capabilities_in_yaml(role)
        assert gov.capabilities(f"m_{role['id']}") == expected, role["id"]
        for capability in documented:
            assert gov.allows(f"m_{role['id']}", capability) == (capability in expected), (role["id"], capability)
    for username, role_ids in world.people().items():  # several roles: any `may`, less any `never`
        assert gov.capabilities(username) == person_capabilities(world.roles, role_ids), username
    assert gov.capabilities("nobody") == set() and not gov.allows("nobody", "act")
    with pytest.raises(ValueError):
        gov.allows("admin", "act_on_everything")  # a misspelt capability is an error, never a silent "no"
    if world.variant == "changed":  # the running govflow follows the file as soon as it changes
        path = Path(gov.config.processes_dir) / "roles.yaml"
        data = yaml.safe_load(path.read_text())
        next(r for r in data["roles"] if r["id"] == PARTICIPANT)["may"].append("manage")
        path.write_text(yaml.safe_dump(data, sort_keys=False) + "# changed while running\n")
        assert gov.allows("m_participant", "manage") and gov.allows("alice", "manage")


# --- act, and hear ------------------------------------------------------------------------------------------------------

def test_acting_on_a_task_of_each_lane(world):
    gov = world.gov
    for role in world.roles:
        username = f"m_{role['id']}"
        expected = {world.tasks[f"task_{lane['id']}"] for lane in world.roles
                    if world.acts_in({role["id"]}, lane["id"])}
        inbox = {t.id for t in gov.tasks(username) if t.instance_id == world.matrix}
        assert inbox == expected, role["id"]
        for lane in world.roles:
            task_id = world.tasks[f"task_{lane['id']}"]
            allowed = task_id in expected
            assert gov.may_act(task_id, username) == allowed, (role["id"], lane["id"])
            assert refused(lambda: gov.claim(task_id, username)) == (not allowed), (role["id"], lane["id"])
            if allowed:
                gov.unclaim(task_id, username)


def test_who_hears_about_a_task_of_each_lane(world):
    gov = world.gov
    people = world.people()
    told = {name: {n["task_id"] for n in gov.notifications(name, limit=500)
                   if n["kind"] == "new_task" and n["instance_id"] == world.matrix} for name in people}
    starter = gov.show(world.matrix)["started_by"]
    for lane in world.roles:
        task_id = world.tasks[f"task_{lane['id']}"]
        expected = sorted(name for name, role_ids in people.items() if world.acts_in(role_ids, lane["id"]))
        assert gov.hearers(task_id) == expected, lane["id"]
        # the notices themselves: a new task is announced to exactly those people (never to whoever started it)
        assert sorted(name for name in people if task_id in told[name]) == [n for n in expected if n != starter], \
            lane["id"]


# --- see ----------------------------------------------------------------------------------------------------------------

def test_seeing_a_request_in_each_shape(world):
    gov = world.gov
    groups = yaml.safe_load(GROUPS_YAML.read_text())["groups"]
    open_groups = {g["id"] for g in groups if g.get("membership") == policy.OPEN_MEMBERSHIP}
    for role in world.roles:
        username = f"m_{role['id']}"
        visible = {i["id"] for i in gov.instances(username, "visible", size=200)[0]}
        for name, shape in SHAPES.items():
            works_on = (not shape.for_raiser and world.acts_in({role["id"]}, shape.lane_role)
                        and (shape.group is None or shape.group in open_groups))
            expected = "see_all_requests" in world.caps(role["id"]) or shape.open_to_industry or works_on
            instance_id = world.probes[name]
            assert gov.may_view(instance_id, username) == expected, (role["id"], name)
            assert (instance_id in visible) == expected, (role["id"], name)  # the list agrees with the rule
    for instance_id in world.probes.values():  # the raiser sees every request they raised
        assert gov.may_view(instance_id, "alice")


def test_a_task_named_for_someone_shows_the_request_to_them_only(world):
    """A task's assignee narrows who it makes a request visible to: alice's request returned to her is not every
    participant's, nor is a seat's or a group's task every participant's."""
    gov = world.gov
    if "see_all_requests" in world.caps(PARTICIPANT):  # a roles.yaml where participants see every request
        assert all(gov.may_view(world.probes[name], "bob") for name in ("named", "seat", "group"))
        return
    for name in ("named", "seat", "group"):
        assert not gov.may_view(world.probes[name], "bob"), name
        assert world.probes[name] not in {i["id"] for i in gov.instances("bob", "visible", size=200)[0]}, name
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="system", holder="bob")
    assert gov.may_view(world.probes["seat"], "bob") and gov.may_view(world.probes["group"], "bob")
    assert not gov.may_view(world.probes["named"], "bob")


# --- the other actions ------------------------------------------------------------------------------------------------

def test_reassign_administer_library_logs_seats_comments_and_incidents(world):
    gov = world.gov
    admin = InstanceAdmin(gov.runtime)
    library = Library(gov)
    target_task = world.tasks[f"task_{PARTICIPANT}"]
    target_person = next(name for name, role_ids in world.people().items() if world.acts_in(role_ids, PARTICIPANT))
    version_id = gov.show(world.matrix)["version_id"]
    consultation = world.probes["consultation"]
    with gov.db.write() as session:
        incident = incidents.open_incident(session, gov.clock.now(), "stranded", "A probe incident",
                                           instance_id=world.probes["private"]).id
    for n, role in enumerate(world.roles):
        username, caps = f"m_{role['id']}", world.caps(role["id"])

        def check(capability, call):
            assert refused(call) == (capability not in caps), (role["id"], capability)

        check("reassign", lambda: gov.runtime.reassign(target_task, username, target_person))
        check("administer", lambda: admin.suspend(world.probes["lane_task"], username, "matrix"))
        if "administer" in caps:
            admin.resume(world.probes["lane_task"], username, "matrix")
        check("edit_library", lambda: library.open_draft(PROBE, username))
        if "edit_library" in caps:
            library.discard_draft(PROBE, username)
        check("publish", lambda: library.publish(MATRIX, username, "matrix"))  # allowed: no draft (NotFound)
        check("migrate", lambda: library.migrate([], version_id, username, dry_run=True))

        check("keep_logs", lambda: meetings.add_extraordinary_meeting(gov, "DAG", date(2027, 3, 1 + n), username))
        check("manage_seats", lambda: assign_seat(gov, "QAG", "SUPPLIER_SMALL", by=username, holder="bob"))
        check("act", lambda: gov.add_comment(consultation, username, "A comment from the matrix"))
        told = any(n["kind"] == "incident" for n in gov.notifications(username))
        assert told == ("hear_incidents" in caps), role["id"]
        check("administer", lambda: gov.resolve_incident(incident, username, "matrix"))


def test_the_web_pages_follow_the_yaml(world):
    from web.app import create_app
    from tests.web.conftest import sign_in

    app = create_app(world.gov, TESTING=True, SECRET_KEY="test-secret-key")
    task_of_another_lane = {role["id"]: world.tasks[f"task_{next(r['id'] for r in world.roles if r is not role)}"]
                            for role in world.roles}
    for role in world.roles:
        caps = world.caps(role["id"])
        client = app.test_client()
        assert sign_in(client, f"m_{role['id']}", TEST_PASSWORD).status_code == 302
        pages = {"/manage/": "manage" in caps, "/logs/decisions": "read_logs" in caps, "/library/": "read_library" in caps,
                 "/admin/seats/": bool(caps & {"read_seats", "manage_seats"}),
                 f"/tasks/{task_of_another_lane[role['id']]}": "observe" in caps and "act" not in caps}
        for path, allowed in pages.items():
            status = client.get(path).status_code
            assert (status == 200) == allowed, (role["id"], path, status)
            assert status in (200, 403), (role["id"], path, status)


# --- DOMAIN.md, written out by hand: the independent oracle -------------------------------------------------------------

def test_the_domain_rules_hold(shipped_world):
    world = shipped_world
    gov = world.gov
    # "Ofgem: observer in groups (read-only)" — reads everything, acts on nothing
    for instance_id in world.probes.values():
        assert gov.may_view(instance_id, "olive")
    assert [t for t in gov.tasks("olive")] == []
    assert not any(gov.may_act(task_id, "olive") for task_id in world.tasks.values())
    with pytest.raises(Forbidden):
        gov.add_comment(world.probes["consultation"], "olive", "May I?")
    with pytest.raises(Forbidden):
        InstanceAdmin(gov.runtime).suspend(world.probes["private"], "olive", "no")
    gov.add_user(NewUser("ofgem_admin", "Ofgem and admin", "", TEST_PASSWORD, ("admin", "ofgem_observer")))
    assert not gov.allows("ofgem_admin", "administer")  # an observer never administers, whatever else they hold
    # the IPA advises and hears appeals: it never administers
    assert not gov.allows("ida", "administer")
    with pytest.raises(Forbidden):
        InstanceAdmin(gov.runtime).suspend(world.probes["private"], "ida", "no")
    # a participant sees their own requests, those open to the industry and those they work on — nobody else's
    seen_by_bob = {name for name, iid in world.probes.items() if gov.may_view(iid, "bob")}
    assert seen_by_bob == {"consultation", "open_state", "lane_task", "open_group"}
    # README: management pages for the SRO, PMO, IPA, CCM, Ofgem observers and admins; reassign: PMO and admins;
    # the library: analysts edit and publish; the seat register: admins assign; incidents go to the admins
    expected = {"manage": {"sro", "pmo", "ipa", "change_control_manager", "ofgem_observer", "admin"},
                "reassign": {"pmo", "admin"}, "edit_library": {"analyst"}, "publish": {"analyst"},
                "migrate": {"analyst"}, "manage_seats": {"admin"}, "hear_incidents": {"admin"}, "integrate": {"admin"},
                "administer": {"admin", "pmo", "sro", "change_control_manager"}, "keep_logs": {"pmo", "admin"},
                "act": {"participant", "change_control_manager", "workstream", "pmo", "chair", "sro", "ipa",
                        "analyst", "admin"}}
    for capability, role_ids in expected.items():
        assert {r["id"] for r in world.roles if gov.allows(f"m_{r['id']}", capability)} == role_ids, capability
