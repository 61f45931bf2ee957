"""The conformance cases: one construct (or combination) each, with the steps that drive the model to its end."""
from __future__ import annotations

from .driver import Advance, Case, Complete, Send, Signal

CASES = [
    # standard loops: loopMaximum, loopCondition tested after (testBefore false) and before (testBefore true)
    Case("standard loop, loopMaximum", "loop_maximum.bpmn", "loop_maximum",
         steps=(Complete("ask", {"n": 1}), Complete("ask", {"n": 2}), Complete("ask", {"n": 3}))),
    Case("standard loop, loopCondition tested after", "loop_condition.bpmn", "loop_condition",
         steps=(Complete("ask", {"answer": "a", "done": False}), Complete("ask", {"answer": "b", "done": False}),
                Complete("ask", {"answer": "c", "done": True}))),
    Case("standard loop, testBefore, runs twice", "loop_test_before.bpmn", "loop_test_before", start={"remaining": 2},
         steps=(Complete("ask", {"remaining": 1}), Complete("ask", {"remaining": 0}))),
    Case("standard loop, testBefore, runs zero times", "loop_test_before.bpmn", "loop_test_before",
         start={"remaining": 0}),
    Case("standard loop on a script task, condition stops it", "script_loop.bpmn", "script_loop", start={"limit": 4},
         steps=(Complete("check"),)),
    Case("standard loop on a script task, loopMaximum stops it", "script_loop.bpmn", "script_loop",
         start={"limit": 99}, steps=(Complete("check"),)),

    # long loops (history pruning): 250 passes of a standard loop and of a gateway loop
    Case("standard loop of 250 passes", "long_loop.bpmn", "long_loop",
         steps=tuple(Complete("pass_once", {"n": n}) for n in range(1, 251))),
    Case("gateway loop of 250 passes", "gateway_loop.bpmn", "gateway_loop",
         steps=tuple(Complete("pass_once", {"n": n}) for n in range(1, 251))),

    # multi-instance: cardinality, input/output collections, completion conditions; parallel and sequential
    Case("parallel MI, cardinality, completed out of order", "mi_parallel_cardinality.bpmn", "mi_parallel_cardinality",
         steps=(Complete("sign", {"last": "third"}, nth=2), Complete("sign", {"last": "first"}, nth=0),
                Complete("sign", {"last": "second"}, nth=0))),
    Case("sequential MI, cardinality from data", "mi_sequential_cardinality.bpmn", "mi_sequential_cardinality",
         start={"copies": 2}, steps=(Complete("sign", {"last": 1}), Complete("sign", {"last": 2}))),
    Case("sequential MI, cardinality zero", "mi_sequential_cardinality.bpmn", "mi_sequential_cardinality",
         start={"copies": 0}),
    Case("parallel MI, input and output collections, out of order", "mi_parallel_collection.bpmn",
         "mi_parallel_collection", start={"reviewers": ["ann", "bob", "cat"]},
         steps=(Complete("review", {"verdict": "no"}, nth=1), Complete("review", {"verdict": "yes"}, nth=1),
                Complete("review", {"verdict": "yes"}, nth=0))),
    Case("parallel MI, empty input collection", "mi_parallel_collection.bpmn", "mi_parallel_collection",
         start={"reviewers": []}),
    Case("sequential MI, input and output collections", "mi_sequential_collection.bpmn", "mi_sequential_collection",
         start={"items": ["tea", "cake"]},
         steps=(Complete("rate", {"rating": 3}), Complete("rate", {"rating": 5}))),
    Case("parallel MI script task over a collection", "mi_script_collection.bpmn", "mi_script_collection",
         start={"numbers": [1, 2, 3]}, steps=(Complete("check"),)),
    Case("parallel MI, completionCondition cancels the rest", "mi_parallel_completion.bpmn", "mi_parallel_completion",
         steps=(Complete("approve", {"approved": False}, nth=1), Complete("approve", {"approved": True}, nth=1),
                Complete("after"))),
    Case("parallel MI, completionCondition never met", "mi_parallel_completion.bpmn", "mi_parallel_completion",
         steps=(Complete("approve", {"approved": False}), Complete("approve", {"approved": False}),
                Complete("approve", {"approved": False}), Complete("after"))),
    Case("sequential MI, completionCondition stops early", "mi_sequential_completion.bpmn", "mi_sequential_completion",
         start={"approvers": ["ann", "bob", "cat"]},
         steps=(Complete("ask_approver", {"approved": False}), Complete("ask_approver", {"approved": True}))),

    # a boundary timer on a parallel multi-instance task
    Case("boundary timer on a parallel MI task, all vote in time", "mi_boundary_timer.bpmn", "mi_boundary_timer",
         steps=(Complete("vote", {"v": 1}, nth=1), Complete("vote", {"v": 2}), Complete("vote", {"v": 3}))),
    Case("boundary timer on a parallel MI task, closes after one vote", "mi_boundary_timer.bpmn", "mi_boundary_timer",
         steps=(Complete("vote", {"v": 1}, nth=2), Advance(days=2))),

    # nested: a multi-instance subprocess with a user task inside
    Case("parallel MI subprocess with a user task inside", "mi_subprocess.bpmn", "mi_subprocess",
         start={"parties": ["north", "south"]},
         steps=(Complete("respond", {"agrees": True}, nth=1), Complete("respond", {"agrees": False}))),

    # event-based gateways: message vs timer, signal vs timer, message vs message
    Case("event-based gateway, message wins", "event_gateway.bpmn", "event_gateway",
         steps=(Send("go", {"why": "now"}),)),
    Case("event-based gateway, timer wins", "event_gateway.bpmn", "event_gateway",
         steps=(Advance(days=2),)),
    Case("event-based gateway, signal wins", "event_gateway_signal.bpmn", "event_gateway_signal",
         steps=(Advance(hours=1), Signal("go"))),
    Case("event-based gateway, timer beats a signal", "event_gateway_signal.bpmn", "event_gateway_signal",
         steps=(Advance(hours=2),)),
    Case("event-based gateway, first of two messages", "event_gateway_messages.bpmn", "event_gateway_messages",
         steps=(Send("approve", {"note": "fine"}), Complete("acknowledge"))),
    Case("event-based gateway, second of two messages", "event_gateway_messages.bpmn", "event_gateway_messages",
         steps=(Send("reject", {"note": "no"}), Complete("acknowledge"))),

    # timers on a date: a quoted ISO text with a zone, and a date from the data
    Case("intermediate timers on dates", "timer_date.bpmn", "timer_date",
         start={"due_at": "2026-12-10T12:00:00+00:00"},
         steps=(Advance(days=1), Advance(days=2), Complete("after_fixed"), Advance(days=6), Advance(hours=4),
                Complete("after_due"))),

    # boundary events on a user task: timer, message and signal; interrupting and non-interrupting
    Case("boundary timer on a user task, task first", "boundary_timer.bpmn", "boundary_timer",
         steps=(Advance(hours=23), Complete("work", {"done": True}))),
    Case("boundary timer on a user task, timer first", "boundary_timer.bpmn", "boundary_timer",
         steps=(Advance(days=1), Complete("escalate"))),
    Case("non-interrupting boundary timer on a user task", "boundary_timer_non_interrupting.bpmn",
         "boundary_timer_non_interrupting",
         steps=(Advance(hours=3), Complete("remind", {"reminded": True}), Complete("work", {"done": True}))),
    Case("non-interrupting boundary timer, task before the timer", "boundary_timer_non_interrupting.bpmn",
         "boundary_timer_non_interrupting", steps=(Complete("work", {"done": True}), Advance(hours=3))),
    Case("boundary message on a user task", "boundary_message.bpmn", "boundary_message",
         steps=(Send("withdraw", {"reason": "no longer needed"}), Complete("escalate"))),
    Case("boundary message on a user task, never sent", "boundary_message.bpmn", "boundary_message",
         steps=(Complete("work"),)),
    Case("non-interrupting boundary message on a user task", "boundary_message_non_interrupting.bpmn",
         "boundary_message_non_interrupting",
         steps=(Send("comment", {"text": "looks good"}), Complete("work"), Complete("remind"))),
    Case("boundary signal on a user task", "boundary_signal.bpmn", "boundary_signal",
         steps=(Signal("stop"), Complete("escalate"))),

    # boundary events on an expanded subprocess
    Case("boundary timer on a subprocess, fires mid-way", "subprocess_boundary_timer.bpmn",
         "subprocess_boundary_timer", steps=(Complete("draft"), Advance(days=2), Complete("handle_stage_deadline"))),
    Case("boundary timer on a subprocess, stage finishes first", "subprocess_boundary_timer.bpmn",
         "subprocess_boundary_timer", steps=(Complete("draft"), Complete("review"))),
    Case("non-interrupting boundary timer on a subprocess", "subprocess_boundary_timer_non_interrupting.bpmn",
         "subprocess_boundary_timer_non_interrupting",
         steps=(Advance(days=1), Complete("draft"), Complete("handle_stage_reminder"), Complete("review"))),
    Case("non-interrupting boundary message on a subprocess", "subprocess_boundary_message.bpmn",
         "subprocess_boundary_message",
         steps=(Complete("draft"), Send("query", {"question": "why?"}), Complete("handle_query"),
                Complete("review"))),
    Case("interrupting boundary message on a subprocess", "subprocess_boundary_message_interrupting.bpmn",
         "subprocess_boundary_message_interrupting",
         steps=(Complete("draft", {"draft": "v1"}), Send("withdraw", {"reason": "late"}),
                Complete("handle_withdrawn"))),

    # event subprocesses that Spiff 3.2 runs as BPMN says: non-interrupting, started by a message or a timer
    Case("non-interrupting event subprocess, message", "event_subprocess_message_non_interrupting.bpmn",
         "event_subprocess_message_non_interrupting",
         steps=(Send("note", {"text": "hello"}), Complete("read_note"), Complete("work"), Complete("finish"))),
    Case("non-interrupting event subprocess, message twice", "event_subprocess_message_non_interrupting.bpmn",
         "event_subprocess_message_non_interrupting",
         steps=(Complete("work"), Send("note", {"text": "one"}), Send("note", {"text": "two"}),
                Complete("read_note", nth=1), Complete("finish"), Complete("read_note"))),
    Case("non-interrupting event subprocess, message never sent", "event_subprocess_message_non_interrupting.bpmn",
         "event_subprocess_message_non_interrupting", steps=(Complete("work"), Complete("finish"))),

    # error and escalation end events in a subprocess, caught by boundary events
    Case("error end event caught by an error boundary event", "error_boundary.bpmn", "error_boundary",
         steps=(Complete("decide", {"raise_flag": True}), Complete("handle"))),
    Case("error boundary event, no error", "error_boundary.bpmn", "error_boundary",
         steps=(Complete("decide", {"raise_flag": False}), Complete("carry_on"))),
    Case("escalation caught by an interrupting boundary event", "escalation_boundary.bpmn", "escalation_boundary",
         steps=(Complete("decide", {"raise_flag": True}), Complete("handle"))),
    Case("escalation caught by a non-interrupting boundary event", "escalation_boundary_non_interrupting.bpmn",
         "escalation_boundary_non_interrupting",
         steps=(Complete("decide", {"raise_flag": True}), Complete("handle"), Complete("carry_on"))),

    # terminate end event
    Case("terminate end event ends the other branch", "terminate_end.bpmn", "terminate_end",
         steps=(Complete("quick", {"stop": True}),)),
    Case("terminate end event not reached", "terminate_end.bpmn", "terminate_end",
         steps=(Complete("quick", {"stop": False}), Complete("slow"))),

    # transactions: a cancel end event caught by a cancel boundary event
    Case("transaction cancelled", "transaction_cancel.bpmn", "transaction_cancel",
         steps=(Complete("book", {"confirmed": False}),)),
    Case("transaction completed", "transaction_cancel.bpmn", "transaction_cancel",
         steps=(Complete("book", {"confirmed": True}),)),

    # call activities: a process in another file, data in and out (all data, or the callee's declared inputs/outputs)
    Case("call activity, all data in and out", "call_activity.bpmn", "call_activity", also=("called_review.bpmn",),
         start={"requested": 40, "limit": 100},
         steps=(Complete("review", {"agree": True}), Complete("see_outcome"))),
    Case("call activity with declared data inputs and outputs", "call_activity_io.bpmn", "call_activity_io",
         also=("called_costing.bpmn",), steps=(Complete("estimate", {"rate": 3}), Complete("see_cost"))),

    # messages: receive task, intermediate catch, parallel waits, the same name twice, a message start event
    Case("receive task", "receive_task.bpmn", "receive_task", steps=(Send("reply", {"answer": 42}),)),
    Case("intermediate message catch", "message_catch.bpmn", "message_catch",
         steps=(Complete("ask", {"question": "why?"}), Send("answer", {"text": "because"}), Complete("read"))),
    Case("two parallel message waits, second message first", "message_parallel.bpmn", "message_parallel",
         steps=(Send("second", {"n": 2}), Send("first", {"n": 1}), Complete("combine"))),
    Case("two parallel waits for the same message name: one message satisfies both", "message_same_name.bpmn",
         "message_same_name", steps=(Send("ping", {"n": 1}),)),
    Case("message start event", "message_start.bpmn", "message_start",
         steps=(Send("request", {"what": "access"}), Complete("handle"))),
    Case("receive task in a loop until a boundary timer, data object", "receive_loop.bpmn", "receive_loop",
         steps=(Send("response", {"party": "north"}), Advance(days=1), Send("response", {"party": "south"}),
                Advance(days=5), Complete("review"))),
    Case("receive task in a loop, no response before the timer", "receive_loop.bpmn", "receive_loop",
         steps=(Advance(days=5), Complete("review"))),
    Case("receive task in a loop, the last response ends it early", "receive_loop.bpmn", "receive_loop",
         steps=(Send("response", {"party": "north"}), Send("response", {"party": "south", "last": True}),
                Complete("review"))),

    # signals: thrown in one branch and caught in another, a boundary signal, a signal from outside
    Case("signal thrown in one branch, caught in the other", "signal_between_branches.bpmn",
         "signal_between_branches", steps=(Complete("prepare"), Complete("wrap_up"))),
    Case("intermediate signal catch, signal from outside", "signal_catch.bpmn", "signal_catch",
         steps=(Complete("ask"), Signal("go"), Complete("proceed"))),

    # gateways: parallel, exclusive with a default, inclusive (one branch, two branches, the default)
    Case("parallel gateway", "parallel_gateway.bpmn", "parallel_gateway",
         steps=(Complete("finance", {"finance_ok": True}), Complete("legal", {"legal_ok": False}))),
    Case("exclusive gateway, a condition", "exclusive_gateway.bpmn", "exclusive_gateway",
         steps=(Complete("choose", {"size_wanted": "L"}),)),
    Case("exclusive gateway, the default", "exclusive_gateway.bpmn", "exclusive_gateway",
         steps=(Complete("choose", {"size_wanted": "XL"}),)),
    Case("inclusive gateway, one branch", "inclusive_gateway.bpmn", "inclusive_gateway",
         start={"needs_legal": True, "needs_finance": False}, steps=(Complete("legal"), Complete("wrap_up"))),
    Case("inclusive gateway, two branches", "inclusive_gateway.bpmn", "inclusive_gateway",
         start={"needs_legal": True, "needs_finance": True},
         steps=(Complete("finance"), Complete("legal"), Complete("wrap_up"))),
    Case("inclusive gateway, the default", "inclusive_gateway.bpmn", "inclusive_gateway",
         start={"needs_legal": False, "needs_finance": False}, steps=(Complete("wrap_up"),)),

    # business rule tasks: DMN tables with UNIQUE and COLLECT hit policies (Python cells)
    Case("DMN UNIQUE, low", "dmn_unique.bpmn", "dmn_unique", also=("cost_band.dmn",), start={"cost": 999},
         steps=(Complete("see_band"),)),
    Case("DMN UNIQUE, medium (a ? cell)", "dmn_unique.bpmn", "dmn_unique", also=("cost_band.dmn",),
         start={"cost": 1000}, steps=(Complete("see_band"),)),
    Case("DMN UNIQUE, high", "dmn_unique.bpmn", "dmn_unique", also=("cost_band.dmn",), start={"cost": 25000},
         steps=(Complete("see_band"),)),
    Case("DMN COLLECT, three rows match", "dmn_collect.bpmn", "dmn_collect", also=("reviewer_roles.dmn",),
         start={"legal": True, "cost": 6000}),
    Case("DMN COLLECT, one row matches", "dmn_collect.bpmn", "dmn_collect", also=("reviewer_roles.dmn",),
         start={"legal": False, "cost": 10}),

    # scripts: script tasks, pre- and post-scripts, data objects
    Case("script tasks and pre/post scripts", "pre_post_scripts.bpmn", "pre_post_scripts", start={"name": "Ann"},
         steps=(Complete("reply", {"reply_text": "hi there"}),)),
    Case("data object written and read", "data_object.bpmn", "data_object", start={"base": 10},
         steps=(Complete("check_budget", {"spent": 7}),)),
    Case("data object carries a count from a non-interrupting branch", "data_object_branch.bpmn",
         "data_object_branch", steps=(Advance(hours=5), Complete("work"))),

    # a standard loop on an expanded subprocess
    Case("loop on a subprocess", "subprocess_loop.bpmn", "subprocess_loop",
         steps=(Complete("negotiate", {"settled": False}), Complete("negotiate", {"settled": False}),
                Complete("negotiate", {"settled": True}))),

    # nested: a loop inside a subprocess with a boundary timer
    Case("loop in a subprocess, ends before the timer", "loop_in_subprocess_timer.bpmn", "loop_in_subprocess_timer",
         steps=(Complete("redraft", {"accepted": False}), Complete("redraft", {"accepted": True}))),
    Case("loop in a subprocess, timer interrupts it", "loop_in_subprocess_timer.bpmn", "loop_in_subprocess_timer",
         steps=(Complete("redraft", {"accepted": False}), Advance(days=3), Complete("redraft", {"accepted": False}),
                Advance(days=7))),
]

# Models SpiffWorkflow 3.2 parses and runs, but not as BPMN says: govflow's lint should refuse them. Not compared
# (comparing would hold govflow to the wrong behaviour); run_oracle_only shows what Spiff does.
SPIFF_MISRUNS = [
    # isInterrupting is ignored: the main flow goes on beside the event subprocess ('finish' stays ready)
    Case("interrupting event subprocess, message", "event_subprocess_message.bpmn", "event_subprocess_message",
         steps=(Complete("work", {"done": True}), Send("cancel", {"reason": "duplicate"})), ends_waiting=True),
    Case("interrupting event subprocess, timer", "event_subprocess_timer_interrupting.bpmn",
         "event_subprocess_timer_interrupting", steps=(Complete("work"), Advance(days=3)), ends_waiting=True),
    # a timer-started event subprocess is a parallel branch: the instance waits for the timer after its end event
    # (when the timer fires first it runs as BPMN says; govflow refuses the construct for the other order)
    Case("non-interrupting event subprocess, timer", "event_subprocess_timer.bpmn", "event_subprocess_timer",
         steps=(Advance(days=1), Complete("chase"), Complete("work"), Complete("finish"))),
    Case("timer event subprocess outlives the process", "event_subprocess_timer.bpmn", "event_subprocess_timer",
         steps=(Complete("work"), Complete("finish")), ends_waiting=True),
    # start events take no error (or escalation) definition: the error event subprocess starts with the process
    Case("event subprocess with an error start event", "event_subprocess_error.bpmn", "event_subprocess_error",
         steps=(Complete("check", {"ok": True}),), ends_waiting=True),
]
