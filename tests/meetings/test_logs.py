"""The PMO's logs (docs/governance-rules.md, "Meeting cycle"): the decision log read from the instances (change
requests with their threshold result, meeting decisions time-stamped to the recording), the action log (conditions
of a conditional approval are actions, meeting actions, manual ones, overdue reminders onto the next agenda), the
RAID log, search, CSV and .xlsx exports, and who may edit (the PMO and admins, audited)."""
from __future__ import annotations

import csv
import io
import zipfile
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from engine.governance import logs
from engine.errors import Forbidden, FormInvalid
from engine.governance.meetings import meetings, settings_of
from engine.store.models import AuditEvent
from engine.governance.seats import assign_seat

from ..scenarios.change_control_driver import CONDITIONS, ChangeRequest

UTC = timezone.utc


def do(gov, username, instance_id, element_id, **data):
    task = next(t for t in gov.tasks(username) if t.instance_id == instance_id and t.element_id == element_id)
    return gov.complete(task.id, username, data)


def decided_cr_and_meeting(gov, clock):
    """CR001 accepted with conditions by PSG on 20 Jan 2027, at an extraordinary PSG meeting recorded by Sam."""
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    cr = ChangeRequest(gov, clock).to_decision()
    cr.do("decide", decision_outcome="accept_with_conditions", conditions=CONDITIONS)
    meeting = gov.start("meeting", "pat", {"group_id": "PSG", "meeting_date": "2027-01-20",
                                           "meeting_kind": "extraordinary"}).instance_id
    do(gov, "pat", meeting, "publish_papers", papers_published_on="2027-01-12")
    do(gov, "sam", meeting, "hold_meeting", recording_reference="PSG-2027-01-20.mp4",
       recording_started_at="2027-01-20T10:00:00+00:00",
       decisions=[{"agenda_item": cr.data["reference"], "outcome": "accept_with_conditions",
                   "decision": "Accepted subject to two conditions", "recording_time": "01:12:30"},
                  {"agenda_item": "AOB1", "outcome": "noted", "decision": "Noted the SIT readiness update",
                   "recording_time": "01:40:00"}],
       actions=[{"action": "Circulate the SIT dashboard", "owner": "pat", "due_on": "2027-01-27"}])
    return cr, meeting


def test_decision_log_reads_change_requests_and_meeting_decisions(gov, clock):
    cr, meeting = decided_cr_and_meeting(gov, clock)
    with gov.db.read() as session:
        rows = logs.decisions(session)
        mine = [r for r in rows if r["reference"] == cr.data["reference"]]
        assert len(mine) == 1  # the meeting's decision on the CR enriches the CR's row, it does not repeat it
        row = mine[0]
        assert (row["source"], row["decided_by"], row["outcome"], row["threshold"]) == (
            "Change request", "PSG", "Accept subject to additional work", "Not met")
        assert (row["decided_on"], row["recording"], row["recording_time"]) == (
            "2027-01-20", "PSG 2027-01-20 recording 01:12:30", "01:12:30")
        aob = next(r for r in rows if r["reference"] == "AOB1")
        assert (aob["source"], aob["outcome"], aob["recording_time"], aob["meeting"]) == (
            "Meeting", "Noted", "01:40:00", "PSG 2027-01-20")
        assert [r["reference"] for r in logs.decisions(session, logs.LogQuery(text="sit readiness"))] == ["AOB1"]
        assert logs.decisions(session, logs.LogQuery(kind="appeal")) == []


def test_action_log_has_conditions_meeting_and_manual_actions_and_reminds_overdue_ones(gov, clock):
    cr, _meeting = decided_cr_and_meeting(gov, clock)
    ref = cr.data["reference"]
    manual = logs.add_action(gov, "pat", title="Book the February venue", owner="pat", due_on="2027-01-22",
                             group_id="PSG")
    with pytest.raises(Forbidden):
        logs.add_action(gov, "alice", title="Not allowed")
    with pytest.raises(FormInvalid):
        logs.add_action(gov, "pat", title="Bad date", due_on="next week")
    with gov.db.read() as session:
        rows = logs.actions(session, date(2027, 1, 25))
    by_ref = {r["reference"]: r for r in rows}
    first, second = [r for r in rows if r["source"] == f"Condition of {ref}"]  # each condition an action
    assert first["title"] == f"{ref} condition: " + CONDITIONS[0]["description"] and first["editable"]
    assert (first["owner"], first["due_on"], first["status"], first["group_id"]) == ("PMO", "2027-02-26", "open", "PSG")
    meeting_action = next(r for r in rows if r["title"] == "Circulate the SIT dashboard")
    assert meeting_action["source"] == "PSG meeting 2027-01-20" and meeting_action["editable"]
    assert by_ref[manual["reference"]]["overdue"] is True  # due 22 Jan, seen on 25 Jan

    clock.set(datetime(2027, 1, 25, 9, 0, tzinfo=UTC))
    with gov.db.write() as session:
        reminded = logs.remind_overdue_actions(session, clock.now(), date(2027, 1, 25), settings_of(gov))
    assert {r["reference"] for r in reminded} == {manual["reference"]}  # the meeting action is due 27 Jan
    assert reminded[0]["placed_on"] == "2027-02-03"  # overdue onto the next PSG agenda it can make
    assert any("overdue" in n["subject"] for n in gov.notifications("pat"))
    february = next(m for m in meetings(gov, "PSG") if m["held_on"] == date(2027, 2, 3))
    assert [(i["reference"], i["kind"]) for i in february["agenda"]] == [(manual["reference"], "action")]

    logs.update_action(gov, manual["id"], "admin", status="done")
    with gov.db.read() as session:
        assert [r["reference"] for r in logs.actions(session, date(2027, 1, 25), logs.LogQuery(status="done"))] == [
            manual["reference"]]
        audited = list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("action_log.%"))))
    assert audited.count("action_log.saved") == 5 and "action_log.reminded" in audited  # 2 conditions, 3 edits

    cr.do("communicate").do("close_conditions").do("close_conditions")
    with gov.db.read() as session:
        statuses = {r["reference"]: r["status"] for r in logs.actions(session, date(2027, 3, 1))}
    assert statuses[first["reference"]] == statuses[second["reference"]] == "done"


def test_raid_log_is_edited_by_the_pmo_and_admins_only(gov):
    risk = logs.add_raid(gov, "pat", type="risk", title="SIT environment unavailable", owner="Will Walker",
                         rag="red", mitigation="Second environment on standby", group_id="SITAG")
    assert risk["reference"] == f"R{risk['id']:03d}" and risk["status"] == "open"
    logs.update_raid(gov, risk["id"], "admin", rag="amber", escalation="Raised to PSG on 2026-12-02")
    with pytest.raises(Forbidden):
        logs.update_raid(gov, risk["id"], "chris", rag="green")
    with pytest.raises(FormInvalid):
        logs.add_raid(gov, "pat", type="worry", title="Not a RAID type")
    logs.add_raid(gov, "pat", type="dependency", title="DCC adapter release", owner="DCC", rag="green")
    with gov.db.read() as session:
        assert [r["rag"] for r in logs.raid(session, logs.LogQuery(kind="risk"))] == ["amber"]
        assert [r["title"] for r in logs.raid(session, logs.LogQuery(text="adapter"))] == ["DCC adapter release"]
        events = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(("raid.saved", "access.denied"))))
        actions = [(e.action, e.actor) for e in events]
    assert ("raid.saved", "admin") in actions and ("access.denied", "chris") in actions


# ---- web ------------------------------------------------------------------------------------------------------------

def _token(client, path):
    import re
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_logs_web_search_and_exports(gov, clock, signed_in):
    decided_cr_and_meeting(gov, clock)
    logs.add_raid(gov, "pat", type="issue", title="Late =SUM(A1) data", owner="PMO", rag="red")
    client = signed_in("pat")
    page = client.get("/logs/decisions?q=sit+readiness").get_data(as_text=True)
    assert "AOB1" in page and "Accepted subject to two conditions" not in page

    exported = client.get("/logs/decisions?format=csv&kind=meeting")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert "attachment" in exported.headers["Content-Disposition"]
    table = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert table[0][:4] == ["Source", "Reference", "Title", "Decided by"]
    assert [r[1] for r in table[1:]] == ["AOB1"]

    raid_csv = list(csv.reader(io.StringIO(client.get("/logs/raid?format=csv").get_data(as_text=True))))
    assert raid_csv[1][2] == "Late =SUM(A1) data"  # not at the start of a cell: left as it is

    sheet = client.get("/logs/actions?format=xlsx")
    assert sheet.mimetype.endswith("spreadsheetml.sheet")
    with zipfile.ZipFile(io.BytesIO(sheet.data)) as book:
        xml = book.read("xl/worksheets/sheet1.xml").decode()
    assert "Circulate the SIT dashboard" in xml and "Publish the revised plan" in xml
    with gov.db.read() as session:
        exports = list(session.scalars(select(AuditEvent).where(AuditEvent.action == "log.exported")))
    assert {e.details["log"] for e in exports} == {"decisions", "raid", "actions"}


def test_raid_edit_permissions_on_the_web(gov, signed_in):
    client = signed_in("pat")
    token = _token(client, "/logs/raid/new")
    created = client.post("/logs/raid/new", data={"csrf_token": token, "type": "risk", "title": "Vendor slippage",
                                                  "owner": "LDP", "rag": "red", "status": "open",
                                                  "mitigation": "", "escalation": "", "description": "",
                                                  "group_id": ""})
    assert created.status_code == 302
    assert "Vendor slippage" in client.get("/logs/raid").get_data(as_text=True)
    invalid = client.post("/logs/raid/new", data={"csrf_token": token, "type": "risk", "title": "", "rag": "red"})
    assert invalid.status_code == 422 and "Enter a value" in invalid.get_data(as_text=True)
    with gov.db.read() as session:
        item_id = logs.raid(session)[0]["id"]

    chair = signed_in("chris")  # a chair reads the logs but does not edit them
    assert chair.get("/logs/raid").status_code == 200
    assert chair.get(f"/logs/raid/{item_id}").status_code == 403
    assert chair.post(f"/logs/raid/{item_id}", data={"csrf_token": _token(chair, "/logs/raid"),
                                                     "rag": "green"}).status_code == 403
    observer = signed_in("olive")
    assert observer.get("/logs/decisions").status_code == 200
    assert observer.get("/logs/actions/new").status_code == 403
    assert signed_in("alice").get("/logs/raid").status_code == 403  # a participant does not see the PMO's logs

    admin = signed_in("admin")
    saved = admin.post(f"/logs/raid/{item_id}", data={"csrf_token": _token(admin, "/logs/raid"), "rag": "green",
                                                      "status": "closed"})
    assert saved.status_code == 302
    with gov.db.read() as session:
        assert (logs.raid_item(session, item_id)["rag"], logs.raid_item(session, item_id)["status"]) == (
            "green", "closed")


def test_the_pmo_plans_usual_and_extraordinary_meetings_on_the_web(gov, signed_in):
    pmo = signed_in("pat")
    token = _token(pmo, "/logs/meetings")
    planned = pmo.post("/logs/meetings", data={"csrf_token": token, "kind": "usual", "group_id": "PSG",
                                               "from": "2026-12-01", "to": "2027-01-31"})
    assert planned.status_code == 302
    added = pmo.post("/logs/meetings", data={"csrf_token": token, "kind": "extraordinary", "group_id": "PSG",
                                             "held_on": "2027-01-20", "note": "Urgent CRs"})
    assert added.status_code == 302
    page = pmo.get("/logs/meetings?group=PSG").get_data(as_text=True)
    assert "2027-01-06" in page and "2026-12-29" in page  # the January papers are due before Christmas is over
    assert "2027-01-20" in page and "extraordinary" in page and "Urgent CRs" in page
    chair = signed_in("chris")
    assert chair.get("/logs/meetings").status_code == 200
    assert chair.post("/logs/meetings", data={"csrf_token": _token(chair, "/logs/meetings"), "kind": "extraordinary",
                                              "group_id": "PSG", "held_on": "2027-01-27"}).status_code == 403
    assert [m["held_on"].isoformat() for m in meetings(gov, "PSG")] == ["2026-12-02", "2027-01-06", "2027-01-20"]
