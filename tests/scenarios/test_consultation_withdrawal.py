"""A party withdraws its consultation response while the window is open (processes/change_control.bpmn: the
`response_withdrawn` boundary event on `receive_response`), through the engine API, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from engine.errors import Conflict

from .change_control_driver import WINDOW_CLOSES, ChangeRequest

WITHDRAWN = "consultation_response_withdrawn"


def positions(cr: ChangeRequest) -> list[tuple[str, str]]:
    return [(r["sent_by"], r["position"]) for r in cr.data["consultation_responses"]]


def offered(gov, cr: ChangeRequest, user: str) -> set[str]:
    return {m["message"] for m in gov.open_messages(cr.id, user)}


def test_withdraw_then_respond_again_refused_without_a_response_or_after_the_window(gov, clock):
    cr = ChangeRequest(gov, clock).to_consultation()
    cr.respond("bob", position="support")
    cr.respond("will", position="oppose", respondent_organisation="Lead Delivery Partner")
    # only a party with a response this round is offered the withdrawal, and the engine refuses anyone else
    assert WITHDRAWN in offered(gov, cr, "bob") and WITHDRAWN not in offered(gov, cr, "alice")
    with pytest.raises(Conflict, match="You have not responded to this consultation"):
        gov.send_message(cr.id, WITHDRAWN, "alice", {})
    cr.withdraw_response("bob", reason="Our board has not agreed it yet.")
    assert positions(cr) == [("will", "oppose")]  # the other party's response is untouched
    assert cr.state == "in consultation" and cr.timers() == {"window_closes": WINDOW_CLOSES.isoformat()}
    assert WITHDRAWN not in offered(gov, cr, "bob") and "consultation_response" in offered(gov, cr, "bob")
    summary = gov.summaries.of_instance(cr.id, "carol")
    assert summary.last_sent("bob", "consultation_response") is None
    assert [(s.by, s.message) for s in summary.messages] == [("will", "consultation_response")]
    received = [e for e in cr.record["history"] if e["action"] == "message.received"
                and (e["details"] or {}).get("message") == WITHDRAWN]
    assert [(e["actor"], e["details"]["data"]) for e in received] == [
        ("bob", {"reason": "Our board has not agreed it yet."})]
    # while the window is open the party may respond again (and withdraw again)
    cr.respond("bob", position="neutral")
    assert positions(cr) == [("will", "oppose"), ("bob", "neutral")]
    # once the window has closed nothing waits for a withdrawal: refused, with the closing moment
    cr.at(WINDOW_CLOSES)
    assert cr.state == "responses under review" and cr.data["consultation_response_count"] == 2
    with pytest.raises(Conflict, match="^The consultation closed on 5 January 2027: responses can "
                                       "no longer be withdrawn.$"):
        gov.send_message(cr.id, WITHDRAWN, "bob", {})
    assert positions(cr) == [("will", "oppose"), ("bob", "neutral")]
    cr.assert_history()
