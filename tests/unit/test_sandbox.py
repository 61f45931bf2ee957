"""The script sandbox refuses escapes, stops runaway code and still runs ordinary govflow conditions and scripts."""

import gc
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.util.task import TaskState

from engine.bpmn.budget import TimeWatch, uncounted
from engine.bpmn.safe_xml import parse_xml
from engine.bpmn.sandbox import (
    MAX_ITEMS,
    SandboxedEnvironment,
    SandboxError,
    check_expression,
    check_script,
    make_script_engine,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
FUNCTIONS = {"now": lambda: NOW, "double": lambda x: x * 2}


@pytest.fixture
def env() -> SandboxedEnvironment:
    return SandboxedEnvironment(FUNCTIONS, time_limit=0.2)


def refusal(call: Any, *args: Any) -> SandboxError:
    with pytest.raises(SandboxError) as caught:
        call(*args)
    return caught.value


# ---- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("__import__('os')", 'Expression refused: names starting with "_" are not allowed ("__import__")'),
        ("open('/etc/passwd').read()", "Expression refused: open() is not available in scripts"),
        ("().__class__.__base__.__subclasses__()",
         'Expression refused: attributes starting with "_" are not allowed ("__class__")'),
        ("(lambda: 0).__code__", 'Expression refused: attributes starting with "_" are not allowed ("__code__")'),
        ("[x for x in (y for y in [1])][0].gi_frame.f_back",
         'Expression refused: access to "gi_frame" is not allowed'),
        ("(lambda: (yield))().gi_frame", 'Expression refused: access to "gi_frame" is not allowed'),
        ("sys._getframe(1).f_globals",
         'Expression refused: attributes starting with "_" are not allowed ("_getframe")'),
        ("'{0.__class__}'.format(1)", "Expression refused: str.format() is not allowed; use an f-string"),
        ("'{a.__globals__}'.format_map({'a': now})",
         "Expression refused: str.format_map() is not allowed; use an f-string"),
        ("str.format('{0.__class__}', 1)", "Expression refused: str.format() is not allowed; use an f-string"),
        ("getattr(x, '__class__')", "Expression refused: getattr() is not available in scripts"),
        ("type(x)", "Expression refused: type() is not available in scripts"),
        ("vars()", "Expression refused: vars() is not available in scripts"),
        ("globals()", "Expression refused: globals() is not available in scripts"),
        ("eval('1')", "Expression refused: eval calls are not allowed"),
        ("compile('1', 'f', 'eval')", "Expression refused: compile() is not available in scripts"),
        ("Exception.mro()", 'Expression refused: access to "mro" is not allowed'),
        ("datetime.now()", "Expression refused: reading the system clock (now) is not allowed; use now()"),
        ("date.today()", "Expression refused: reading the system clock (today) is not allowed; use now()"),
        ("'x' * 10**9", f"Expression refused: the result would be too large (1,000,000,000 items; "
                        f"the limit is {MAX_ITEMS:,})"),
        ("10 ** 10 ** 7", "Expression refused: the result would be too large (a 40,000,000-bit number; "
                          "the limit is 1,000,000 bits)"),
        ("len(range(10**12))", "Expression refused: the result would be too large (1,000,000,000,000 items; "
                               "the limit is 1,000,000)"),
        ("amount >=", "Expression refused: syntax error: invalid syntax"),
    ],
)
def test_expression_refusals(env: SandboxedEnvironment, source: str, message: str) -> None:
    err = refusal(env.evaluate, source, {"x": 1})
    assert str(err) == message
    assert err.source == source


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("import os", "Script refused: import statements are not allowed (line 1)"),
        ("x = 1\nimport os\nos.system('id')", "Script refused: import statements are not allowed (line 2)"),
        ("from os import system", "Script refused: import statements are not allowed (line 1)"),
        ("class A:\n    pass", "Script refused: class definitions are not allowed (line 1)"),
        ("with x:\n    pass", "Script refused: with statements are not allowed (line 1)"),
        ("x = 1\ny = __builtins__",
         'Script refused: names starting with "_" are not allowed ("__builtins__") (line 2)'),
        ("try:\n    1 / 0\nexcept Exception as e:\n    tb = e.__traceback__",
         'Script refused: attributes starting with "_" are not allowed ("__traceback__") (line 4)'),
    ],
)
def test_script_refusals(env: SandboxedEnvironment, script: str, message: str) -> None:
    data: dict[str, Any] = {"x": 1}
    err = refusal(env.execute, script, data)
    assert str(err) == message
    assert data == {"x": 1}  # nothing was stored


def test_refusal_attributes(env: SandboxedEnvironment) -> None:
    err = refusal(env.execute, "a = 1\n\nimport os", {})
    assert (err.reason, err.line, err.kind, err.source) == (
        "import statements are not allowed", 3, "Script", "a = 1\n\nimport os"
    )
    assert isinstance(err, Exception) and not isinstance(err, SyntaxError)
    assert err.args[0] == str(err)  # Spiff's error formatter concatenates args[0]


def test_exiting_exceptions_are_not_available(env: SandboxedEnvironment) -> None:
    # SystemExit/KeyboardInterrupt would escape Spiff's `except Exception` and stop a worker.
    for name in ("SystemExit", "KeyboardInterrupt", "BaseException", "GeneratorExit"):
        with pytest.raises(NameError, match=name):
            env.execute(f"raise {name}", {})


def test_attribute_writes_outside_dicts_and_lists_are_refused(env: SandboxedEnvironment) -> None:
    with pytest.raises(TypeError, match="attribute-less object"):
        env.execute("d = now()\nd.year = 1", {})


def test_task_data_overriding_a_function_is_refused(env: SandboxedEnvironment) -> None:
    err = refusal(env.execute, "x = now()", {"now": "yesterday"})
    assert str(err) == (
        "Script refused: task data (now) has the name of a provided function; rename the variable or form field"
    )
    err = refusal(env.evaluate, "double(2)", {"double": 3})
    assert str(err).startswith("Expression refused: task data (double) has the name of a provided function")


def test_task_data_cannot_reach_the_guards(env: SandboxedEnvironment) -> None:
    data = {"_getattr_": "evil", "__builtins__": {"open": open}, "_secret": 42, "x": 1}
    assert env.evaluate("x + 1", data) == 2
    env.execute("y = x + 1", data)
    assert data == {"_getattr_": "evil", "__builtins__": {"open": open}, "_secret": 42, "x": 1, "y": 2}
    assert str(refusal(env.evaluate, "_secret", data)).startswith('Expression refused: names starting with "_"')


def test_data_may_shadow_a_builtin(env: SandboxedEnvironment) -> None:
    # Form fields called "type" or "date" are common; they hide the builtin of that name for that run only.
    assert env.evaluate("type == 'urgent'", {"type": "urgent"}) is True
    assert env.evaluate("date", {"date": "2026-01-01"}) == "2026-01-01"


def test_unstorable_values_are_refused(env: SandboxedEnvironment) -> None:
    err = refusal(env.execute, "pending = {1, 2}", {})
    assert str(err) == 'Script refused: variable "pending" holds a set, which cannot be stored in task data'
    err = refusal(env.execute, "rows = [(x for x in [])]", {})
    assert str(err) == 'Script refused: variable "rows" holds a generator, which cannot be stored in task data'


def test_provided_function_names_are_checked() -> None:
    with pytest.raises(ValueError, match="must be an identifier"):
        SandboxedEnvironment({"_hidden": print})
    with pytest.raises(TypeError, match="not callable"):
        SandboxedEnvironment({"limit": 5})  # type: ignore[dict-item]


# ---- time limit ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "line"),
    [
        ("while True: pass", 1),
        ("n = 0\nwhile True:\n    n += 1", 2),
        # A caught timeout is raised again at the next check: neither `except` nor `finally` can keep running.
        ("while True:\n    try:\n        while True: pass\n    except Exception:\n        pass", 3),
        ("n = 0\nwhile True:\n    try:\n        while True: pass\n    finally:\n        n += 1", 4),
        ("def f(n):\n    return f(n - 1) + f(n - 1) if n else 1\nx = f(80)", 1),
        ("f = lambda n: f(n - 1) + f(n - 1) if n else 1\nx = f(80)", 1),
        ("x = [a for a in range(10**6) for b in range(10**6)]", 1),
        ("def g():\n    while True:\n        yield 1\nx = sum(g())", 2),
    ],
)
def test_runaway_scripts_are_stopped(env: SandboxedEnvironment, script: str, line: int) -> None:
    started = time.thread_time()
    err = refusal(env.execute, script, {})
    assert 0.2 <= time.thread_time() - started < 0.5
    assert str(err) == f"Script stopped: it took longer than 0.2 s (line {line})"


def test_runaway_expression_is_stopped(env: SandboxedEnvironment) -> None:
    err = refusal(env.evaluate, "[a for a in range(10**6) for b in range(10**6)]", {})
    assert str(err) == "Expression stopped: it took longer than 0.2 s"


def test_time_limit_works_off_the_main_thread(env: SandboxedEnvironment) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(env.execute, "while True: pass", {}) for _ in range(2)]
        for future in futures:
            with pytest.raises(SandboxError, match="took longer than 0.2 s"):
                future.result(timeout=5)


def test_default_time_limit_is_one_second() -> None:
    started = time.thread_time()
    err = refusal(SandboxedEnvironment().execute, "while True: pass", {})
    assert 1.0 <= time.thread_time() - started < 1.3
    assert err.reason == "it took longer than 1 s"


def test_time_spent_waiting_does_not_count() -> None:
    """A provided function waiting (on the database, say, or for the processor on a loaded machine) uses no
    processor time: a script waiting 0.3 s in all under a 0.2 s limit runs to its end."""
    env = SandboxedEnvironment({"wait": lambda: time.sleep(0.1) or 1}, time_limit=0.2)
    data: dict[str, Any] = {}
    env.execute("n = 0\nfor i in range(3):\n    n += wait()", data)
    assert data["n"] == 3


def busy(seconds: float) -> int:
    """Use ``seconds`` of this thread's processor time."""
    until = time.thread_time() + seconds
    while time.thread_time() < until:
        pass
    return 1


def test_time_in_provided_functions_does_not_count() -> None:
    """govflow's own functions (reading the seat register, sending notices) are not the script's code: a script
    whose calls use 0.3 s of processor time in all under a 0.2 s limit runs to its end."""
    env = SandboxedEnvironment({"work": lambda: busy(0.1)}, time_limit=0.2)
    data: dict[str, Any] = {}
    started = time.thread_time()
    env.execute("n = 0\nfor i in range(3):\n    n += work()", data)
    assert data["n"] == 3 and time.thread_time() - started >= 0.3


def test_waiting_too_long_on_the_wall_clock_stops_the_script() -> None:
    """Ten times the limit on the wall clock stops a script however little of the time was its own."""
    env = SandboxedEnvironment({"wait": lambda: time.sleep(0.02) or 1}, time_limit=0.02)
    started = time.monotonic()
    err = refusal(env.execute, "n = 0\nwhile True:\n    n += wait()", {})
    assert 0.2 <= time.monotonic() - started < 1.0
    assert str(err) == "Script stopped: it took longer than 0.02 s (line 2)"


def test_a_loop_over_provided_functions_is_stopped_at_three_times_the_limit() -> None:
    """The time in provided functions is not the script's, but a script that keeps calling them is stopped after
    three times its limit of processor time, counting everything."""
    env = SandboxedEnvironment({"work": lambda: busy(0.01)}, time_limit=0.1)
    started = time.thread_time()
    err = refusal(env.execute, "n = 0\nwhile True:\n    n += work()", {})
    assert 0.3 <= time.thread_time() - started < 0.45
    assert str(err) == "Script stopped: it took longer than 0.1 s (line 2)"


def test_nested_uncounted_work_is_taken_off_once() -> None:
    inner = uncounted(lambda: busy(0.05))
    outer = uncounted(lambda: busy(0.05) + inner())
    watch = TimeWatch(1.0)
    outer()
    assert abs(watch.used()) < 0.02  # 0.1 s was used, and taken off once (twice would leave -0.05)
    busy(0.05)
    assert 0.04 < watch.used() < 0.08


def test_a_full_garbage_collection_does_not_count() -> None:
    """A full collection walks every object of the process, whichever evaluation's allocation set it off: on a
    worker with a large heap it can take longer than a script's limit."""
    heap = [[n] for n in range(300_000)]
    started = time.thread_time()
    gc.collect()
    collection = time.thread_time() - started
    watch = TimeWatch(collection / 2)
    gc.collect()
    assert watch.used() < collection / 4, f"a {collection:.3f} s collection counted"
    busy(collection / 2)
    assert watch.used() >= watch.limit
    del heap


# ---- ordinary use -------------------------------------------------------------------------------------------


def test_conditions(env: SandboxedEnvironment) -> None:
    data = {"amount": 6_000_000, "tom_impact": True}
    assert env.evaluate("amount >= 5000000 and tom_impact", data) is True
    assert env.evaluate("amount >= 5000000 and not tom_impact", data) is False
    assert env.evaluate("\n    amount > 5\n  ", data) is True  # indentation from the XML is ignored
    assert env.evaluate("dmninputexpr in [True, False]", {}, {"dmninputexpr": True}) is True
    assert env.evaluate("x", {"x": 1}, {"x": 2}) == 1  # task data wins over external context (as in Spiff)
    assert env.evaluate("'PT2S'", {}) == "PT2S"
    assert env.evaluate("f'{amount:,} GBP'", data) == "6,000,000 GBP"
    assert env.evaluate("cr['costs'][0]['total']", {"cr": {"costs": [{"total": 3}]}}) == 3


def test_missing_names_raise_name_error(env: SandboxedEnvironment) -> None:
    with pytest.raises(NameError, match="amount"):
        env.evaluate("amount > 5", {})


def test_scripts_set_task_data(env: SandboxedEnvironment) -> None:
    data: dict[str, Any] = {"cr": {"costs": []}, "seats": ["a"], "old": 1, "n": 1}
    env.execute(
        """
        cr['costs'].append(10)
        cr['status'] = 'assessed'
        seats.append('b')
        seats.extend(['c'])
        n += 2
        total = sum(cr['costs']) * 2
        by_seat = {s: i for i, s in enumerate(seats)}
        evens = [i for i in range(10) if i % 2 == 0]
        first, *rest = seats
        for a, b in [(1, 2)]:
            pair = a + b
        def helper(v):
            return v + 1
        bumped = helper(total)
        print('ignored')
        del old
        """,
        data,
    )
    assert data == {
        "cr": {"costs": [10], "status": "assessed"},
        "seats": ["a", "b", "c"],
        "n": 3,
        "total": 20,
        "by_seat": {"a": 0, "b": 1, "c": 2},
        "evens": [0, 2, 4, 6, 8],
        "first": "a",
        "rest": ["b", "c"],
        "a": 1,
        "b": 2,
        "pair": 3,
        "bumped": 21,
    }


def test_datetime_arithmetic_and_provided_functions(env: SandboxedEnvironment) -> None:
    data: dict[str, Any] = {}
    env.execute(
        "deadline = now() + timedelta(days=3)\n"
        "opened = datetime(2026, 3, 1, tzinfo=timezone.utc)\n"
        "age = (now() - opened).days\n"
        "meeting = date(2026, 3, 5)\n"
        "doubled = double(21)\n"
        "now = 'ignored'\n",  # a provided function is never copied into task data
        data,
    )
    assert data == {
        "deadline": NOW + timedelta(days=3),
        "opened": datetime(2026, 3, 1, tzinfo=timezone.utc),
        "age": 1,
        "meeting": date(2026, 3, 5),
        "doubled": 42,
    }


def test_failed_script_does_not_rebind_task_data(env: SandboxedEnvironment) -> None:
    data = {"x": 1}
    with pytest.raises(ZeroDivisionError):
        env.execute("x = 2\ny = 1 / 0", data)
    assert data == {"x": 1}


def test_compile_only_checks() -> None:
    check_expression("amount >= 5000000 and tom_impact")
    check_script("x = 1\nfor i in range(3):\n    x += i")
    err = refusal(check_script, "x = 1\nimport os")
    assert str(err) == "Script refused: import statements are not allowed (line 2)"
    err = refusal(check_expression, "__import__('os')")
    assert (err.reason, err.line) == ('names starting with "_" are not allowed ("__import__")', None)
    err = refusal(check_script, "x = (\n")
    assert err.line == 1 and err.reason.startswith("syntax error:")


# ---- through SpiffWorkflow ----------------------------------------------------------------------------------

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs" targetNamespace="http://govflow.test">
  <bpmn:process id="assess" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="score"/>
    <bpmn:scriptTask id="score" name="Score">
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="score" targetRef="wait"/>
    <bpmn:intermediateCatchEvent id="wait">
      <bpmn:timerEventDefinition><bpmn:timeDate>deadline()</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="wait" targetRef="decide"/>
    <bpmn:businessRuleTask id="decide" name="Decide">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>route_decision</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
    </bpmn:businessRuleTask>
    <bpmn:sequenceFlow id="f4" sourceRef="decide" targetRef="gw"/>
    <bpmn:exclusiveGateway id="gw" default="to_small"/>
    <bpmn:sequenceFlow id="to_big" sourceRef="gw" targetRef="big">
      <bpmn:conditionExpression>{condition}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_small" sourceRef="gw" targetRef="small"/>
    <bpmn:endEvent id="big"/>
    <bpmn:endEvent id="small"/>
  </bpmn:process>
</bpmn:definitions>
"""

DMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="route" name="Route"
    namespace="http://govflow.test">
  <decision id="route_decision" name="Route">
    <decisionTable id="table" hitPolicy="UNIQUE">
      <input id="in_amount" label="Amount">
        <inputExpression id="ie_amount" typeRef="integer"><text>total</text></inputExpression>
      </input>
      <input id="in_tom" label="TOM impact">
        <inputExpression id="ie_tom" typeRef="boolean"><text>tom_impact</text></inputExpression>
      </input>
      <output id="out_route" label="Route" name="route" typeRef="string"/>
      <rule id="r1">
        <inputEntry id="r1a"><text>&gt;= 5000000</text></inputEntry>
        <inputEntry id="r1b"><text>True</text></inputEntry>
        <outputEntry id="r1o"><text>"board"</text></outputEntry>
      </rule>
      <rule id="r2">
        <inputEntry id="r2a"><text>&gt;= 5000000</text></inputEntry>
        <inputEntry id="r2b"><text>? in [False, None]</text></inputEntry>
        <outputEntry id="r2o"><text>"panel"</text></outputEntry>
      </rule>
      <rule id="r3">
        <inputEntry id="r3a"><text>&lt; 5000000</text></inputEntry>
        <inputEntry id="r3b"><text>-</text></inputEntry>
        <outputEntry id="r3o"><text>"delegate"</text></outputEntry>
      </rule>
    </decisionTable>
  </decision>
</definitions>
"""

SCORE = "total = double(amount)\ncr['status'] = 'scored'\nscored_at = now()"


def build_workflow(script: str = SCORE, condition: str = "route == 'board' and total &gt;= 5000000") -> BpmnWorkflow:
    parser = SpiffBpmnParser(validator=VALIDATOR)
    bpmn = BPMN.format(script=script, condition=condition).encode()
    parser.add_bpmn_xml(parse_xml(bpmn, "assess.bpmn").getroot(), "assess.bpmn")
    parser.add_dmn_xml(parse_xml(DMN, "route.dmn").getroot(), "route.dmn")
    engine = make_script_engine({**FUNCTIONS, "deadline": lambda: "2020-01-01T00:00:00+00:00"})
    return BpmnWorkflow(parser.get_spec("assess"), parser.get_subprocess_specs("assess"), script_engine=engine)


def run(workflow: BpmnWorkflow, **data: Any) -> BpmnWorkflow:
    workflow.get_tasks(spec_name="start")[0].set_data(**data)
    workflow.do_engine_steps()
    workflow.refresh_timers()
    workflow.do_engine_steps()
    return workflow


def completed(workflow: BpmnWorkflow) -> set[str]:
    return {task.task_spec.name for task in workflow.get_tasks(state=TaskState.COMPLETED)}


@pytest.mark.parametrize(
    ("amount", "tom_impact", "route", "end"),
    [
        (3_000_000, True, "board", "big"),
        (3_000_000, False, "panel", "small"),
        (1_000_000, True, "delegate", "small"),
    ],
)
def test_workflow_runs_script_timer_decision_and_gateway(amount: int, tom_impact: bool, route: str, end: str) -> None:
    workflow = run(build_workflow(), amount=amount, tom_impact=tom_impact, cr={})
    assert workflow.is_completed()
    data = workflow.last_task.data
    assert data["total"] == amount * 2
    assert data["cr"] == {"status": "scored"}
    assert data["scored_at"] == NOW
    assert data["route"] == route
    assert end in completed(workflow)
    assert ({"big", "small"} - {end}).isdisjoint(completed(workflow))


def test_workflow_script_import_is_refused() -> None:
    workflow = build_workflow(script="total = 1\nimport os\nos.system('id')")
    with pytest.raises(WorkflowTaskException) as caught:
        run(workflow, amount=1, tom_impact=True, cr={})
    assert "Script refused: import statements are not allowed (line 2)" in str(caught.value)
    assert caught.value.line_number == 2
    assert caught.value.error_line == "import os"


def test_workflow_condition_escape_is_refused() -> None:
    workflow = build_workflow(condition="().__class__.__base__.__subclasses__()")
    with pytest.raises(WorkflowTaskException) as caught:
        run(workflow, amount=1, tom_impact=True, cr={})
    assert 'Expression refused: attributes starting with "_" are not allowed ("__class__")' in str(caught.value)


def test_workflow_runaway_script_is_stopped() -> None:
    workflow = build_workflow(script="while True:\n    pass")
    with pytest.raises(WorkflowTaskException, match=r"Script stopped: it took longer than 1 s \(line 1\)"):
        run(workflow, amount=1, tom_impact=True, cr={})


def test_expression_results_must_be_data(env: SandboxedEnvironment) -> None:
    err = refusal(env.evaluate, "(x for x in [1])", {})
    assert str(err) == "Expression refused: the result is a generator, which is not a data value"
    assert str(refusal(env.evaluate, "lambda: 1", {})) == (
        "Expression refused: the result is a function, which is not a data value"
    )
    assert env.evaluate("[{'a': (1, now())}]", {}) == [{"a": (1, NOW)}]


def test_code_put_in_nested_data_is_refused(env: SandboxedEnvironment) -> None:
    data: dict[str, Any] = {"rows": []}
    with pytest.raises(SandboxError, match='variable "rows" holds a'):
        env.execute("rows.append(lambda: 1)", data)
    assert data == {"rows": []}  # the script worked on its own copy: nothing leaked into task data


def test_code_left_in_data_cannot_run_after_the_script(env: SandboxedEnvironment) -> None:
    scope_escape: dict[str, Any] = {}
    env.evaluate("holder.update(f=lambda: 1)", {"holder": scope_escape})  # expressions see data as it is
    with pytest.raises(Exception, match="code created by a script cannot run outside it"):
        scope_escape["f"]()
