"""Escalation scenarios (docs/governance-rules.md, "Escalation"; framework 3.6-3.7) through the engine API, one test per
rule: a group escalates to its parent only (TWG -> SITAG -> PSG -> SRO), each level may resolve, a party escalates
through its constituency representative or to the SRO directly, a party reaches Ofgem only through the IPA (which
informs the SRO and PSG before the PMO communicates), and above-threshold matters go to Ofgem through the SRO. Plus
the cumulative Ofgem threshold shown to the deciding group with its headroom."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import yaml

from engine.errors import Forbidden, FormInvalid
from engine.services.identity import NewUser
from engine.governance.seats import assign_seat

from ..conftest import TEST_PASSWORD

UTC = timezone.utc

RAISE = {"title": "Test environment booking rules", "concern": "SIT environment slots are allocated unfairly.",
         "desired_outcome": "A published, fair booking rule.", "raiser_organisation": "Northern Power Supply",
         "cost_impact_gbp": 0, "tom_impact": False, "consumer_competition_impact": False,
         "level1_milestone_change": False}


@pytest.fixture
def egov(gov):
    """The seat register for these scenarios: Sam chairs PSG, Chris chairs SITAG and DAG, Rita represents large
    suppliers on DAG, Bob sits on PSG for small suppliers."""
    gov.add_user(NewUser("rita", "Rita Reid", "rita@example.org", TEST_PASSWORD, ("participant",),
                         "Big Supplier plc", "SUPPLIER_LARGE"))
    assign_seat(gov, "PSG", "SRO_CHAIR", by="admin", holder="sam")
    assign_seat(gov, "PSG", "SUPPLIER_SMALL", by="admin", holder="bob")
    assign_seat(gov, "SITAG", "SRO_CHAIR", by="admin", holder="chris")
    assign_seat(gov, "DAG", "SRO_CHAIR", by="admin", holder="chris")
    assign_seat(gov, "DAG", "SUPPLIER_LARGE", by="admin", holder="rita")
    return gov


# ---- driving the engine API -----------------------------------------------------------------------------------------

def open_tasks(gov, username, instance_id):
    return [t for t in gov.tasks(username) if t.instance_id == instance_id]


def task(gov, username, instance_id, element_id):
    found = [t for t in open_tasks(gov, username, instance_id) if t.element_id == element_id]
    assert found, (f"{username} has no '{element_id}' on {instance_id}; open: "
                   f"{[(t.element_id, t.group_id) for t in gov.tasks(username)]}")
    return found[0]


def do(gov, username, instance_id, element_id, **data):
    return gov.complete(task(gov, username, instance_id, element_id).id, username, data)


def record(gov, instance_id):
    return gov.show(instance_id)


def open_elements(gov, instance_id):
    return sorted((t["element_id"], t["lane"]) for t in record(gov, instance_id)["tasks"] if t["status"] == "ready")


def group_of_open_task(gov, instance_id):
    from engine.store.models import HumanTask
    with gov.db.read() as session:
        rows = session.query(HumanTask).filter_by(instance_id=instance_id, status="ready").all()
        return [(r.element_id, r.group_id) for r in rows]


def consider(gov, username, instance_id, decision, outcome, decided_on="2026-12-02"):
    return do(gov, username, instance_id, "consider_at_group", group_decision=decision, group_outcome=outcome,
              decided_on=decided_on)


def raise_escalation(gov, username="pat", **data):
    return gov.start("escalation", username, {**RAISE, **data})


def summary(levels):
    return [(lv["level"], lv["result"]) for lv in levels]


# ---- a group escalates to its parent only ----------------------------------------------------------------------------

def test_a_group_escalates_to_its_parent_only_twg_sitag_psg_sro(egov, clock):
    started = raise_escalation(egov, route="group", origin_group="TWG")
    iid = started.instance_id
    data = record(egov, iid)["data"]
    assert started.reference == "ESC001" and started.state == "with SITAG"
    assert summary(data["levels"]) == [("TWG", "escalated")]
    # TWG's parent is SITAG: only SITAG's chair has it; PSG and the SRO have nothing yet
    assert group_of_open_task(egov, iid) == [("consider_at_group", "SITAG")]
    assert [t.element_id for t in open_tasks(egov, "sam", iid)] == []  # Sam chairs PSG, not SITAG
    with pytest.raises(Forbidden):
        egov.complete(task(egov, "chris", iid, "consider_at_group").id, "sam",
                      {"group_decision": "resolve", "group_outcome": "x", "decided_on": "2026-12-02"})

    clock.set(datetime(2026, 12, 3, 10, tzinfo=UTC))
    assert consider(egov, "chris", iid, "escalate", "SITAG cannot agree a rule.").state == "with PSG"
    assert group_of_open_task(egov, iid) == [("consider_at_group", "PSG")]
    assert open_tasks(egov, "chris", iid) == []  # Chris has no PSG seat
    clock.set(datetime(2026, 12, 8, 10, tzinfo=UTC))
    assert consider(egov, "sam", iid, "escalate", "No consensus at PSG.", "2026-12-08").state == "with the SRO"
    assert open_elements(egov, iid) == [("sro_consider", "SRO")]
    clock.set(datetime(2026, 12, 9, 10, tzinfo=UTC))
    done = do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Fixed weekly slots per party.",
              ipa_advice_given="none_given", decided_on="2026-12-09")
    assert done.status == "completed" and done.state == "resolved"
    data = record(egov, iid)["data"]
    assert summary(data["levels"]) == [("TWG", "escalated"), ("SITAG", "escalated"), ("PSG", "escalated"),
                                       ("SRO", "resolved")]
    assert [(lv["arrived_on"], lv["decided_on"]) for lv in data["levels"]] == [
        ("2026-12-01", "2026-12-01"), ("2026-12-01", "2026-12-02"), ("2026-12-03", "2026-12-08"),
        ("2026-12-08", "2026-12-09")]
    assert data["levels"][1]["outcome"] == "SITAG cannot agree a rule."
    assert data["resolved_by"] == "SRO" and data["resolution"] == "Fixed weekly slots per party."
    assert any(n["subject"] == "ESC001 resolved" for n in egov.notifications("pat"))


@pytest.mark.parametrize("level", ["SITAG", "PSG", "SRO"])
def test_each_level_can_resolve_it(egov, level):
    iid = raise_escalation(egov, route="group", origin_group="TWG").instance_id
    chairs = {"SITAG": "chris", "PSG": "sam"}
    path = []
    for group in ("SITAG", "PSG"):
        if level == group:
            assert consider(egov, chairs[group], iid, "resolve", f"Resolved at {group}").state == "resolved"
            break
        consider(egov, chairs[group], iid, "escalate", "Up")
        path.append(group)
    else:
        if level == "SRO":
            do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Resolved by the SRO",
               ipa_advice_given="none_given", decided_on="2026-12-02")
    shown = record(egov, iid)
    assert shown["status"] == "completed" and shown["state"] == "resolved"
    assert shown["data"]["levels"][-1]["result"] == "resolved"
    assert shown["data"]["resolved_by"] == level


def test_an_advisory_group_escalates_to_psg_and_psg_to_the_sro(egov):
    iid = raise_escalation(egov, route="group", origin_group="DAG").instance_id
    assert group_of_open_task(egov, iid) == [("consider_at_group", "PSG")]
    iid2 = raise_escalation(egov, route="group", origin_group="PSG").instance_id
    assert open_elements(egov, iid2) == [("sro_consider", "SRO")]
    assert record(egov, iid2)["state"] == "with the SRO"


# ---- a party, through its constituency representative or to the SRO directly -------------------------------------------

def test_a_party_escalates_through_its_constituency_representative(egov):
    started = egov.start("escalation", "alice", {**RAISE, "route": "representative", "origin_group": "DAG",
                                                 "constituency": "SUPPLIER_LARGE"})
    iid = started.instance_id
    assert started.state == "with the representative"
    assert group_of_open_task(egov, iid) == [("representative_review", "DAG:SUPPLIER_LARGE")]
    # only the holder of DAG's large-supplier seat: not the raiser, not another participant, not DAG's chair
    assert [t.element_id for t in open_tasks(egov, "rita", iid)] == ["representative_review"]
    for other in ("alice", "bob", "chris"):
        assert open_tasks(egov, other, iid) == []
    with pytest.raises(Forbidden):
        egov.complete(task(egov, "rita", iid, "representative_review").id, "bob",
                      {"representative_action": "resolved", "representative_response": "x"})

    result = do(egov, "rita", iid, "representative_review", representative_action="take_to_group",
                representative_response="Tabled at DAG on 9 December.")
    assert result.state == "with DAG"
    assert group_of_open_task(egov, iid) == [("consider_at_group", "DAG")]
    consider(egov, "chris", iid, "resolve", "DAG agreed a fair booking rule.")
    data = record(egov, iid)["data"]
    assert summary(data["levels"]) == [("representative", "taken to DAG"), ("DAG", "resolved")]
    assert data["levels"][0]["name"] == "SUPPLIER_LARGE representative on DAG"
    assert record(egov, iid)["state"] == "resolved"


def test_a_representative_can_resolve_it_with_the_party(egov):
    iid = egov.start("escalation", "alice", {**RAISE, "route": "representative", "origin_group": "DAG",
                                             "constituency": "SUPPLIER_LARGE"}).instance_id
    done = do(egov, "rita", iid, "representative_review", representative_action="resolved",
              representative_response="Explained the booking rule; the party is content.")
    assert done.status == "completed" and done.state == "resolved"
    assert summary(record(egov, iid)["data"]["levels"]) == [("representative", "resolved")]


def test_a_party_escalates_to_the_sro_directly(egov):
    started = egov.start("escalation", "alice", {**RAISE, "route": "sro"})
    assert started.state == "with the SRO"
    iid = started.instance_id
    assert open_elements(egov, iid) == [("sro_consider", "SRO")]
    assert open_tasks(egov, "chris", iid) == []  # a chair who is not the SRO
    do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Slots reallocated.",
       ipa_advice_given="none_given", decided_on="2026-12-01")
    shown = record(egov, iid)
    assert shown["state"] == "resolved" and summary(shown["data"]["levels"]) == [("SRO", "resolved")]


# ---- Ofgem: a party only through the IPA; above the thresholds through the SRO ---------------------------------------------

def ofgem_decides(gov, clock, iid, *, decided_on="2026-12-10"):
    clock.set(datetime(2026, 12, 10, 15, tzinfo=UTC))
    return do(gov, "ida", iid, "record_ofgem_decision", ofgem_decision="Ofgem directs a fair-share booking rule.",
              ofgem_direction="Implement by the next SIT cycle.", ofgem_decided_on=decided_on,
              ofgem_reference="OFG/2026/31")


def test_a_party_reaches_ofgem_only_through_the_ipa(egov, clock):
    with pytest.raises(FormInvalid):  # there is no way to go to Ofgem directly
        egov.start("escalation", "alice", {**RAISE, "route": "ofgem"})
    started = egov.start("escalation", "alice", {**RAISE, "route": "ipa", "tom_impact": True})
    iid = started.instance_id
    assert started.state == "with the IPA"
    assert open_elements(egov, iid) == [("ipa_assess", "IPA")]
    assert open_tasks(egov, "sam", iid) == []
    do(egov, "ida", iid, "ipa_assess", ipa_refers=True, ipa_advice="Material TOM impact: refer.",
       assessed_on="2026-12-01")
    assert record(egov, iid)["state"] == "with Ofgem"
    assert record(egov, iid)["data"]["referred_by"] == "IPA"
    assert open_elements(egov, iid) == [("record_ofgem_decision", "IPA")]

    result = ofgem_decides(egov, clock, iid)
    assert result.state == "Ofgem decided"
    data = record(egov, iid)["data"]
    assert data["informed"] == ["SRO", "PSG: sam", "PSG: bob"] and data["informed_on"] == "2026-12-10"
    assert any(n["subject"] == "Ofgem decided escalation ESC001" for n in egov.notifications("sam"))
    assert any(n["subject"] == "Ofgem decided escalation ESC001" for n in egov.notifications("bob"))
    # the SRO instructs the PMO, which communicates it within 10 working days (24 Dec 2026, 17:00 London)
    do(egov, "sam", iid, "instruct_pmo", sro_instruction="Tell all participants Ofgem's rule.")
    communicate = task(egov, "pat", iid, "communicate")
    assert communicate.due_at == datetime(2026, 12, 24, 17, tzinfo=UTC)
    do(egov, "pat", iid, "communicate", communicated_on="2026-12-11", communication_channels=["portal"],
       communication_summary="Ofgem directs a fair-share booking rule.")
    shown = record(egov, iid)
    assert shown["status"] == "completed" and shown["state"] == "communicated"
    assert summary(shown["data"]["levels"]) == [("IPA", "referred to Ofgem"), ("OFGEM", "decided")]
    assert any(n["subject"] == "Escalation ESC001: Ofgem decided" for n in egov.notifications("alice"))


def test_the_ipa_may_decline_to_refer_a_party_to_ofgem(egov):
    iid = egov.start("escalation", "alice", {**RAISE, "route": "ipa"}).instance_id
    done = do(egov, "ida", iid, "ipa_assess", ipa_refers=False, ipa_advice="Within every Ofgem threshold.",
              assessed_on="2026-12-01")
    assert done.status == "completed" and done.state == "not referred to Ofgem"
    assert summary(record(egov, iid)["data"]["levels"]) == [("IPA", "not referred")]


def test_above_the_threshold_it_goes_to_ofgem_through_the_sro(egov, clock):
    iid = raise_escalation(egov, route="group", origin_group="SITAG", cost_impact_gbp=6_000_000).instance_id
    data = record(egov, iid)["data"]
    assert data["ofgem_threshold_met"] is True
    # PSG's "resolve" is only a recommendation above the threshold: it goes up to the SRO anyway
    assert consider(egov, "sam", iid, "resolve", "PSG recommends accepting the cost.").state == "with the SRO"
    do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Recommend accepting.",
       ipa_advice_given="none_given", decided_on="2026-12-02")
    assert open_elements(egov, iid) == [("refer_via_sro", "SRO")]
    do(egov, "sam", iid, "refer_via_sro", referral_summary="£6m impact: Ofgem decides.", referred_on="2026-12-02")
    assert record(egov, iid)["state"] == "with Ofgem" and record(egov, iid)["data"]["referred_by"] == "SRO"
    ofgem_decides(egov, clock, iid)
    do(egov, "sam", iid, "instruct_pmo", sro_instruction="Tell all participants Ofgem accepted the cost.")
    do(egov, "pat", iid, "communicate", communicated_on="2026-12-11", communication_channels=["portal", "email"],
       communication_summary="Ofgem accepted the cost.")
    levels = record(egov, iid)["data"]["levels"]
    assert summary(levels) == [("SITAG", "escalated"), ("PSG", "recommendation (Ofgem threshold met)"),
                               ("SRO", "referred to Ofgem"), ("OFGEM", "decided")]


# ---- the cumulative threshold, shown with its headroom ------------------------------------------------------------------

def test_the_cumulative_threshold_setting_matches_the_decision_table():
    from engine.config import PROJECT_ROOT
    settings = yaml.safe_load((PROJECT_ROOT / "processes" / "settings.yaml").read_text())
    dmn = (PROJECT_ROOT / "processes" / "ofgem_threshold.dmn").read_text()
    assert settings["ofgem_cumulative_threshold_gbp"] == 20_000_000
    assert "meets_threshold(cumulative_impact_gbp, setting('ofgem_cumulative_threshold_gbp')" in dmn  # read, not copied


# ---- the escalation goes on the agenda of the group that considers it (the meeting cycle) --------------------------------

def agenda_of(gov, group):
    from engine.governance.meetings import meetings
    return {m["held_on"].isoformat(): [i["reference"] for i in m["agenda"]] for m in meetings(gov, group)
            if m["agenda"]}


def test_an_escalation_is_placed_on_the_next_agenda_of_the_group_considering_it(egov, clock):
    """Raised by DAG on Tue 1 Dec 2026, it is with PSG: PSG's 2 December papers closed on 25 November, so it goes on
    the agenda of PSG on Wed 6 January 2027 (papers due 29 December, across Christmas); the chair sees where, and the
    level the PSG decides records that meeting, which the decision log links to."""
    from engine.governance import logs
    iid = raise_escalation(egov, route="group", origin_group="DAG").instance_id
    data = record(egov, iid)["data"]
    assert (data["group_meeting_date"], data["group_agenda_item"]) == ("2027-01-06", "Item 1: ESC001")
    assert "PSG meeting on 2027-01-06" in data["agenda_note"] and "papers due 2026-12-29" in data["agenda_note"]
    assert agenda_of(egov, "PSG") == {"2027-01-06": ["ESC001"]}
    clock.set(datetime(2027, 1, 6, 12, tzinfo=UTC))
    consider(egov, "sam", iid, "resolve", "PSG agreed a booking rule.", "2027-01-06")
    level = record(egov, iid)["data"]["levels"][-1]
    assert (level["level"], level["meeting_date"], level["meeting_id"]) == ("PSG", "2027-01-06",
                                                                             data["group_meeting_id"])
    with egov.db.read() as session:
        [row] = [r for r in logs.decisions(session) if r["reference"] == "ESC001" and r["decided_by"] == "PSG"]
    assert (row["meeting"], row["meeting_id"], row["agenda_item_id"]) == (
        "PSG 2027-01-06", data["group_meeting_id"], data["group_agenda_item_id"])


def test_each_level_goes_on_its_own_groups_agenda_and_a_group_without_meetings_is_said_so(egov, clock):
    """TWG escalates to SITAG, here without a usual meeting day and none planned: the chair is told, and so is the
    PMO; with an extraordinary SITAG planned, the next escalation goes on it. Escalated on to PSG, it goes on PSG's
    agenda."""
    from engine.governance.meetings import add_extraordinary_meeting
    from .change_control_driver import without_meeting_cycle
    without_meeting_cycle(egov, "SITAG")
    first = raise_escalation(egov, route="group", origin_group="TWG").instance_id
    data = record(egov, first)["data"]
    assert data["group_meeting_date"] == "" and "SITAG has no meeting planned" in data["agenda_note"]
    assert any(n["subject"] == "ESC001 needs a SITAG meeting" for n in egov.notifications("pat"))
    assert open_elements(egov, first) == [("consider_at_group", "Chair")]  # the chair still has it

    add_extraordinary_meeting(egov, "SITAG", "2026-12-16", by="pat", note="Escalations")
    second = raise_escalation(egov, route="group", origin_group="TWG").instance_id
    data = record(egov, second)["data"]
    assert (data["group_meeting_date"], data["group_agenda_item"]) == ("2026-12-16", "Item 1: ESC002")
    clock.set(datetime(2026, 12, 16, 15, tzinfo=UTC))
    consider(egov, "chris", second, "escalate", "SITAG cannot agree.", "2026-12-16")
    data = record(egov, second)["data"]
    assert data["group_meeting_date"] == "2027-01-06"  # PSG: the 6 January papers (due 29 Dec) are still open
    assert agenda_of(egov, "SITAG") == {"2026-12-16": ["ESC002"]}
    assert agenda_of(egov, "PSG") == {"2027-01-06": ["ESC002"]}
    assert [(lv["level"], lv.get("meeting_date")) for lv in data["levels"]] == [("TWG", None), ("SITAG", "2026-12-16")]
