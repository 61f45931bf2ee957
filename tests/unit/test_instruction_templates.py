"""Task instructions as sandboxed Jinja templates (engine/bpmn/instructions.py): loops and conditions, values
shown as text, missing names empty, the sandbox's refusals, the time and size guards, and failures shown as written."""
from __future__ import annotations

import time

import pytest

from engine.bpmn import instructions as instruction_templates
from engine.bpmn.instructions import MAX_LOOP_ITEMS, MAX_OUTPUT, fill, template_problem
from web.instructions import render

RESPONSES = [{"round": 1, "respondent_organisation": "Small Energy Co", "position": "support", "late": False,
              "comments": "We support it."},
             {"round": 2, "respondent_organisation": "Big Power", "position": "oppose", "late": True,
              "comments": "Too costly."}]
LOOP = """Responses:
{% for r in responses %}
- Round {{ r.round }}, **{{ r.respondent_organisation }}** ({{ r.position }}{% if r.late %}, late{% endif %}):
  {{ r.comments }}
{% else %}
No responses.
{% endfor %}
Done."""


def test_a_loop_gives_one_line_per_item_and_the_block_lines_vanish():
    filled = fill(LOOP, {"responses": RESPONSES})
    assert filled.notice is None
    assert filled.markdown == ("Responses:\n"
                               "- Round 1, **Small Energy Co** (support):\n  We support it\\.\n"
                               "- Round 2, **Big Power** (oppose, late):\n  Too costly\\.\n"
                               "Done.")
    assert fill(LOOP, {"responses": []}).markdown == "Responses:\nNo responses.\nDone."


def test_a_tag_ending_a_line_of_text_keeps_that_line_s_newline():
    text = "{% for r in rs %}\n- {{ r.a }}{% if r.b %}\n  (b){% endif %}\n{% endfor %}"
    assert fill(text, {"rs": [{"a": "one", "b": True}, {"a": "two"}]}).markdown == "- one\n  (b)\n- two\n"
    assert fill("  {% if x %}indented{% endif %}", {"x": 1}).markdown == "  indented"


def test_conditions_with_elif_and_else():
    text = "{% if cost > 1000000 %}big{% elif cost %}small{% else %}none{% endif %}"
    assert [fill(text, {"cost": c}).markdown for c in (2000000, 5, 0)] == ["big", "small", "none"]


def test_values_are_text_never_markdown_or_html():
    html = str(render("Title: {{ title }}\n\n{% for r in rs %}\n- {{ r }}\n{% endfor %}",
                      {"title": "**x** <script>alert(1)</script>", "rs": ["[link](https://evil.example)", "# h"]}))
    assert "<strong>" not in html and "<script" not in html and "<a " not in html and "<h3" not in html
    assert "**x** &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<li>[link](https://evil.example)</li>" in html and "<li># h</li>" in html
    # the template's own Markdown is Markdown
    assert "<strong>" in str(render("**{{ title }}**", {"title": "T"}))


def test_missing_names_attributes_and_items_render_empty():
    data = {"r": {"present": "yes"}, "nothing": None, "rows": [1]}
    text = ("[{{ absent }}|{{ r.missing.deep }}|{{ r['missing']['deep'] }}|{{ nothing }}|{{ rows[5].x }}"
            "|{{ r.present }}]")
    assert fill(text, data) == instruction_templates.FilledInstructions("[|||||yes]")
    assert fill("{% for x in absent %}x{% endfor %}{% if absent.deep %}y{% endif %}", {}).markdown == ""


@pytest.mark.parametrize("text", ["{{ ''.__class__ }}", "{{ title.__class__.__mro__ }}", "{{ ''['__class__'] }}",
                                  "{{ rows.append(1) }}", "{{ lipsum(5) }}", "{% set ns = namespace(a=1) %}{{ ns }}"])
def test_the_sandbox_refuses_internals_and_mutation_and_the_text_is_shown_as_written(text):
    filled = fill(text, {"title": "T", "rows": []})
    assert filled.notice and "shown as written" in filled.notice
    assert "<class" not in filled.markdown and "T" not in filled.markdown
    html = str(render(text, {"title": "T", "rows": []}))
    assert 'id="instructions-notice"' in html and "&lt;class" not in html


def test_an_error_shows_the_instructions_as_written_with_their_markdown_and_their_tags_as_typed():
    html = str(render("**Check** {{ 1 / 0 }} and {{ a__b__c }}", {}))
    assert "could not be filled in with this request&#39;s data (division by zero)" in html
    assert "<strong>Check</strong> {{ 1 / 0 }} and {{ a__b__c }}" in html


def test_a_huge_loop_stops_on_the_loop_budget_quickly():
    started = time.monotonic()
    filled = fill("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", {})
    assert time.monotonic() - started < 1
    assert f"more than {MAX_LOOP_ITEMS:,} times" in filled.notice


def test_a_slow_render_stops_on_the_deadline(monkeypatch):
    monkeypatch.setattr(instruction_templates, "TIME_LIMIT", 0.01)
    rows = list(range(20000))  # 2,000 sums of 20,000 numbers: well over 0.01 s on any machine
    started = time.monotonic()
    filled = fill("{% for a in rows[:2000] %}{% if rows|sum %}{% endif %}{% endfor %}", {"rows": rows})
    assert time.monotonic() - started < 1
    assert "longer than 0.01 s" in filled.notice


def test_output_is_cut_at_the_cap_with_a_notice():
    filled = fill("{% for i in range(5000) %}line {{ i }}\n{% endfor %}", {})
    assert len(filled.markdown) == MAX_OUTPUT and filled.markdown.startswith("line 0\nline 1\n")
    assert filled.notice == f"These instructions are longer than {MAX_OUTPUT:,} characters: the rest is not shown."
    html = str(render("{{ text }}", {"text": "x" * (MAX_OUTPUT + 500)}))
    assert 'id="instructions-notice"' in html and html.count("x") < MAX_OUTPUT + 100


@pytest.mark.parametrize("text", ["{{ 'x' * 1000000000 }}", "{{ 'x'.ljust(1000000000) }}",
                                  "{{ 'x'|center(1000000000) }}", "{{ '%1000000000s'|format('x') }}",
                                  "{{ '%1000000000s' % 'x' }}", "{{ '{:>1000000000}'.format('x') }}",
                                  "{{ 2 ** 10000000 }}",
                                  "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
                                  "{{ d('x', 60) }}",
                                  "{% set big %}{% for i in range(9000) %}{{ 'abcdefgh' * 100 }}{% endfor %}"
                                  "{% endset %}{{ big|length }}"])
def test_values_too_big_to_build_are_refused_before_they_are_built(text):
    started = time.monotonic()
    filled = fill(text, {})
    assert time.monotonic() - started < 1 and "shown as written" in filled.notice


def test_ordinary_formatting_of_big_numbers_is_allowed():
    assert fill("£{{ '{:,}'.format(cost) }} ({{ '%d'|format(cost) }}, {{ cost * 2 }})",
                {"cost": 2000000}).markdown == "£2,000,000 (2000000, 4000000)"


def test_template_problem_names_the_jinja_message_and_line():
    problem = template_problem("one\ntwo {{ x }}\n{% for r in rs %}\n- {{ r }}\n")
    assert problem.line == 4 and "endfor" in problem.message
    assert template_problem("{{ x|no_such_filter }}").message == "No filter named 'no_such_filter'."
    assert template_problem("{{ r.__dict__ }}") == instruction_templates.TemplateProblem(
        "instructions cannot read '__dict__'", 1)
    assert template_problem(LOOP) is None and template_problem("") is None and template_problem(None) is None


def test_dates_and_money_read_as_people_write_them():
    data = {"closed_at": "2026-06-16T23:30:00+00:00", "on": "2026-12-25", "cost": 1250000, "fee": 12.5, "odd": "soon"}
    text = fill("{{ closed_at | date }} / {{ closed_at | date(true) }} / {{ on | date }} / {{ cost | money }} / "
                "{{ fee | money }} / {{ odd | date }} / {{ odd | money }}", data).markdown
    # 23:30 UTC in June is 00:30 the next day in London (BST); the output is escaped like every value
    assert text == "17 June 2026 / 17 June 2026, 00\\:30 / 25 December 2026 / £1,250,000 / £12\\.50 / soon / soon"
