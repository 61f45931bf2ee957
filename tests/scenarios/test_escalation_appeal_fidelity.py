"""Escalation and appeal rules of framework 3.7 that the first scenarios missed (tests/scenarios/RULES.md, section
"Governance fidelity"): after Ofgem decides, the SRO instructs the PMO to tell all participants (an SRO task before
the PMO's); the IPA not referring a party's escalation tells the party it may appeal to the IPA, and how; the IPA's
decision on an appeal and a decision Ofgem took are refused as appeals, with a message naming the decision."""
from __future__ import annotations

from datetime import datetime, timezone

from .change_control_driver import ChangeRequest
from .test_appeal import LODGE
from .test_escalation import RAISE, do, egov, ofgem_decides, open_elements, record, task  # noqa: F401

UTC = timezone.utc


def party_to_ofgem(gov) -> int:
    iid = gov.start("escalation", "alice", {**RAISE, "route": "ipa", "tom_impact": True}).instance_id
    do(gov, "ida", iid, "ipa_assess", ipa_refers=True, ipa_advice="Material TOM impact: refer.",
       assessed_on="2026-12-01")
    return iid


def test_after_ofgem_decides_the_sro_instructs_the_pmo_before_the_pmo_communicates(egov, clock):
    """3.7: "The IPA will communicate the Ofgem escalation decision to the SRO and PSG. The SRO will instruct the PMO
    to communicate the escalation decision to programme participants." """
    iid = party_to_ofgem(egov)
    ofgem_decides(egov, clock, iid)
    assert open_elements(egov, iid) == [("instruct_pmo", "SRO")]  # not the PMO's task by itself
    assert [t for t in egov.tasks("pat") if t.instance_id == iid] == []
    instruct = task(egov, "sam", iid, "instruct_pmo")
    assert instruct.due_at == datetime(2026, 12, 24, 17, tzinfo=UTC)  # 10 working days after Ofgem's decision
    clock.set(datetime(2026, 12, 11, 9, tzinfo=UTC))
    do(egov, "sam", iid, "instruct_pmo", sro_instruction="Publish Ofgem's booking rule on the portal and by e-mail.")
    assert open_elements(egov, iid) == [("communicate", "PMO")]
    communicate = task(egov, "pat", iid, "communicate")
    assert communicate.due_at == datetime(2026, 12, 24, 17, tzinfo=UTC)
    data = record(egov, iid)["data"]
    assert (data["instructed_by"], data["instructed_on"]) == ("SRO", "2026-12-11")
    do(egov, "pat", iid, "communicate", communicated_on="2026-12-11", communication_channels=["portal"],
       communication_summary="Ofgem directs a fair-share booking rule.")
    assert record(egov, iid)["state"] == "communicated"


def test_an_sro_instruction_after_the_deadline_gives_the_pmo_a_task_that_is_not_born_overdue(egov, clock):
    iid = party_to_ofgem(egov)
    ofgem_decides(egov, clock, iid)
    clock.set(datetime(2027, 1, 5, 10, tzinfo=UTC))  # after the 24 Dec deadline
    do(egov, "sam", iid, "instruct_pmo", sro_instruction="Tell everyone.")
    communicate = task(egov, "pat", iid, "communicate")
    assert communicate.due_at == datetime(2027, 1, 5, 17, tzinfo=UTC)  # the end of the first working day still ahead
    assert [i for i in egov.incidents() if i["kind"] == "created_overdue"] == []


def test_the_ipa_not_referring_tells_the_party_it_may_appeal_to_the_ipa_and_how(egov, clock):
    """3.7: "Where an escalation is below the Ofgem thresholds and cannot be resolved via programme governance,
    parties may appeal to the IPA." The notice says so, how, and by when (10 working days, over Christmas)."""
    clock.set(datetime(2026, 12, 18, 10, tzinfo=UTC))
    iid = egov.start("escalation", "alice", {**RAISE, "route": "ipa"}).instance_id
    do(egov, "ida", iid, "ipa_assess", ipa_refers=False, ipa_advice="Within every Ofgem threshold.",
       assessed_on="2026-12-18")
    [notice] = [n for n in egov.notifications("alice") if n["subject"].startswith("ESC001 not referred")]
    assert notice["subject"] == "ESC001 not referred to Ofgem: you may appeal to the IPA"
    body = notice["body"]
    assert "Within every Ofgem threshold." in body
    assert "appeal to the IPA" in body and "/requests/new/appeal" in body
    assert "by 2027-01-06" in body and "10 working days" in body  # 18 Dec + 10 wd, skipping 25, 28 Dec and 1 Jan
    assert record(egov, iid)["data"]["communicated_on"] == "2026-12-18"
    # and the appeal it describes is heard (the window runs from the notice)
    clock.set(datetime(2027, 1, 6, 10, tzinfo=UTC))
    appeal = egov.start("appeal", "alice", {**LODGE, "decision_reference": "ESC001",
                                             "decision_communicated_on": "2026-12-18"})
    assert appeal.state == "under assessment"


def test_an_appeal_against_the_ipas_decision_on_an_appeal_is_refused_as_final(egov, clock):
    """3.7: "Decisions on appeals by the IPA are final." """
    clock.set(datetime(2026, 12, 15, 10, tzinfo=UTC))
    first = egov.start("appeal", "bob", LODGE)
    assert first.reference == "APP001"
    do(egov, "ida", first.instance_id, "assess_appeal", criteria_assessment="Criteria met.", assessed_on="2026-12-16")
    do(egov, "ida", first.instance_id, "decide_appeal", appeal_outcome="dismissed", decision_reasons="No grounds.",
       recommendations=[], recommend_reopen=False, appeal_decided_on="2026-12-17")
    again = egov.start("appeal", "bob", {**LODGE, "decision_reference": "APP001",
                                         "decision_communicated_on": "2026-12-17"})
    shown = record(egov, again.instance_id)
    assert (again.status, again.state) == ("completed", "refused: final")
    assert shown["data"]["refusal_reason"] == ("APP001 is the IPA's decision on an appeal against CR001. "
                                               "IPA decisions on appeals are final: APP001 cannot be appealed.")
    assert any(n["subject"] == f"{again.reference} refused" and "APP001" in n["body"]
               for n in egov.notifications("bob"))
    assert open_elements(egov, again.instance_id) == []


def test_an_appeal_against_an_escalation_ofgem_decided_is_refused_naming_it(egov, clock):
    iid = party_to_ofgem(egov)
    ofgem_decides(egov, clock, iid)
    clock.set(datetime(2026, 12, 14, 10, tzinfo=UTC))
    refused = egov.start("appeal", "bob", {**LODGE, "decision_reference": "ESC001",
                                           "decision_communicated_on": "2026-12-11"})
    assert (refused.status, refused.state) == ("completed", "refused: an Ofgem decision")
    assert record(egov, refused.instance_id)["data"]["refusal_reason"] == (
        "ESC001 was decided by Ofgem on 2026-12-10. Only decisions made through MHHS programme governance can be "
        "appealed to the IPA; Ofgem decisions cannot.")


def test_an_appeal_against_a_change_request_ofgem_decided_is_refused_naming_it(gov, clock):
    cr = ChangeRequest(gov, clock, title="Six million")
    cr.to_decision(cost_impact_gbp=6_000_000)
    cr.do("decide")
    cr.do("refer_to_ofgem")
    clock.set(datetime(2027, 2, 10, 14, tzinfo=UTC))
    cr.do("record_ofgem_decision")
    assert cr.data["decided_by"] == "Ofgem"
    refused = gov.start("appeal", "bob", {**LODGE, "decision_reference": cr.data["reference"],
                                          "decision_communicated_on": "2027-02-10"})
    assert refused.state == "refused: an Ofgem decision"
    assert record(gov, refused.instance_id)["data"]["refusal_reason"].startswith(
        f"{cr.data['reference']} was decided by Ofgem on 2027-02-10.")
