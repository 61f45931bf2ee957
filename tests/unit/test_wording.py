"""The wording of notices, e-mails and log notes: templates in processes/wording/, rendered in jinja2's sandbox.

Every template renders with sample values (a template naming a value its kind is not given fails, StrictUndefined);
the texts are the ones the code wrote before they became templates; `govflow validate processes/` names a broken
template's file and line; and no notice text is left as a string literal in the modules that send them."""
from __future__ import annotations

import ast
import json
import shutil

import pytest
from click.testing import CliRunner
from jinja2 import UndefinedError

from cli.commands import govflow
from engine.config import PROJECT_ROOT
from engine.delivery import wording
from engine.delivery.wording import VALUES, WordingError, problems, render

FOLDER = PROJECT_ROOT / "processes" / wording.FOLDER
DUE = "Tuesday 15 December 2026 at 09:00"
URL = "http://govflow.test/tasks/abc"

#: one set of sample values per kind (exactly the kind's VALUES), and the text the code wrote before the templates
SAMPLES: dict[str, tuple[dict, str, str]] = {
    "new_task": (
        dict(task="Validate the change request", label="CR042: MPAN format", for_you=False,
             role="Change Control Manager", due=DUE, task_url=URL),
        "New task: Validate the change request — CR042: MPAN format",
        'There is a new task for the Change Control Manager role: "Validate the change request" on CR042: MPAN '
        f"format. It is due by {DUE}.\n\nOpen the task: {URL}"),
    "assigned": (
        dict(task="Validate", label="CR042: MPAN format", by="pat", due=None, task_url=URL),
        "Assigned to you: Validate — CR042: MPAN format",
        f'"Validate" on CR042: MPAN format has been assigned to you by pat.\n\nOpen the task: {URL}'),
    "reminder": (
        dict(task="Validate", label="CR042: MPAN format", due=DUE, days=2, task_url=URL),
        f"Reminder: Validate is due {DUE} — CR042: MPAN format",
        f'A reminder: "Validate" on CR042: MPAN format is due by {DUE} (2 working days from the reminder).\n\n'
        f"Open the task: {URL}"),
    "overdue": (
        dict(task="Validate", label="CR042: MPAN format", due=DUE, task_url=URL),
        "Overdue: Validate — CR042: MPAN format",
        f'"Validate" on CR042: MPAN format was due by {DUE} and is not done yet.\n\nOpen the task: {URL}'),
    "overdue_escalation": (
        dict(task="Validate", label="CR042: MPAN format", due=DUE, holder=None, role="PMO", task_url=URL),
        "Escalation — overdue: Validate — CR042: MPAN format",
        f'"Validate" on CR042: MPAN format was due by {DUE} and is not done yet. It is with the PMO role. You are '
        f"told because the process names you as an escalation contact.\n\nOpen the task: {URL}"),
    "email": (
        dict(name="Carol Clarke", subject="Decision", body="The decision is: approved.", link="http://g/requests/4",
             base_url="http://g"),
        "Decision",
        "Hello Carol Clarke,\n\nThe decision is: approved.\n\nLink: http://g/requests/4\n\n--\nYou receive this "
        "because of your role in the MHHS programme's governance. Choose immediate e-mails, a daily digest or none "
        "in govflow: http://g/"),
    "digest": (
        dict(name="Carol Clarke", count=2, base_url="http://g",
             notices=[{"subject": "New task: A — One", "link": "http://g/tasks/1"},
                      {"subject": "Action ACT001 is overdue", "link": None}]),
        "govflow daily digest: 2 updates",
        "Hello Carol Clarke,\n\nHere is what happened in govflow since your last digest (2 updates):\n\n"
        "- New task: A — One\n  http://g/tasks/1\n- Action ACT001 is overdue\n\n--\nYou receive this because of "
        "your role in the MHHS programme's governance. Choose immediate e-mails, a daily digest or none in govflow: "
        "http://g/"),
    "action_overdue": (
        dict(reference="ACT004", title="Send the plan", due_on="2027-01-18"),
        "Action ACT004 is overdue", "Send the plan was due on 2027-01-18."),
    "incident": (
        dict(title="Instance stranded", label="CR001", message="It stopped.", command="task.completed",
             actor="carol"),
        "Instance stranded: CR001", "It stopped.\n\nSeen after: task.completed by carol."),
    "bank_holiday_meeting": (
        dict(day="2027-05-03", holiday="May Day"), "",
        "2027-05-03 is a bank holiday (May Day): the usual day is kept; confirm or move it"),
    "reopened_request": (
        dict(reopened_from=3, from_appeal="APP001", reopened_as=7, later_appeal=None), "",
        "Reopened from instance 3 after APP001; Reopened after an appeal as instance 7"),
    "ipa_not_referred": (
        dict(reference="ESC004", title="Booking rules", advice="Within every threshold.", appeal_by="2027-01-06",
             appeal_window_days=10),
        "ESC004 not referred to Ofgem: you may appeal to the IPA",
        "The IPA decided not to refer your escalation ESC004 (Booking rules) to Ofgem: Within every threshold.\n\n"
        "If the matter cannot be resolved through programme governance, you may appeal to the IPA instead.\n\n"
        "How to appeal: lodge an appeal with the IPA in govflow (Start a request: Appeal, /requests/new/appeal) by "
        "2027-01-06, within 10 working days of this notice. Name the decision ESC004, give your grounds and the "
        "outcome you seek. The IPA assesses appeals against its appeal approach and criteria; its decision on an "
        "appeal is final."),
}


def test_every_kind_has_samples_and_a_template_and_the_folder_is_valid():
    assert set(SAMPLES) == {kind for kind in VALUES if not kind.startswith("_")}
    assert problems(FOLDER) == []


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_each_template_renders_its_sample_as_the_code_wrote_it(kind):
    values, subject, body = SAMPLES[kind]
    assert render(kind, FOLDER, **values) == (subject, body)


def test_the_other_branches_read_as_before():
    assert render("new_task", FOLDER, **{**SAMPLES["new_task"][0], "for_you": True, "due": None}).body == (
        f'There is a new task for you: "Validate the change request" on CR042: MPAN format.\n\nOpen the task: {URL}')
    assert render("reminder", FOLDER, **{**SAMPLES["reminder"][0], "days": 1}).body.count("(1 working day from")
    assert "It is with carol." in render("overdue_escalation", FOLDER,
                                         **{**SAMPLES["overdue_escalation"][0], "holder": "carol"}).body
    assert render("email", FOLDER, **{**SAMPLES["email"][0], "link": None}).body.startswith(
        "Hello Carol Clarke,\n\nThe decision is: approved.\n\n--\n")
    assert render("digest", FOLDER, **{**SAMPLES["digest"][0], "count": 1}).subject == "govflow daily digest: 1 update"
    assert render("incident", FOLDER, title=None, label="", message="M", command="", actor="") == (
        "Incident", "M\n\nSeen after: a command.")
    assert render("bank_holiday_meeting", FOLDER, day="2027-05-03", holiday=None).body.startswith(
        "2027-05-03 is a bank holiday (bank holiday)")
    reopened = SAMPLES["reopened_request"][0]
    assert render("reopened_request", FOLDER, **{**reopened, "reopened_as": None}).body == (
        "Reopened from instance 3 after APP001")
    assert render("reopened_request", FOLDER, **{**reopened, "reopened_from": None, "later_appeal": "APP002"}).body == (
        "Reopened after APP002 as instance 7")


def test_the_default_folder_is_the_configured_processes_folder(tmp_path, monkeypatch):
    assert wording.default_folder() == FOLDER
    shutil.copytree(FOLDER, tmp_path / "wording")
    (tmp_path / "wording" / "action_overdue.txt").write_text(
        "{% block subject %}Overdue: {{ reference }}{% endblock %}{% block body %}{{ title }}{% endblock %}")
    monkeypatch.setenv("GOVFLOW_PROCESSES_DIR", str(tmp_path))
    assert render("action_overdue", **SAMPLES["action_overdue"][0]) == ("Overdue: ACT004", "Send the plan")


def test_the_code_must_give_exactly_the_values_of_the_kind():
    with pytest.raises(WordingError, match=r"missing \['task_url'\]"):
        render("overdue", FOLDER, task="T", label="L", due=DUE)
    with pytest.raises(WordingError, match=r"unexpected \['extra'\]"):
        render("overdue", FOLDER, task="T", label="L", due=DUE, task_url=URL, extra=1)
    with pytest.raises(WordingError, match="not a kind"):
        render("_email_footer", FOLDER, name="n", base_url="b")


def test_a_template_naming_a_missing_value_fails_loudly(tmp_path):
    shutil.copytree(FOLDER, tmp_path / "wording")
    (tmp_path / "wording" / "overdue.txt").write_text(
        "{% block subject %}Overdue: {{ task }}{% endblock %}\n{% block body %}{{ owner }}{% endblock %}\n")
    with pytest.raises(UndefinedError, match="owner"):
        render("overdue", tmp_path / "wording", **SAMPLES["overdue"][0])
    [problem] = problems(tmp_path / "wording")
    assert (problem.file, problem.line) == ("wording/overdue.txt", 2) and "owner" in problem.reason


def test_problems_name_the_file_and_line(tmp_path):
    folder = tmp_path / "wording"
    shutil.copytree(FOLDER, folder)
    (folder / "reminder.txt").write_text("{% block subject %}Reminder{% endblock %}\n{% block body %}\n"
                                         "{% if days %}soon\n{% endblock %}\n")
    (folder / "incident.txt").write_text("{% block subject %}Incident{% endblock %}\n")
    (folder / "digest.txt").unlink()
    (folder / "new_tsak.txt").write_text("{% block subject %}x{% endblock %}{% block body %}x{% endblock %}")
    found = {(p.file, p.line): p.reason for p in problems(folder)}
    assert set(found) == {("wording/reminder.txt", 4), ("wording/incident.txt", 1), ("wording/digest.txt", None),
                          ("wording/new_tsak.txt", None)}
    assert "endif" in found[("wording/reminder.txt", 4)] or "if" in found[("wording/reminder.txt", 4)]
    assert found[("wording/incident.txt", 1)] == "has no {% block body %}"
    assert found[("wording/digest.txt", None)].startswith("missing")
    assert found[("wording/new_tsak.txt", None)].startswith("govflow writes no text of this kind")


def test_govflow_validate_checks_the_wording(empty_database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(tmp_path / "instance"))
    processes = tmp_path / "processes"
    shutil.copytree(PROJECT_ROOT / "processes", processes)
    (processes / "wording" / "new_task.txt").write_text(
        "{# a comment #}\n{% block subject %}New task: {{ task }{% endblock %}\n{% block body %}x{% endblock %}\n")
    result = CliRunner().invoke(govflow, ["validate", str(processes), "--json"], catch_exceptions=False)
    assert result.exit_code == 1
    [problem] = json.loads(result.stderr)["problems"]
    assert (problem["file"], problem["line"]) == ("wording/new_task.txt", 2)


# ---- no notice text left in Python ----------------------------------------------------------------------------------

#: every engine module: notifications, logs, meetings, the scheduler and incidents wrote these texts; none may again
MODULES = sorted(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "engine").rglob("*.py"))
#: phrases of the old texts, each now only in a template
PHRASES = ["New task:", "There is a new task", "Assigned to you", "has been assigned to you", "Reminder:",
           "A reminder:", "working day", "Overdue:", "is not done yet", "Escalation —", "escalation contact",
           "Open the task", "Hello ", "daily digest:", "since your last digest", "You receive this", "Link:",
           "is overdue", "was due on", "is a bank holiday", "confirm or move it", "Seen after", "Reopened from",
           "Reopened after", "It is due by", "It is with"]


def _string_literals(path) -> list[tuple[int, str]]:
    """Every string constant of a module (f-string pieces included), docstrings left out."""
    tree = ast.parse((PROJECT_ROOT / path).read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


@pytest.mark.parametrize("path", MODULES)
def test_no_notice_text_is_left_as_a_python_string(path):
    left = [(line, text) for line, text in _string_literals(path) for phrase in PHRASES if phrase in text]
    assert left == [], f"{path} still writes notice text in Python: {left}"
