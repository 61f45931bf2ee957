"""Meetings the secretariat runs (tests/scenarios/RULES.md, "Governance fidelity"): the PMO adds, orders and removes
agenda items (change requests, escalations, papers, any other business), marks a meeting held and records the group's
decision on each item at the meeting, which completes the item's decision task; every group that has work meets on a
usual day, planned ahead; an escalation to a group with no meeting planned is flagged to the PMO; and the same
cycle driven with `govflow meetings …` and `govflow seats …`."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
import yaml
from sqlalchemy import select, update

from engine.config import PROJECT_ROOT
from engine.errors import Forbidden, FormInvalid, GovflowError
from engine.governance.meetings import MeetingError, add_extraordinary_meeting, meetings
from engine.store.models import AuditEvent, GovernanceGroup

from ..cli_runner import cli_on
from ..scenarios.change_control_driver import ANSWERS, ChangeRequest
from ..scenarios.test_escalation import RAISE

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def agenda(gov, meeting_id) -> list[tuple]:
    return [(i["kind"], i["reference"] or i["title"]) for i in gov.meetings.meeting(meeting_id)["agenda"]]


def audited(gov, action) -> list[dict]:
    with gov.db.read() as session:
        return [e.details for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action))]


@pytest.fixture
def january(gov):
    """The extraordinary PSG meeting of Wed 20 Jan 2027 (papers due 13 Jan)."""
    return add_extraordinary_meeting(gov, "PSG", "2027-01-20", by="pat", note="Decisions")["id"]


# ---- the PMO's agenda ------------------------------------------------------------------------------------------------

def test_the_pmo_adds_orders_and_removes_agenda_items(gov, clock, january):
    escalation = gov.start("escalation", "alice", {**RAISE, "route": "sro"})
    gov.meetings.add_item(january, "pat", "paper", title="Programme plan v5.3")
    gov.meetings.add_item(january, "pat", "escalation", reference=escalation.reference)
    gov.meetings.add_item(january, "pat", "aob", title="Christmas cover")
    assert agenda(gov, january) == [("paper", "Programme plan v5.3"), ("escalation", "ESC001"),
                                    ("aob", "Christmas cover")]
    items = {i["title"]: i["id"] for i in gov.meetings.meeting(january)["agenda"]}
    gov.meetings.move_item(january, items["Christmas cover"], 1, "pat")
    gov.meetings.move_item(january, items["Programme plan v5.3"], 3, "pat")
    assert agenda(gov, january) == [("aob", "Christmas cover"), ("escalation", "ESC001"),
                                    ("paper", "Programme plan v5.3")]
    gov.meetings.remove_item(january, items["Christmas cover"], "pat")
    assert agenda(gov, january) == [("escalation", "ESC001"), ("paper", "Programme plan v5.3")]
    assert [e["reference"] for e in audited(gov, "agenda.added")] == ["", "ESC001", ""]
    assert [e["title"] for e in audited(gov, "agenda.removed")] == ["Christmas cover"]
    assert len(audited(gov, "agenda.ordered")) == 2
    # a new item goes last
    gov.meetings.add_item(january, "pat", "paper", title="IPA assurance report")
    assert agenda(gov, january)[-1] == ("paper", "IPA assurance report")


@pytest.mark.parametrize("kind, reference, title, message", [
    ("change_request", "CR404", "", "There is no change request CR404"),
    ("escalation", "", "", "Name the escalation by its reference"),
    ("paper", "", "  ", "Give the paper a title"),
    ("minutes", "", "Minutes", "An agenda item is one of change_request, escalation, paper, aob, not 'minutes'"),
])
def test_a_bad_agenda_item_is_refused_with_a_clear_message(gov, january, kind, reference, title, message):
    with pytest.raises(GovflowError, match=message):
        gov.meetings.add_item(january, "pat", kind, reference, title)
    assert agenda(gov, january) == []


def test_only_the_secretariat_changes_an_agenda_and_a_refusal_is_audited(gov, january):
    with pytest.raises(Forbidden, match="can change an agenda"):
        gov.meetings.add_item(january, "alice", "aob", title="Mine")
    with pytest.raises(Forbidden):
        gov.meetings.mark_held(january, "chris")
    assert [e["attempted"] for e in audited(gov, "access.denied")] == ["change an agenda", "mark a meeting held"]
    gov.meetings.add_item(january, "admin", "aob", title="Admins keep the logs too")


def test_a_meeting_is_marked_held_on_its_day_and_its_agenda_then_closes(gov, clock, january):
    gov.meetings.add_item(january, "pat", "paper", title="Plan")
    clock.set(at(2027, 1, 19, 12))
    with pytest.raises(MeetingError, match="cannot be marked held before its day"):
        gov.meetings.mark_held(january, "pat")
    clock.set(at(2027, 1, 20, 15))
    assert gov.meetings.mark_held(january, "pat")["status"] == "held"
    with pytest.raises(MeetingError, match="is closed: the meeting is held"):
        gov.meetings.add_item(january, "pat", "aob", title="Too late")
    with pytest.raises(MeetingError, match="already marked held"):
        gov.meetings.mark_held(january, "pat")


# ---- the group's decision, recorded at the meeting -------------------------------------------------------------------

def test_the_pmo_records_the_groups_decision_at_the_meeting_completing_the_decide_task(gov, clock):
    cr = ChangeRequest(gov, clock, title="Move M10")
    cr.to_decision()  # tabled for the PSG of Wed 20 Jan 2027
    meeting_id, item_id = cr.data["decision_meeting_id"], cr.data["agenda_item_id"]
    page = gov.meetings.meeting(meeting_id)
    [item] = [i for i in page["agenda"] if i["id"] == item_id]
    assert item["decision_task"]["name"] and cr.open_tasks() == ["decide"]
    with pytest.raises(MeetingError, match="held first"):
        gov.meetings.record_decision(meeting_id, item_id, "pat", ANSWERS["decide"])
    clock.set(at(2027, 1, 20, 15))
    gov.meetings.mark_held(meeting_id, "pat")
    with pytest.raises(Forbidden):
        gov.meetings.record_decision(meeting_id, item_id, "alice", ANSWERS["decide"])
    with pytest.raises(FormInvalid):  # the decision form's own rules apply
        gov.meetings.record_decision(meeting_id, item_id, "pat", {"decision_outcome": "maybe"})
    result = gov.meetings.record_decision(meeting_id, item_id, "pat", ANSWERS["decide"])
    assert result.state == "approved" and cr.state == "approved"
    [decide] = [t for t in cr.record["tasks"] if t["element_id"] == "decide"]
    assert decide["status"] == "completed" and decide["completed_by"] == "pat"
    [recorded] = audited(gov, "meeting.decision_recorded")
    assert (recorded["meeting_id"], recorded["agenda_item_id"]) == (meeting_id, item_id)
    [item] = [i for i in gov.meetings.meeting(meeting_id)["agenda"] if i["id"] == item_id]
    assert item["decision_task"] is None and item["decisions"]  # the page shows what was decided
    assert cr.data["decision_history"][-1]["meeting_id"] == meeting_id
    with pytest.raises(MeetingError, match="no decision open"):
        gov.meetings.record_decision(meeting_id, item_id, "pat", ANSWERS["decide"])


def test_an_escalation_on_an_agenda_is_decided_at_the_meeting_too(gov, clock):
    from engine.governance.seats import assign_seat
    assign_seat(gov, "SITAG", "SRO_CHAIR", by="admin", holder="chris")
    started = gov.start("escalation", "pat", {**RAISE, "route": "group", "origin_group": "TWG"})
    data = gov.show(started.instance_id)["data"]
    meeting_id, item_id = data["group_meeting_id"], data["group_agenda_item_id"]
    assert data["group_meeting_date"] == "2026-12-16"  # SITAG's usual third Wednesday, papers due 9 Dec
    clock.set(at(2026, 12, 16, 15))
    gov.meetings.mark_held(meeting_id, "pat")
    done = gov.meetings.record_decision(meeting_id, item_id, "pat", {
        "group_decision": "resolve", "group_outcome": "Weekly slots per party.", "decided_on": "2026-12-16"})
    assert done.state == "resolved"
    assert gov.show(started.instance_id)["data"]["levels"][-1]["meeting_id"] == meeting_id


# ---- every group that has work has meetings --------------------------------------------------------------------------

def test_every_active_group_below_ofgem_has_a_usual_day_as_data():
    groups = yaml.safe_load((PROJECT_ROOT / "processes" / "governance-groups.yaml").read_text())["groups"]
    without = [g["id"] for g in groups if g.get("status", "active") == "active" and g["level"] > 1
               and not (g.get("meeting_cadence") or {}).get("usual_day")]
    assert without == []


def test_usual_meetings_are_planned_ahead_for_every_group(gov, clock):
    made = gov.meetings.plan_ahead("pat")
    planned = {m["group_id"] for m in made}
    assert {"PSG", "DAG", "CCAG", "SITAG", "MCAG", "QAG", "TWG", "MWG", "BPRWG"} <= planned
    assert "TMAG" not in planned and "OFGEM" not in planned
    sitag = [m["held_on"] for m in meetings(gov, "SITAG")]
    assert sitag[:3] == [date(2026, 12, 16), date(2027, 1, 20), date(2027, 2, 17)]  # third Wednesdays
    assert max(m["held_on"] for m in made) <= clock.now().date() + timedelta(days=92)
    assert gov.meetings.plan_ahead("pat") == []  # nothing twice
    with pytest.raises(Forbidden):
        gov.meetings.plan_ahead("alice")


def test_the_scheduler_plans_the_usual_meetings_ahead_each_working_day(gov, clock):
    scheduler = gov.scheduler()
    assert scheduler.plan_meetings_ahead(clock.now(), clock.now().date()) > 0
    assert {m["group_id"] for m in meetings(gov)} >= {"SITAG", "MCAG", "QAG"}


def test_an_escalation_to_a_group_with_no_meeting_planned_is_flagged_to_the_pmo(gov):
    with gov.db.write() as session:  # a group whose cycle the analysts have not set: no usual day, nothing planned
        session.execute(update(GovernanceGroup).where(GovernanceGroup.id == "SITAG").values(usual_day=None))
    started = gov.start("escalation", "pat", {**RAISE, "route": "group", "origin_group": "TWG"})
    assert started.state == "with SITAG"
    assert any(n["subject"] == "ESC001 needs a SITAG meeting" for n in gov.notifications("pat"))
    assert "has no meeting planned" in gov.show(started.instance_id)["data"]["agenda_note"]


# ---- the CLI: govflow meetings …, govflow seats … --------------------------------------------------------------------

@pytest.fixture
def cli(empty_database_url, tmp_path, monkeypatch):
    run = cli_on(empty_database_url, tmp_path / "instance", monkeypatch)
    run("init", "--demo")
    return run


def test_the_secretariat_drives_the_meeting_cycle_from_the_cli(cli):
    at_ = "2026-12-01T09:00"
    planned = json.loads(cli("meetings", "plan", "--as", "pat", "--group", "PSG", "--at", at_, "--json").stdout)
    assert [m["held_on"] for m in planned][:2] == ["2026-12-02", "2027-01-06"]
    listed = cli("meetings", "list", "--group", "PSG", "--at", at_).stdout
    assert "PSG    2027-01-06  usual" in listed and "papers due 2026-12-29" in listed
    january = planned[1]["id"]
    cli("meetings", "agenda", january, "--as", "pat", "--add", "paper", "--title", "Plan v5.3", "--at", at_)
    cli("meetings", "agenda", january, "--as", "pat", "--add", "aob", "--title", "Cover", "--at", at_)
    shown = json.loads(cli("meetings", "agenda", january, "--json").stdout)
    cover = shown["agenda"][1]["id"]
    text = cli("meetings", "agenda", january, "--as", "pat", "--move", cover, "--to", 1, "--at", at_).stdout
    assert text.index("Any other business: Cover") < text.index("Paper: Plan v5.3")
    refused = cli("meetings", "agenda", january, "--as", "alice", "--remove", cover, ok=False)
    assert "can change an agenda" in refused.stderr
    cli("meetings", "agenda", january, "--as", "pat", "--remove", cover)
    early = cli("meetings", "held", january, "--as", "pat", "--at", "2027-01-05T12:00", ok=False)
    assert "cannot be marked held before its day" in early.stderr
    held = cli("meetings", "held", january, "--as", "pat", "--at", "2027-01-06T15:00").stdout
    assert "The PSG meeting on 2027-01-06 is marked held." in held
    extra = json.loads(cli("meetings", "plan", "--as", "pat", "--group", "PSG", "--extraordinary", "2027-01-20",
                           "--note", "Urgent", "--at", at_, "--json").stdout)
    assert extra[0]["kind"] == "extraordinary" and extra[0]["papers_due_on"] == "2027-01-13"


def test_the_seat_register_from_the_cli(cli):
    cli("seats", "set", "PSG", "SUPPLIER_LARGE", "--as", "admin", "--holder", "alice", "--alternate", "bob")
    listed = cli("seats", "list", "--group", "PSG").stdout
    assert "SUPPLIER_LARGE" in listed and "(alice); alternate" in listed and "(bob)" in listed
    assert "SUPPLIER_LARGE" not in cli("seats", "list", "--group", "PSG", "--vacant").stdout
    refused = cli("seats", "set", "PSG", "SUPPLIER_LARGE", "--as", "pat", "--holder", "bob", ok=False)
    assert refused.exit_code == 1 and refused.stderr.strip()
    cli("seats", "set", "PSG", "SUPPLIER_LARGE", "--as", "admin", "--holder", "-")
    assert "SUPPLIER_LARGE" in cli("seats", "list", "--group", "PSG", "--vacant").stdout
    shown = json.loads(cli("seats", "list", "--group", "DAG", "--json").stdout)
    assert shown[0]["id"] == "DAG" and shown[0]["seats"][0]["seat_code"] == "SRO_CHAIR"


# ---- the headline report carries the recording link ------------------------------------------------------------------

def test_the_headline_report_carries_the_meeting_recording_link(gov, clock, january):
    """4.5: "The PMO will issue a headline report within two working days of the meeting, and publish the meeting
    recording via the MHHS Programme Collaboration Base"; no minutes for Level 2/3 meetings (2.2)."""
    from engine.governance.meetings import start_meeting_cycle
    from engine.governance.seats import assign_seat
    from .test_meeting_cycle import do
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    iid = start_meeting_cycle(gov, january, "pat").instance_id
    do(gov, "pat", iid, "publish_papers", papers_published_on="2027-01-12")
    clock.set(at(2027, 1, 20, 15))
    do(gov, "sam", iid, "hold_meeting", recording_reference="PSG-2027-01-20.mp4",
       recording_started_at="2027-01-20T10:00:00+00:00", decisions=[], actions=[])
    clock.set(at(2027, 1, 22, 10))
    report = {"headline_published_on": "2027-01-22", "headline_summary": "Plan v5.3 noted."}
    for link in (None, "http://collab.example.org/rec", "not a link"):
        with pytest.raises(FormInvalid) as refused:
            do(gov, "pat", iid, "headline_report", **report, **({"recording_link": link} if link else {}))
        assert "recording_link" in refused.value.errors
    link = "https://collaboration.example.org/psg/2027-01-20"
    do(gov, "pat", iid, "headline_report", **report, recording_link=link)
    [notice] = [n for n in gov.notifications("alice") if n["subject"].startswith("Headline report")]
    assert link in notice["body"] and "Plan v5.3 noted." in notice["body"] and "PSG-2027-01-20.mp4" in notice["body"]
    page = gov.meetings.meeting(january)
    assert (page["recording_link"], page["headline_published_on"]) == (link, "2027-01-22")
    assert "minutes" not in json.dumps(gov.show(iid)["data"]).lower()


def test_the_demo_agendas_hold_papers_and_any_other_business(gov):
    from engine.demo.demo_work import add_demo_work
    add_demo_work(gov)
    with_items = {m["group_id"] for m in meetings(gov) if any(i["kind"] in ("paper", "aob") for i in m["agenda"])}
    assert {"PSG", "DAG", "CCAG", "SITAG", "MCAG", "QAG"} <= with_items
    [sitag] = [m for m in meetings(gov, "SITAG") if m["agenda"]][:1]
    assert {i["kind"] for i in sitag["agenda"]} == {"escalation", "paper"}  # the demo escalation placed itself
