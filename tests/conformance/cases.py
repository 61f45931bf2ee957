"""The conformance cases: one construct (or combination) each, with the steps that drive the model to its end."""
from __future__ import annotations

from .driver import Advance, Case, Complete, Send, Signal

CASES = [
    Case("standard loop, loopMaximum", "loop_maximum.bpmn", "loop_maximum",
         steps=(Complete("ask", {"n": 1}), Complete("ask", {"n": 2}), Complete("ask", {"n": 3}))),
    Case("event-based gateway, message wins", "event_gateway.bpmn", "event_gateway",
         steps=(Send("go", {"why": "now"}),)),
    Case("event-based gateway, timer wins", "event_gateway.bpmn", "event_gateway",
         steps=(Advance(days=2),)),
]
