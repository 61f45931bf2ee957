"""Scripts, expressions and templates within real limits: each of the probe's cases is refused (before anything big
is made) or stopped (by the time or memory ceiling) within a second, with a reason and line, and the worker lives on.
The provided functions bound their arguments, and setting() hands out copies."""
from __future__ import annotations

import time
from datetime import date

import pytest

from engine.bpmn.budget import MAX_MEMORY, expanded_size
from engine.bpmn.functions import MAX_SPAN_YEARS, MAX_WORKING_DAYS, clock_functions
from engine.bpmn.instructions import MAX_CAPTURED, MAX_OUTPUT, fill
from engine.bpmn.sandbox import MAX_ITEMS, SandboxedEnvironment, SandboxError
from engine.calendar import ENGLAND_AND_WALES
from engine.clock import Clock

from ..conftest import T0

SETTINGS = {"lst": [1, 2], "nested": {"rows": [{"a": 1}]}}


@pytest.fixture
def sandbox():
    return SandboxedEnvironment(clock_functions(Clock(T0), SETTINGS))


@pytest.fixture
def patient_sandbox():
    """A time limit no busy test machine reaches, so that only the memory ceiling can stop a run."""
    return SandboxedEnvironment(clock_functions(Clock(T0), SETTINGS), time_limit=60)


def outcome(sandbox, script: str, seconds: float = 1.0) -> SandboxError:
    started = time.process_time()
    with pytest.raises(SandboxError) as stopped:
        sandbox.execute(script, {})
    assert time.process_time() - started < seconds, script
    return stopped.value


TOO_LARGE = f"the result would be too large (more than {MAX_ITEMS:,} items and characters in all"


@pytest.mark.parametrize("script, reason, line", [
    ("x = sum([[1]*1000000]*100, [])", "the result would be too large (100,000,000 items", 1),  # when compiled
    ("rows = [[1]*1000000]\nx = sum(rows*100, [])", TOO_LARGE, 2),  # when run
    ("a = 'x' * 1000000\nx = ''.join([a]*1000)", TOO_LARGE, 2),
    ("a = 'x' * 1000000\nx = ''.join([a for i in range(1000)])", "the result would be too large (1,000,000,000 items",
     2),
    ("x = sum([[1] * 1000 for i in range(2000)], [])", "the result would be too large (1,001,000 items", 1),
    ("x = 'x'.ljust(10**9)", f"padding wider than {MAX_ITEMS:,} characters is not allowed", 1),
    ("x = 'x'.rjust(10**9, '-')", "padding wider than", 1),
    ("x = 'x'.center(10**9)", "padding wider than", 1),
    ("x = '1'.zfill(10**9)", "padding wider than", 1),
    ("x = ('\\t' * 1000).expandtabs(10**7)", "the result would be too large", 1),
    ("x = ('a' * 1000000).replace('a', 'aaaa')", "the result would be too large (4,000,000 items", 1),
    ("x = ('a' * 1000000).translate({97: 'b' * 100})", "the result would be too large", 1),
    ("n = 10**9\nx = f'{1:>{n}}'", f"an f-string field wider than {MAX_ITEMS:,} characters is not allowed", 2),
    ("x = f'{1.5:.1000000000f}'", "an f-string field wider than", 1),
    ("x = '%1000000000d' % 1", "a % format wider than", 1),
    ("x = '%*d' % (10**9, 1)", "'*' widths in % formatting are not allowed", 1),
    ("x = ('%s' * 1000) % (('x' * 1000000,) * 1000)", "the result would be too large (1,000,000,000 items", 1),
    ("s = 'x' * 1000000\nx = ('%s' * 1000) % ((s,) * 1000)", TOO_LARGE, 2),
    ("s = 'x' * 1000000\nrows = [s for i in range(1000)]\nx = str(rows)", "the text would be too long", 3),
    ("s = 'x' * 1000000\nrows = [s for i in range(1000)]\nx = f'{rows}'", "the text would be too long", 3),
    ("s = 'x' * 1000000\nrows = [s for i in range(1000)]\nx = repr(rows)", "the text would be too long", 3),
    ("x = str.ljust('x', 10**9)", "call ljust() on a string ('text'.ljust(...)), not on str", 1),
])
def test_probe_cases_are_refused_before_anything_big_is_made(sandbox, script, reason, line):
    err = outcome(sandbox, script, seconds=0.5)
    assert err.reason.startswith(reason) and err.line == line and str(err).startswith("Script refused: ")


def test_a_list_holding_one_string_many_times_is_not_left_in_task_data(sandbox):
    err = outcome(sandbox, "s = 'x' * 1000000\nrows = [s for i in range(1000)]")
    assert err.reason == f'variable "rows" would hold more than {MAX_ITEMS:,} items and characters in task data'


@pytest.mark.parametrize("script", [
    "rows = [[0] * 1000000 for i in range(1000)]",  # 8 GB, 8 MB a step
    "rows = []\nfor i in range(100000):\n    rows.append('y' * 100000)",  # 10 GB, 100 kB a step
])
def test_growing_data_is_stopped_at_the_memory_ceiling(patient_sandbox, script):
    err = outcome(patient_sandbox, script, seconds=2.0)
    assert str(err).startswith("Script stopped: ")
    assert err.reason == f"it used more than {MAX_MEMORY // 2**20:,} MB of memory"


def test_a_stopped_run_cannot_catch_the_ceiling(patient_sandbox):
    script = "rows = []\ntry:\n    for i in range(100000):\n        rows.append('y' * 100000)\nexcept:\n    rows = []\n"
    assert "MB of memory" in outcome(patient_sandbox, script, seconds=2.0).reason


def test_ordinary_scripts_keep_working(sandbox):
    data = {"names": ["b", "a"], "amount": 1250.5}
    sandbox.execute("""
grid = [[0] * 3] * 3
line = '-'.join(str(i) for i in range(1000))
total = sum([[1, 2], [3]], [])
pairs = sum([(1,), (2,)], ())
count = sum(i for i in range(10))
label = f'{amount:,.2f} GBP {names!r} {"x":>5}'
old = 'a=%s b=%05.2f' % ('q', 1.5)
padded = 'x'.ljust(10, '.') + '7'.zfill(3) + 'ab'.replace('a', 'AA')
kinds = [isinstance('s', str), isinstance(1, (str, int)), str.upper('a'), sorted(names, key=str)]
print(total, 'discarded')
""", data)
    assert data["grid"] == [[0, 0, 0]] * 3 and data["line"].startswith("0-1-2") and data["total"] == [1, 2, 3]
    assert data["pairs"] == (1, 2) and data["count"] == 45
    assert data["label"] == "1,250.50 GBP ['b', 'a']     x" and data["old"] == "a=q b=01.50"
    assert data["padded"] == "x.........007AAb" and data["kinds"] == [True, True, "A", ["a", "b"]]


def test_expanded_size_counts_shared_objects_each_time():
    text = "x" * 1000
    assert expanded_size([text] * 1000, 10**9) == 1_000_000
    assert expanded_size([[1] * 1000] * 1000, 10**9) == 1_000_000
    assert expanded_size([[1] * 19999] * 5000, 1_000_000) > 1_000_000  # stops soon after the limit
    looped = [1]
    looped.append(looped)
    assert expanded_size(looped, 100) < 100


# ---- the provided functions --------------------------------------------------------------------------------------


def test_add_working_days_and_working_days_between_bound_their_arguments(sandbox):
    started = time.process_time()
    with pytest.raises(ValueError, match=f"needs n from -{MAX_WORKING_DAYS:,} to {MAX_WORKING_DAYS:,}, not 10,000,000"):
        sandbox.execute("x = add_working_days(now(), 10**7)", {})
    with pytest.raises(ValueError, match=f"counts over at most {MAX_SPAN_YEARS} years"):
        sandbox.execute("x = working_days_between('0001-01-01', '9999-12-31')", {})
    assert time.process_time() - started < 0.5
    data = {}
    sandbox.execute("a = add_working_days('2026-12-01', 20)\nb = working_days_between('2026-12-01', '2027-12-01')",
                    data)
    assert data["a"] == ENGLAND_AND_WALES.add_working_days(date(2026, 12, 1), 20)
    assert data["b"] == ENGLAND_AND_WALES.working_days_between(date(2026, 12, 1), date(2027, 12, 1))


def test_setting_hands_each_script_its_own_copy(sandbox):
    first, second = {}, {}
    sandbox.execute("lst = setting('lst')\nlst.append(1)\nsetting('nested')['rows'].append(2)\nn = len(lst)", first)
    sandbox.execute("n = len(setting('lst'))\nrows = setting('nested')['rows']", second)
    assert first["n"] == 3 and second["n"] == 2 and second["rows"] == [{"a": 1}]
    assert SETTINGS == {"lst": [1, 2], "nested": {"rows": [{"a": 1}]}}


# ---- templates ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, reason", [
    ("{{ ([[1]*19999]*5000)|sum(start=[])|length }}", f"a repetition longer than {MAX_OUTPUT:,} is not allowed"),
    ("{% set a = 'x'*20000 %}{% set b = a~a~a~a~a~a~a~a %}{% set c = b~b~b~b~b~b~b~b %}{{ c|length }}",
     "characters"),
    ("{% set a = 'x'*20000 %}{% set b = a+a+a+a+a+a+a+a %}{% set c = b+b+b+b+b+b+b+b %}{{ c|length }}",
     f"they produce more than {MAX_CAPTURED:,} characters"),
    ("{% set s = 'x'*20000 %}{{ [s,s,s,s,s,s,s,s,s,s,s,s]|join|length }}", f"a result longer than {MAX_CAPTURED:,}"),
    ("{% set s = 'x'*20000 %}{{ [s,s,s,s,s,s,s,s,s,s,s,s] }}", "writing out a value longer than"),
    ("{% set s = 'x'*20000 %}{{ [s,s,s,s,s,s,s,s,s,s,s,s]|tojson|length }}", "writing out a value longer than"),
    ("{{ [1]|batch(100000000, 0)|list|length }}", f"|batch of more than {MAX_OUTPUT:,} is not allowed"),
    ("{{ range(10)|slice(100000000)|list|length }}", "|slice of more than"),
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops go round more than"),
])
def test_template_probes_are_refused_fast_and_shown_as_written(text, reason):
    started = time.process_time()
    filled = fill(text, {})
    assert time.process_time() - started < 0.5
    assert filled.notice and reason in filled.notice and "shown as written" in filled.notice


def test_ordinary_templates_keep_working():
    text = "{{ 'a' ~ 'b' }} {{ [1,2]|join(',') }} {{ [[1],[2]]|sum(start=[]) }} {{ 'x' * 3 }} {{ 'p' + 'q' }}"
    assert fill(text, {}).markdown == "ab 1,2 \\[1, 2\\] xxx pq"


# ---- the lint ----------------------------------------------------------------------------------------------------


def test_the_lint_refuses_sizes_and_arguments_a_script_writes_out():
    from .test_lint import diagram, lint_of, line_of

    script = """    <bpmn:scriptTask id="run" name="Run">
      <bpmn:script>a = 1
x = sum([[1]*1000000]*100, [])
y = 'x'.ljust(10**9)
z = f'{a:>1000000000}'
w = '%*d' % (5, a)</bpmn:script>
    </bpmn:scriptTask>
"""
    bpmn = diagram(script, due="add_working_days(now(), 10**7)")
    found = {(p.line, p.reason) for p in lint_of(bpmn) if "Run" in p.reason or "dueDate" in p.reason}
    assert (line_of(bpmn, "x = sum"), "script of 'Run' does not compile: the result would be too large "
                                      "(100,000,000 items; the limit is 1,000,000)") in found
    bpmn = diagram(script.replace("x = sum([[1]*1000000]*100, [])", "x = 1"), due="add_working_days(now(), 10**7)")
    found = {(p.line, p.reason) for p in lint_of(bpmn) if "Run" in p.reason or "dueDate" in p.reason}
    assert (line_of(bpmn, "y = 'x'"), "script of 'Run' does not compile: padding wider than 1,000,000 characters "
                                      "is not allowed") in found
    assert any("dueDate of 'Validate' would fail: add_working_days(start, n) needs n from -5,000 to 5,000, not "
               "10,000,000" in reason for _, reason in found), found
    script = script.replace("a = 1\n", "a = add_working_days(now(), 10**7)\nb = working_days_between('0001-01-01', "
                                       "'9999-12-31')\n")
    for line in ("x = sum([[1]*1000000]*100, [])", "y = 'x'.ljust(10**9)", "z = f'{a:>1000000000}'",
                 "w = '%*d' % (5, a)"):
        script = script.replace(line, "c = 1")
    bpmn = diagram(script)
    found = {(p.line, p.reason) for p in lint_of(bpmn) if "Run" in p.reason}
    assert found >= {
        (line_of(bpmn, "a = add_working_days"), "script of 'Run' would fail: add_working_days(start, n) needs n from "
                                                "-5,000 to 5,000, not 10,000,000"),
        (line_of(bpmn, "b = working_days_between"), "script of 'Run' would fail: working_days_between counts over at "
                                                    "most 20 years")}, found
