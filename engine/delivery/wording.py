"""The words of every notice, e-mail and log note govflow writes, read from template files in processes/wording/.

MHHS wording is governance data analysts own: one file per kind of text (`new_task.txt`, `overdue.txt`, ...), each a
Jinja template with a `{% block subject %}` and a `{% block body %}` (a log note has only a body). The code passes
the values (`VALUES` lists them per kind) and takes the blocks' text, with the blank lines and spaces around it
removed; a subject written over several lines becomes one line. Whitespace follows the rule of task instructions: a
line holding only block tags (`{% if %}`, `{% endfor %}`) disappears, newline and all; a tag within a line of text
leaves the line alone. A file whose name begins with `_` is a piece other templates include (`_email_footer.txt`).

Templates run in the budgeted sandbox task instructions use (engine.bpmn.instructions: time, loop items, sizes), with
no HTML escaping (the texts are plain) and StrictUndefined: a name the code does not give is an error, never an empty
string; a text over its budget is a WordingError. `problems(folder)` is what `govflow validate` reports:
a template that does not compile, uses a value its kind is not given, lacks a block, or a kind with no file.
Compiled templates are cached per file and reloaded when the file changes.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, NamedTuple

from jinja2 import BaseLoader, FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError

from engine.bpmn.definitions import Problem
from engine.bpmn.instructions import MAX_OUTPUT, BudgetedSandbox, within_budget
from engine.bpmn.instructions import _keep_text_lines  # the whitespace rule analysts know from task instructions
from engine.config import Config

FOLDER = "wording"
SUFFIX = ".txt"
#: characters of one subject or body
MAX_TEXT = MAX_OUTPUT

#: every kind of text, with the values the code gives its template (all of them, every time; a value may be None)
VALUES: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "new_task": "task label for_you role due task_url",
    "assigned": "task label by due task_url",
    "reminder": "task label due days task_url",
    "overdue": "task label due task_url",
    "overdue_escalation": "task label due holder role task_url",
    "email": "name subject body link base_url",
    "digest": "name count notices base_url",
    "action_overdue": "reference title due_on",
    "incident": "title label message command actor",
    "bank_holiday_meeting": "day holiday",
    "reopened_request": "reopened_from from_appeal reopened_as later_appeal",
    "ipa_not_referred": "reference title advice appeal_by appeal_window_days",
    "_email_footer": "name base_url",  # included by email and digest: what both give
}.items()}
#: kinds that are a note in a log or a table rather than a notice: a body, no subject
NOTES = frozenset({"bank_holiday_meeting", "reopened_request"})


class WordingError(Exception):
    """A wording template is missing, or the code gave it other values than its kind's."""


class Wording(NamedTuple):
    """One text: `subject, body = render(...)` (a note's subject is empty)."""
    subject: str
    body: str


class _Loader(FileSystemLoader):
    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        return _keep_text_lines(source), filename, uptodate


def _environment(loader: BaseLoader) -> BudgetedSandbox:
    return BudgetedSandbox(loader=loader, autoescape=False, undefined=StrictUndefined, trim_blocks=True,
                           lstrip_blocks=True, auto_reload=True)


@lru_cache(maxsize=16)
def _environment_for(folder: Path) -> BudgetedSandbox:
    return _environment(_Loader(str(folder), encoding="utf-8"))


def default_folder() -> Path:
    """processes/wording under the configured processes folder (GOVFLOW_PROCESSES_DIR, else the project's)."""
    return Path(Config.from_env().processes_dir) / FOLDER


def folder_in(paths: Iterable[Path | str]) -> Path | None:
    """The wording folder inside the first of these folders that has one (what `govflow validate processes/` checks)."""
    for path in paths:
        candidate = Path(path) / FOLDER
        if candidate.is_dir():
            return candidate
    return None


def render(kind: str, folder: Path | None = None, **values) -> Wording:
    """The subject and body of one text of this kind, filled with `values` (exactly the kind's VALUES)."""
    expected = VALUES.get(kind)
    if expected is None or kind.startswith("_"):
        raise WordingError(f"'{kind}' is not a kind of text govflow writes")
    if values.keys() != expected:
        missing, extra = sorted(expected - values.keys()), sorted(values.keys() - expected)
        raise WordingError(f"wording '{kind}' is given the wrong values (missing {missing}, unexpected {extra})")
    folder = Path(folder) if folder is not None else default_folder()
    try:
        template = _environment_for(folder.resolve()).get_template(kind + SUFFIX)
    except TemplateError as err:
        raise WordingError(f"{folder / (kind + SUFFIX)}: {err}") from err
    context = template.new_context(dict(values))

    def block(name: str) -> str:
        render_block = template.blocks.get(name)
        if render_block is None:
            return ""
        text = "".join(render_block(context)).strip()
        if len(text) > MAX_TEXT:
            raise WordingError(f"{folder / (kind + SUFFIX)}: its {name} is longer than {MAX_TEXT:,} characters")
        return text

    with within_budget():
        try:
            subject = " ".join(line.strip() for line in block("subject").splitlines())
            return Wording(subject, block("body"))
        except SecurityError as err:  # the sandbox's refusals and its budget: time, loop items, sizes
            raise WordingError(f"{folder / (kind + SUFFIX)}: {err.message or err}") from err


def problems(folder: Path) -> list[Problem]:
    """Why the wording templates in `folder` would fail, each with its file and line (empty: all is well)."""
    folder = Path(folder)
    environment = _environment(BaseLoader())
    allowed_extra = set(environment.globals)
    found: list[Problem] = []
    present = {p.name[:-len(SUFFIX)]: p for p in sorted(folder.glob("*" + SUFFIX))}
    for kind in sorted(VALUES.keys() - present.keys()):
        found.append(Problem(f"{FOLDER}/{kind}{SUFFIX}", f"missing: govflow writes '{kind}' texts with this template"))
    for kind, path in present.items():
        where = f"{FOLDER}/{path.name}"
        if kind not in VALUES:
            known = ", ".join(k + SUFFIX for k in sorted(VALUES))
            found.append(Problem(where, f"govflow writes no text of this kind: the templates are {known}"))
            continue
        try:
            tree = environment.parse(_keep_text_lines(path.read_text(encoding="utf-8")))
            environment.compile(tree)
        except (TemplateSyntaxError, UnicodeDecodeError) as err:
            found.append(Problem(where, getattr(err, "message", None) or str(err), line=getattr(err, "lineno", None)))
            continue
        unknown = sorted(meta.find_undeclared_variables(tree) - VALUES[kind] - allowed_extra)
        if unknown:
            line = min(n.lineno for n in tree.find_all(nodes.Name) if n.name in unknown and n.ctx == "load")
            given = ", ".join(sorted(VALUES[kind]))
            found.append(Problem(where, f"{', '.join(unknown)}: not given to this template (it has {given})",
                                 line=line))
        blocks = {b.name for b in tree.find_all(nodes.Block)}
        needed = set() if kind.startswith("_") else ({"body"} if kind in NOTES else {"subject", "body"})
        for name in sorted(needed - blocks):
            found.append(Problem(where, f"has no {{% block {name} %}}", line=1))
    return found
