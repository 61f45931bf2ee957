"""Who sees a request, over the web and the API (SQLite and PostgreSQL): every role of processes/roles.yaml, plus two
participants and a participant holding a seat, against a change request in every state that matters (raised,
returned to its raiser, in impact assessment, in consultation, awaiting decision, decided, withdrawn, lapsed), an
escalation and an appeal, on every surface that shows one: the request page, its attachment, its comments (read and
post), its history, the register and its export, and the API (instance, comments, history, attachments, lists,
register and export).

The expected answers are the tables below, written from the framework as docs/governance-rules.md and
processes/README.md put it ("a participant sees their own requests, those issued for consultation or decided, and
those they work on"; "a returned request is with its raiser alone"; "Ofgem observers read everything and act on
nothing") and from roles.yaml (`test_the_tables_agree_with_roles_yaml` checks they have not drifted apart): nothing
is asked of the code under test to work out what it should answer."""
from __future__ import annotations

import csv
import io
from copy import deepcopy
from dataclasses import dataclass, field

import pytest
import yaml

from engine.config import PROJECT_ROOT
from engine.governance.seats import assign_seat
from engine.services.identity import NewUser
from tests.conftest import TEST_PASSWORD
from tests.sample_files import pdf
from tests.scenarios.change_control_driver import RAISE, ChangeRequest, together
from tests.web.conftest import sign_in

# --- the expected answers, by hand ----------------------------------------------------------------------------------

# role: (reads every request, uses the management pages (register, export, instance page), acts and comments)
ROLES = {
    "participant": (False, False, True),
    "change_control_manager": (True, True, True),
    "workstream": (True, False, True),
    "pmo": (True, True, True),
    "chair": (True, False, True),
    "sro": (True, True, True),
    "ipa": (True, True, True),
    "ofgem_observer": (True, True, False),
    "analyst": (True, False, True),
    "admin": (True, True, True),
}
# the three participants: alice raises the change requests and the escalation, bob lodges the appeal (and answered
# the consultations), rita holds DAG's large-supplier seat (the escalation's representative)
PARTICIPANTS = ("alice", "bob", "rita")
# which participants read each request (everyone holding see_all_requests reads every one)
PARTICIPANTS_WHO_SEE = {
    "raised": {"alice"},                        # with the change control manager for validation
    "returned": {"alice"},                      # returned to its raiser: hers and the programme's alone
    "impact assessment": {"alice"},             # with the workstreams
    "in consultation": {"alice", "bob", "rita"},  # issued to the whole industry
    "awaiting decision": {"alice", "bob", "rita"},  # issued once, readable ever after
    "decided": {"alice", "bob", "rita"},        # approved: a decided state the industry reads
    "withdrawn": {"alice"},                     # withdrawn before it was issued
    "lapsed": {"alice"},                        # returned, and its raiser never answered
    "escalation": {"alice", "rita"},            # its raiser, and the representative whose seat reviews it
    "appeal": {"bob"},                          # its appellant
}
STATE_OF = {  # the instance's own state for each row, checked first so the table stays honest
    "raised": "submitted", "returned": "returned to raiser", "impact assessment": "impact assessment",
    "in consultation": "in consultation", "awaiting decision": "awaiting decision", "decided": "approved",
    "withdrawn": "withdrawn", "lapsed": "withdrawn", "escalation": "with the representative",
    "appeal": "under assessment",
}


def person_of(role: str) -> str:
    return f"only_{role}"


PEOPLE = {**{p: "participant" for p in PARTICIPANTS},
          **{person_of(r): r for r in ROLES if r != "participant"}}


def sees(username: str, row: str) -> bool:
    return ROLES[PEOPLE[username]][0] or username in PARTICIPANTS_WHO_SEE[row]


def manages(username: str) -> bool:
    return ROLES[PEOPLE[username]][1]


def acts(username: str) -> bool:
    return ROLES[PEOPLE[username]][2]


def test_the_tables_agree_with_roles_yaml():
    """The hand-written ROLES table is roles.yaml's (read here as plain YAML): if the file changes, so must this."""
    data = yaml.safe_load((PROJECT_ROOT / "processes" / "roles.yaml").read_text())
    found = {}
    for role in data["roles"]:
        allowed = set(role.get("may") or []) - set(role.get("never") or [])
        found[role["id"]] = ("see_all_requests" in allowed, "manage" in allowed, "act" in allowed)
    assert found == ROLES
    assert set(PARTICIPANTS_WHO_SEE) == set(STATE_OF)


# --- the requests, one per row ----------------------------------------------------------------------------------------

@dataclass
class Row:
    instance_id: int
    attachment_id: int | None = None
    notes: list[str] = field(default_factory=list)


class FiledRequest(ChangeRequest):
    """A change request raised by alice with a PDF attached (the driver's answers for every later step)."""

    def __init__(self, gov, clock, title: str):
        self.gov, self.clock, self.raiser = gov, clock, "alice"
        data = {**deepcopy(RAISE), "title": title}
        self.id = gov.submissions.start("change_control", "alice", data,
                                        [("supporting_documents", "evidence.pdf", pdf())]).instance_id
        self.done, self.sent = [], []


def build(gov, clock) -> dict[str, Row]:
    for role in ROLES:
        if role != "participant":
            gov.add_user(NewUser(person_of(role), f"Only {role}", f"{role}@example.org", TEST_PASSWORD, (role,)))
    gov.add_user(NewUser("rita", "Rita Reid", "rita@example.org", TEST_PASSWORD, ("participant",),
                         "Big Supplier plc", "SUPPLIER_LARGE"))
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", holder="rita")
    crs: dict[str, ChangeRequest] = {}

    def raise_(row):
        crs[row] = FiledRequest(gov, clock, f"Matrix {row}")
        return crs[row]

    # 1 Dec 2026: returned to alice, and never answered (it lapses on its timer during the next step)
    raise_("lapsed").do("validate", valid=False, validation_issues="The impacted milestones are missing.")
    # through consultation to the PSG on 20 Jan 2027; one decided there
    together([raise_("awaiting decision"), raise_("decided")])
    crs["decided"].do("decide")
    # 20 Jan 2027: the rest
    raise_("raised")
    raise_("returned").do("validate", valid=False, validation_issues="The impacted milestones are missing.")
    raise_("impact assessment").do("validate").do("triage")
    raise_("withdrawn").withdraw(reason="Overtaken by CR002.")
    consultation = raise_("in consultation")
    for step in ("validate", "triage", "impact_assessment", "amend", "issue_consultation"):
        consultation.do(step)
    rows = {name: Row(cr.id) for name, cr in crs.items()}
    escalation = gov.start("escalation", "alice", {
        "title": "Matrix escalation", "concern": "SIT slots are allocated unfairly.", "desired_outcome": "A fair rule.",
        "raiser_organisation": "Northern Power Supply", "cost_impact_gbp": 0, "tom_impact": False,
        "consumer_competition_impact": False, "level1_milestone_change": False, "route": "representative",
        "origin_group": "DAG", "constituency": "SUPPLIER_LARGE"})
    rows["escalation"] = Row(escalation.instance_id)
    appeal = gov.start("appeal", "bob", {
        "decision_reference": "CR099", "decision_summary": "Matrix appeal: PSG rejected CR099.",
        "decision_date": "2027-01-18", "decision_communicated_on": "2027-01-19",
        "grounds": "Responses were not put to PSG.", "desired_outcome": "Reconsider it.",
        "appellant_organisation": "Small Energy Co"})
    rows["appeal"] = Row(appeal.instance_id)
    for name, row in rows.items():
        record = gov.show(row.instance_id)
        assert record["state"] == STATE_OF[name], (name, record["state"])
        files = gov.attachments.of_instance(row.instance_id, "only_admin")
        row.attachment_id = files[0]["id"] if files else None
        assert (row.attachment_id is not None) == (name in crs), name
        marker = f"A programme note on {name}"
        gov.add_comment(row.instance_id, "only_change_control_manager", marker)
        row.notes.append(marker)
    return rows


@pytest.fixture
def world(gov, clock):
    rows = build(gov, clock)
    from web.app import create_app
    app = create_app(gov, TESTING=True, SECRET_KEY="test-secret-key", INBOX_PAGE_SIZE=200)
    return app, rows


# --- the matrix -------------------------------------------------------------------------------------------------------

def allowed(status: int) -> bool:
    assert status in (200, 201, 302, 403), status  # never a 500, nor a 404 that hides a refusal as absence
    return status in (200, 201, 302)


def test_every_person_sees_every_request_as_the_policy_says(world, token_from):
    app, rows = world
    wrong: list[str] = []

    def expect(username, what, got, want):
        if got != want:
            wrong.append(f"{username:<28} {what:<48} got {'yes' if got else 'no '} expected {'yes' if want else 'no'}")

    for username in PEOPLE:
        client = app.test_client()
        assert sign_in(client, username, TEST_PASSWORD).status_code == 302, username
        token = token_from(client)
        api_headers = {"X-CSRF-Token": token}
        for name, row in rows.items():
            iid, see = row.instance_id, sees(username, name)
            page = client.get(f"/requests/{iid}")
            expect(username, f"{name}: request page", allowed(page.status_code), see)
            html = page.get_data(as_text=True) if page.status_code == 200 else ""
            expect(username, f"{name}: comments read on the page", all(n in html for n in row.notes), see)
            expect(username, f"{name}: history on the page", 'id="history"' in html, see)
            if row.attachment_id is not None:
                download = client.get(f"/attachments/{row.attachment_id}")
                expect(username, f"{name}: attachment", allowed(download.status_code), see)
                if download.status_code == 200:
                    assert download.data.startswith(b"%PDF")
                api_file = client.get(f"/api/v1/instances/{iid}/attachments/{row.attachment_id}")
                expect(username, f"{name}: API attachment", allowed(api_file.status_code), see)
            posted = client.post(f"/requests/{iid}/comments",
                                 data={"comment": f"{username} on {name}", "csrf_token": token})
            expect(username, f"{name}: comment posted", allowed(posted.status_code), see and acts(username))
            api_posted = client.post(f"/api/v1/instances/{iid}/comments", json={"body": f"{username} via API"},
                                     headers=api_headers)
            expect(username, f"{name}: API comment posted", allowed(api_posted.status_code), see and acts(username))
            for part in ("", "/comments", "/history", "/attachments"):
                response = client.get(f"/api/v1/instances/{iid}{part}")
                expect(username, f"{name}: API instance{part}", allowed(response.status_code), see)
            managed = client.get(f"/manage/instances/{iid}")
            expect(username, f"{name}: management instance page", allowed(managed.status_code), manages(username))

        listed = client.get("/requests/?scope=all").get_data(as_text=True)
        api_listed = client.get("/api/v1/instances?scope=visible&limit=200").get_json()
        api_ids = {item["id"] for item in api_listed["items"]}
        register = client.get("/manage/instances?size=200")
        register_html = register.get_data(as_text=True) if register.status_code == 200 else ""
        expect(username, "register page", allowed(register.status_code), manages(username))
        with client.get("/manage/instances?format=csv") as export:
            expect(username, "register export", allowed(export.status_code), manages(username))
            exported = exported_ids(export.get_data(as_text=True)) if export.status_code == 200 else set()
        api_register = client.get("/api/v1/register?limit=200")
        expect(username, "API register", allowed(api_register.status_code), manages(username))
        api_register_ids = {item["id"] for item in api_register.get_json()["items"]} \
            if api_register.status_code == 200 else set()
        api_export = client.get("/api/v1/register/export")
        expect(username, "API register export", allowed(api_export.status_code), manages(username))
        api_exported = exported_ids(api_export.get_data(as_text=True)) if api_export.status_code == 200 else set()
        for name, row in rows.items():
            see, manage = sees(username, name), manages(username)
            expect(username, f"{name}: in my list of requests", f"/requests/{row.instance_id}\"" in listed, see)
            expect(username, f"{name}: in the API's list", row.instance_id in api_ids, see)
            expect(username, f"{name}: in the register", f"/manage/instances/{row.instance_id}\"" in register_html,
                   manage)
            expect(username, f"{name}: in the register export", row.instance_id in exported, manage)
            expect(username, f"{name}: in the API register", row.instance_id in api_register_ids, manage)
            expect(username, f"{name}: in the API export", row.instance_id in api_exported, manage)
    assert wrong == [], "\n" + "\n".join(wrong)


def exported_ids(text: str) -> set[int]:
    """The instance ids in a register export (its `Instance` column)."""
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    column = rows[0].index("Instance")
    return {int(r[column]) for r in rows[1:] if r}
