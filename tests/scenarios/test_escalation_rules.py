"""Escalation and decision rules of docs/governance-rules.md that tests/scenarios/test_escalation.py does not check on
its own (tests/scenarios/RULES.md maps every rule to its test): a group naming any group but its parent is refused
with a clear message; the SRO's decision after PSG keeps the IPA's advice; a party escalating to the SRO above the
thresholds reaches Ofgem through the SRO (never by itself); every level is kept with its dates across a bank holiday."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from .test_escalation import (consider, do, egov, group_of_open_task, open_elements, raise_escalation,  # noqa: F401
                              record, summary, RAISE)

UTC = timezone.utc


@pytest.mark.parametrize("origin, asked, parent, reason", [
    ("TWG", "DAG", "SITAG", "TWG escalates to its parent only: SITAG (SIT Advisory Group), not DAG. Raise it to SITAG, "
                            "which may escalate it further."),
    ("TWG", "PSG", "SITAG", "TWG escalates to its parent only: SITAG (SIT Advisory Group), not PSG. Raise it to SITAG, "
                            "which may escalate it further."),
    ("DAG", "SRO", "PSG", "DAG escalates to its parent only: PSG (Programme Steering Group), not SRO. Raise it to "
                          "PSG, which may escalate it further."),
    ("PSG", "DAG", "SRO", "PSG escalates to its parent only: the SRO, not DAG. Raise it to SRO, which may escalate "
                          "it further."),
])
def test_a_group_escalating_to_any_group_but_its_parent_is_refused_with_a_clear_message(egov, origin, asked, parent,
                                                                                           reason):
    refused = raise_escalation(egov, route="group", origin_group=origin, escalate_to=asked)
    shown = record(egov, refused.instance_id)
    assert (refused.status, refused.state) == ("completed", "refused: not the parent group")
    assert shown["data"]["refusal_reason"] == reason
    assert shown["tasks"] == [] and shown["data"]["levels"] == []  # it went nowhere
    assert any(n["subject"] == f"{refused.reference} refused" and n["body"] == reason
               for n in egov.notifications("pat"))
    # naming the parent (or leaving it to the process) sends it there
    accepted = raise_escalation(egov, route="group", origin_group=origin, escalate_to=parent)
    if parent == "SRO":
        assert accepted.state == "with the SRO"
        assert open_elements(egov, accepted.instance_id) == [("sro_consider", "SRO")]
    else:
        assert accepted.state == f"with {parent}"
        assert group_of_open_task(egov, accepted.instance_id) == [("consider_at_group", parent)]


def test_psg_without_consensus_passes_to_the_sro_who_decides_with_the_ipas_advice(egov, clock):
    """Within the thresholds, PSG cannot agree: the SRO (not PSG's chair) decides, and the IPA's advice is kept."""
    iid = raise_escalation(egov, route="group", origin_group="DAG").instance_id
    clock.set(datetime(2027, 1, 6, 15, tzinfo=UTC))
    assert consider(egov, "sam", iid, "escalate", "No consensus at PSG.", "2027-01-06").state == "with the SRO"
    assert record(egov, iid)["data"]["ofgem_threshold_met"] is False
    assert open_elements(egov, iid) == [("sro_consider", "SRO")]
    clock.set(datetime(2027, 1, 7, 10, tzinfo=UTC))
    done = do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Slots shared by size.",
              ipa_advice_given="given", ipa_advice_to_sro="The IPA advises a size-weighted rule.",
              decided_on="2027-01-07")
    assert done.status == "completed" and done.state == "resolved"
    data = record(egov, iid)["data"]
    assert data["levels"][-1]["ipa_advice"] == "The IPA advises a size-weighted rule."
    assert summary(data["levels"]) == [("DAG", "escalated"), ("PSG", "escalated"), ("SRO", "resolved")]
    assert data["resolved_by"] == "SRO"


def test_a_party_escalating_to_the_sro_above_a_threshold_reaches_ofgem_through_the_sro(egov, clock):
    """A party goes to the SRO directly; the matter meets the TOM threshold, so the SRO refers it to Ofgem: the party
    itself never sends it there, and the record shows who referred it."""
    iid = egov.start("escalation", "alice", {**RAISE, "route": "sro", "tom_impact": True}).instance_id
    assert record(egov, iid)["data"]["ofgem_threshold_met"] is True
    do(egov, "sam", iid, "sro_consider", sro_decision="resolve", sro_outcome="Recommend the rule.",
       ipa_advice_given="none_given", decided_on="2026-12-01")  # above the threshold: a recommendation
    assert open_elements(egov, iid) == [("refer_via_sro", "SRO")]
    do(egov, "sam", iid, "refer_via_sro", referral_summary="TOM impact.", referred_on="2026-12-01")
    shown = record(egov, iid)
    assert shown["state"] == "with Ofgem" and shown["data"]["referred_by"] == "SRO"
    assert open_elements(egov, iid) == [("record_ofgem_decision", "IPA")]
    assert summary(shown["data"]["levels"]) == [("SRO", "referred to Ofgem")]


def test_every_level_is_kept_with_its_dates_across_christmas(egov, clock):
    """TWG escalates on Wed 23 Dec 2026; SITAG escalates on Tue 29 Dec (after Christmas and the Boxing Day substitute);
    PSG resolves it at its 6 January 2027 meeting: each level keeps when it arrived, when it decided and what."""
    clock.set(datetime(2026, 12, 23, 10, tzinfo=UTC))
    iid = raise_escalation(egov, route="group", origin_group="TWG").instance_id
    clock.set(datetime(2026, 12, 29, 11, tzinfo=UTC))
    consider(egov, "chris", iid, "escalate", "SITAG cannot agree.", "2026-12-29")
    clock.set(datetime(2027, 1, 6, 12, tzinfo=UTC))
    consider(egov, "sam", iid, "resolve", "PSG agreed a rule.", "2027-01-06")
    levels = record(egov, iid)["data"]["levels"]
    assert [(lv["level"], lv["arrived_on"], lv["decided_on"], lv["result"], lv["outcome"]) for lv in levels] == [
        ("TWG", "2026-12-23", "2026-12-23", "escalated", RAISE["concern"]),
        ("SITAG", "2026-12-23", "2026-12-29", "escalated", "SITAG cannot agree."),
        ("PSG", "2026-12-29", "2027-01-06", "resolved", "PSG agreed a rule.")]
    assert levels[2]["meeting_date"] == "2027-01-06"
    assert record(egov, iid)["state"] == "resolved"
