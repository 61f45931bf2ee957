"""Appeal rules of docs/governance-rules.md that tests/scenarios/test_appeal.py does not check on its own
(tests/scenarios/RULES.md maps every rule to its test): the window runs from the communication on the decision's
record (across Easter 2027), whatever date the appellant types; lodged one working day late it is refused; a
below-threshold escalation that governance could not resolve may be appealed; a change request reopened by the SRO
after an upheld appeal shows its original raiser, and the audit trail keeps the SRO as the one who reopened it."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from engine.store.models import AuditEvent, Instance

from .change_control_driver import ChangeRequest
from .test_appeal import assess, decide, do, lodge, open_elements, reopen_after_upheld_appeal
from .test_escalation import consider, egov, raise_escalation, record, summary  # noqa: F401

UTC = timezone.utc


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def communicated_before_easter(gov, clock) -> ChangeRequest:
    """CR001 decided by PSG on Tue 23 Mar 2027 and communicated on Wed 24 Mar: 10 working days skip Good Friday
    (26 Mar) and Easter Monday (29 Mar), so appeals close on Fri 9 Apr 2027."""
    cr = ChangeRequest(gov, clock).to_decision(
        table={"decision_meeting_date": "2027-03-23", "papers_published_on": "2027-03-16"})
    clock.set(at(2027, 3, 23, 11, 30))
    cr.do("decide", decision_outcome="reject", decided_at="2027-03-23T11:00:00+00:00")
    clock.set(at(2027, 3, 24, 10, 0))
    cr.do("communicate", communicated_at="2027-03-24T10:00:00+00:00")
    assert cr.state == "closed" and cr.data["communicated_at"] == "2027-03-24T10:00:00+00:00"
    return cr


def test_the_window_runs_from_the_communication_on_record_across_easter(gov, clock):
    communicated_before_easter(gov, clock)
    # the appellant types a later communication date; the record's date (24 Mar) counts: the deadline is 9 April
    started = lodge(gov, clock, at(2027, 4, 9, 15), decision_date="2027-03-23",
                    decision_communicated_on="2027-03-30")
    data = gov.show(started.instance_id)["data"]
    assert started.state == "under assessment" and data["admitted"] is True
    assert (data["decision_communicated_on"], data["claimed_communicated_on"], data["appeal_deadline_on"]) == (
        "2027-03-24", "2027-03-30", "2027-04-09")
    assert open_elements(gov, started.instance_id) == [("assess_appeal", "IPA")]


def test_an_appeal_lodged_one_working_day_late_is_refused(gov, clock):
    communicated_before_easter(gov, clock)
    # Mon 12 Apr is the next working day after the deadline (Fri 9 Apr); the typed date would have allowed it
    late = lodge(gov, clock, at(2027, 4, 12, 9), decision_date="2027-03-23", decision_communicated_on="2027-03-30")
    shown = gov.show(late.instance_id)
    assert (late.status, late.state) == ("completed", "out of time") and shown["tasks"] == []
    assert shown["data"]["refusal_reason"] == (
        "Appeals against CR001 had to be lodged by 2027-04-09 (10 working days after it was communicated on "
        "2027-03-24). This appeal was lodged on 2027-04-12.")
    assert any(n["subject"] == "APP001 out of time" for n in gov.notifications("bob"))


def test_a_below_threshold_escalation_governance_could_not_resolve_may_be_appealed(egov, clock):
    """TWG, SITAG and PSG could not resolve ESC001 (within every Ofgem threshold); the SRO decided it on Thu 24 Dec
    2026. A party appeals to the IPA on Tue 12 Jan 2027, the last day of the window (Christmas, the Boxing Day
    substitute and New Year's Day skipped): it is heard, upheld and enacted by the SRO."""
    iid = raise_escalation(egov, route="group", origin_group="TWG").instance_id
    consider(egov, "chris", iid, "escalate", "SITAG cannot agree.")
    consider(egov, "sam", iid, "escalate", "PSG cannot agree.")
    clock.set(at(2026, 12, 24, 10))
    do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Slots by size.",
       ipa_advice_given="none_given", decided_on="2026-12-24")
    escalation = record(egov, iid)
    assert escalation["data"]["ofgem_threshold_met"] is False and escalation["state"] == "resolved"
    assert summary(escalation["data"]["levels"]) == [("TWG", "escalated"), ("SITAG", "escalated"),
                                                     ("PSG", "escalated"), ("SRO", "resolved")]

    appeal = lodge(egov, clock, at(2027, 1, 12, 16), decision_reference="ESC001",
                   decision_summary="The SRO decided ESC001: slots by size.", decision_date="2026-12-24",
                   decision_communicated_on="2026-12-24")
    data = egov.show(appeal.instance_id)["data"]
    assert appeal.state == "under assessment"
    assert (data["decision_communicated_on"], data["appeal_deadline_on"]) == ("2026-12-24", "2027-01-12")
    assess(egov, appeal.instance_id)
    assert decide(egov, appeal.instance_id, "upheld").state == "upheld"
    done = do(egov, "sam", appeal.instance_id, "enact", enactment_summary="PSG to reconsider ESC001.",
              reopen_change_request=False, enacted_on="2027-01-13")
    assert done.state == "enacted"
    # and it is final: nobody may appeal ESC001 again
    assert lodge(egov, clock, at(2027, 1, 12, 16, 30), username="alice", decision_reference="ESC001",
                 decision_communicated_on="2026-12-24").state == "refused: final"


def test_a_reopened_change_request_shows_its_original_raiser_and_the_sro_in_its_audit_trail(gov, clock):
    cr, _, reopened = reopen_after_upheld_appeal(gov, clock)
    with gov.db.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.instance_id == reopened)
                                 .order_by(AuditEvent.id)).all()
        trail = [(e.action, e.actor, e.details) for e in events]

    shown = gov.show(reopened)
    assert shown["started_by"] == "alice"  # "Raised by" in the key facts
    assert (shown["data"]["raised_by"], shown["data"]["reopened_by"]) == ("alice", "sam")
    # the audit trail keeps the SRO as the one who reopened it, on behalf of the raiser
    started = next(t for t in trail if t[0] == "instance.started")
    assert started[1] == "sam" and started[2]["by_process"] is True and started[2]["on_behalf_of"] == "alice"
    # the raiser has it in "My change requests" again, and it reads as hers
    mine, _ = gov.instances("alice", "mine")
    assert reopened in [row["id"] for row in mine] and cr in [row["id"] for row in mine]
    assert reopened not in [row["id"] for row in gov.instances("sam", "mine")[0]]
    assert gov.may_view(reopened, "alice")


def test_a_raiser_cannot_be_named_by_a_person_starting_a_change_request(gov, clock):
    """Only a process-started instance is raised on someone's behalf: the raise form refuses the reopening fields, and
    naming someone in the data never makes the instance theirs."""
    from engine.errors import FormInvalid
    from .change_control_driver import RAISE
    with pytest.raises(FormInvalid):
        gov.start("change_control", "bob", {**RAISE, "reopened_reference": "CR001", "started_by": "alice"})
    with gov.db.read() as session:
        assert session.scalars(select(Instance)).all() == []
