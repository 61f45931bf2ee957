"""The `govflow` command line: a thin adapter over engine.platform.Govflow (one command, one engine call)."""
from __future__ import annotations

import functools
import json
import os
import secrets
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click

from cli.acting import Acting
from engine.clock import Clock, parse_moment
from engine.demo.demo_work import add_demo_work
from engine.errors import FormInvalid, GovflowError
from engine.observability.logs import mask_url
from engine.platform import Govflow
from engine.services import model_files
from engine.services.identity import NewUser
from engine.services.inbox import InboxQuery
from engine.services.repository import DeploymentError


class Context:
    """What every command needs: the engine (built lazily, on the `--at` clock) and how to print."""

    def __init__(self, as_json: bool, at: datetime | None):
        self.as_json = as_json
        self.clock = Clock(at) if at else Clock()
        self._govflow: Govflow | None = None

    @property
    def govflow(self) -> Govflow:
        if self._govflow is None:
            self._govflow = Govflow(clock=self.clock)
        return self._govflow

    def finish(self) -> None:
        """The command ends once the deliveries it left for the background (announcing a new task, e-mails,
        webhooks) are made — as the process's exit would wait for them anyway — so that whatever runs next sees
        them."""
        if self._govflow is not None:
            self._govflow.effects.close()

    def emit(self, payload: Any, text: str | Callable[[], str]) -> None:
        if self.as_json:
            click.echo(json.dumps(payload, indent=2, default=_json_default))
        else:
            click.echo(text() if callable(text) else text)


def _json_default(value):
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return str(value)


def command(group: click.Group, name: str | None = None, timed: bool = False):
    """Register a command with --json (and --at where time matters) and turn engine errors into clean exits."""

    def wrap(fn):
        @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
        @functools.wraps(fn)
        def run(as_json: bool, at: str | None = None, **kwargs):
            ctx = Context(as_json, parse_moment(at) if at else None)
            try:
                fn(ctx, **kwargs)
            except DeploymentError as err:
                _fail(ctx, "The files were refused:\n" + "\n".join(f"  - {p}" for p in err.problems),
                      {"error": "deployment refused", "problems": [p.as_dict() for p in err.problems]})
            except FormInvalid as err:
                _fail(ctx, "The data does not fit the form:\n" + "\n".join(
                    f"  - {k or '(form)'}: {v}" for k, v in err.errors.items()),
                      {"error": "invalid data", "fields": err.errors})
            except GovflowError as err:
                _fail(ctx, str(err), {"error": type(err).__name__, "message": str(err)})
            finally:
                ctx.finish()

        if timed:
            run = click.option("--at", help="Act as of this date and time (ISO 8601; Europe/London if no zone).")(run)
        return group.command(name)(run)

    return wrap


def _fail(ctx: Context, text: str, payload: dict) -> None:
    click.echo(json.dumps(payload, indent=2) if ctx.as_json else text, err=True)
    sys.exit(1)


def _data(value: str | None) -> dict:
    """--data takes JSON text, or @path to a JSON file."""
    if not value:
        return {}
    text = Path(value[1:]).read_text() if value.startswith("@") else value
    try:
        parsed = json.loads(text)
    except ValueError as err:
        raise click.BadParameter(f"not valid JSON: {err}", param_hint="--data")
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--data")
    return parsed


def _files(values: tuple[str, ...]) -> list[tuple[str, str, bytes]]:
    """--file FIELD=PATH (repeatable): a file for one of the form's file fields."""
    found = []
    for value in values:
        field, sep, path = value.partition("=")
        if not sep or not field or not path:
            raise click.BadParameter(f"'{value}': give FIELD=PATH, e.g. supporting_documents=./options.pdf",
                                     param_hint="--file")
        file = Path(path)
        if not file.is_file():
            raise click.BadParameter(f"'{path}' is not a file", param_hint="--file")
        found.append((field, file.name, file.read_bytes()))
    return found


FILE_OPTION = click.option("--file", "files", multiple=True, metavar="FIELD=PATH",
                           help="Attach a file to one of the form's file fields (repeatable).")


def RETRY_OPTIONS(fn):
    """--as (the admin retrying) and --reason (what was put right, kept in the audit trail)."""
    fn = click.option("--reason", required=True, help="What was put right (kept in the audit trail).")(fn)
    return click.option("--as", "username", required=True, help="The admin retrying it.")(fn)


@click.group()
def govflow() -> None:
    """govflow: MHHS programme governance run as BPMN processes."""


# --- set-up ------------------------------------------------------------------------------------------------------


@command(govflow, timed=True)
@click.option("--demo/--no-demo", default=False, help="Also create the demo people (password printed).")
def init(ctx: Context, demo: bool) -> None:
    """Create or upgrade the database, load roles and groups, deploy processes/ (idempotent)."""
    password = demo_password(ctx.govflow.config.instance_dir) if demo else None
    report = ctx.govflow.init(demo_password=password)
    payload = report.as_dict() | ({"demo_password": password} if demo else {})

    def text() -> str:
        lines = [f"Database ready: {mask_url(ctx.govflow.config.database_url)}",
                 f"Roles: {report.roles}, governance groups: {report.groups}"]
        for p in report.deployment.processes:
            lines.append(f"Process {p.process_id} '{p.name}': version {p.version}"
                         + (" (new)" if p.created else " (unchanged)"))
        if report.demo_users:
            lines.append(f"Demo users added: {', '.join(report.demo_users)}")
        return "\n".join(lines)

    ctx.emit(payload, text)


@command(govflow, "demo-work", timed=True)
def demo_work(ctx: Context) -> None:
    """Fill the seat register's chairs, plan the groups' meetings and start the demo requests at different stages
    (after `init --demo`; only into a database without instances)."""
    work = add_demo_work(ctx.govflow)
    ctx.emit({"requests": work.requests, "meetings": work.meetings},
             f"Demo work: {work.requests} requests at different stages, {work.meetings} group meetings planned"
             if work.requests else "Demo work: none added (the database already has instances)")


def demo_password(instance_dir: Path) -> str:
    """The demo password: generated once per install and kept in instance/ (never in the repository)."""
    path = instance_dir / "demo-password"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    password = "demo-" + secrets.token_urlsafe(9)
    path.write_text(password + "\n")
    path.chmod(0o600)
    return password


@command(govflow)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--forms", "forms_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Where the forms are (default: the configured forms/ folder).")
def validate(ctx: Context, paths: tuple[str, ...], forms_dir: str | None) -> None:
    """Check BPMN/DMN files (and the forms they use) as a deployment would, storing nothing. A .dmn file may be
    checked on its own."""
    forms = Path(forms_dir) if forms_dir else None
    ids = ctx.govflow.validate(list(paths), forms_dir=forms)
    decisions = ctx.govflow.decisions(list(paths), forms)
    payload: dict[str, Any] = {"valid": True, "processes": ids}
    parts = [", ".join(ids)] if ids else []
    if decisions:
        payload["decisions"] = decisions
        parts.append(("decisions " if len(decisions) > 1 else "decision ") + ", ".join(decisions))
    ctx.emit(payload, "Valid: " + "; ".join(parts))


@command(govflow, name="format")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--check", is_flag=True, help="Change nothing; fail if a file is not in its canonical text.")
def format_files(ctx: Context, paths: tuple[str, ...], check: bool) -> None:
    """Write BPMN/DMN files (or the .bpmn/.dmn files in folders) in the canonical text the library saves."""
    report = model_files.format_files(paths, check=check)
    changed, refused = report.changed, report.refused
    payload = {"files": report.files, "changed": changed, "check": check, "refused": refused}
    verb = "would change" if check else "changed"
    if refused or (check and changed):
        _fail(ctx, "\n".join([f"{f}: {r}" for f, r in refused.items()] + [f"{f} {verb}" for f in changed]),
              payload | {"error": "not canonical" if changed else "refused"})
    ctx.emit(payload, "\n".join([f"{f} {verb}" for f in changed] +
                                 [f"{report.files} file(s) checked, {len(changed)} {verb}"]))


@command(govflow, timed=True)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--as", "username", default="system", help="Who deploys (recorded in the audit trail).")
@click.option("--note", default="", help="What changed, for the version history.")
@click.option("--forms", "forms_dir", default=None, type=click.Path(exists=True, file_okay=False),
              help="Where the forms are (default: the configured forms/ folder).")
def deploy(ctx: Context, paths: tuple[str, ...], username: str, note: str, forms_dir: str | None) -> None:
    """Deploy BPMN/DMN files; each process whose content changed gets a new version."""
    result = ctx.govflow.deploy(list(paths), by=username, note=note, forms_dir=Path(forms_dir) if forms_dir else None)
    ctx.emit(result.as_dict(), lambda: "\n".join(
        f"{p.process_id}: version {p.version}" + (" (new)" if p.created else " (unchanged)")
        for p in result.processes))


# --- users -------------------------------------------------------------------------------------------------------


@govflow.group()
def users() -> None:
    """Add and list people."""


@command(users, "list")
def users_list(ctx: Context) -> None:
    """List every user with roles and organisation."""
    rows = ctx.govflow.users()
    ctx.emit(rows, lambda: "\n".join(f"{u['username']:<12} {u['name']:<22} {', '.join(u['roles'])}"
                                     f"{'  (' + u['organisation'] + ')' if u['organisation'] else ''}"
                                     for u in rows) or "No users yet.")


@command(users, "add")
@click.argument("username")
@click.option("--name", required=True, help="Full name.")
@click.option("--email", default="")
@click.option("--role", "roles", multiple=True, required=True, help="A role id; repeat for several.")
@click.option("--organisation", default=None)
@click.option("--constituency", default=None)
@click.option("--password", default=None, help="Omit to be prompted.")
def users_add(ctx: Context, username: str, name: str, email: str, roles: tuple[str, ...],
              organisation: str | None, constituency: str | None, password: str | None) -> None:
    """Add a person with one or more roles."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    row = ctx.govflow.add_user(NewUser(username, name, email, password, roles, organisation, constituency))
    ctx.emit(row, f"Added {row['username']} ({', '.join(row['roles'])})")


@command(users, "demo")
def users_demo(ctx: Context) -> None:
    """Add the demo people (password printed)."""
    password = demo_password(ctx.govflow.config.instance_dir)
    added = ctx.govflow.add_demo_users(password)
    ctx.emit({"added": added, "password": password},
             f"Added: {', '.join(added) or 'none (they exist)'}; demo password: {password}")


# --- runtime -----------------------------------------------------------------------------------------------------


def _result_text(result) -> str:
    parts = [f"Instance {result.instance_id}", result.reference or "", f"status {result.status}",
             f"state '{result.state}'" if result.state else ""]
    if result.next_task_id:
        parts.append(f"your next task: {result.next_task_id}")
    return " · ".join(p for p in parts if p)


@command(govflow, timed=True)
@click.argument("process_id")
@click.option("--as", "username", required=True)
@click.option("--data", default=None, help="The start form as JSON, or @file.json.")
@FILE_OPTION
def start(ctx: Context, process_id: str, username: str, data: str | None, files: tuple[str, ...]) -> None:
    """Start a process (for change_control: raise a change request)."""
    result = ctx.govflow.submissions.start(process_id, username, _data(data), _files(files))
    ctx.emit(result.as_dict(), lambda: _result_text(result))


@command(govflow, timed=True)
@click.option("--as", "username", required=True)
@click.option("--tab", default=None, type=click.Choice(["mine", "groups", "completed"]),
              help="One tab of the inbox, as the API lists it (default: mine, then my groups' unclaimed tasks).")
@click.option("--process", default="", help="With --tab: one process's tasks.")
@click.option("--overdue", is_flag=True, help="With --tab: only overdue tasks.")
@click.option("--text", "search", default="", help="With --tab: text in the reference, title or task name.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, 100_000), help="With --tab.")
@click.option("--size", default=25, show_default=True, type=click.IntRange(1, 200), help="With --tab.")
def tasks(ctx: Context, username: str, tab: str | None, process: str, overdue: bool, search: str, page: int,
          size: int) -> None:
    """The tasks USER may act on: claimed by or assigned to them, then unclaimed tasks of their roles; with --tab,
    one tab of the inbox (`completed`: what they did), filtered and paged."""
    if tab is None:
        rows = ctx.govflow.tasks(username)
    else:
        found = ctx.govflow.inbox.page(username, InboxQuery(tab, process, "", overdue, None, search, page=page,
                                                            page_size=size))
        rows = [view for view, _ref in found.rows]

    def text() -> str:
        if not rows:
            return "No open tasks." if tab in (None, "mine", "groups") else "No completed tasks."
        return "\n".join(
            f"{t.id}  {t.reference or '#' + str(t.instance_id):<8} {t.name:<36} "
            + (f"done by {t.completed_by} {t.completed_at.date().isoformat()}" if t.completed_at else
               f"{'claimed by ' + t.claimed_by if t.claimed_by else (t.assignee and 'for ' + t.assignee) or t.lane}"
               f"{'  due ' + t.due_at.date().isoformat() if t.due_at else ''}") for t in rows)

    ctx.emit([t.as_dict() for t in rows], text)


@command(govflow, timed=True)
@click.argument("task_id")
@click.option("--as", "username", required=True)
def claim(ctx: Context, task_id: str, username: str) -> None:
    """Claim a task of one of your roles."""
    ctx.govflow.claim(task_id, username)
    ctx.emit({"task_id": task_id, "claimed_by": username}, f"Claimed {task_id}")


@command(govflow, timed=True)
@click.argument("task_id")
@click.option("--as", "username", required=True)
def unclaim(ctx: Context, task_id: str, username: str) -> None:
    """Give a claimed task back to its role."""
    ctx.govflow.unclaim(task_id, username)
    ctx.govflow.discard_draft(task_id, username)  # as the API's unclaim: my draft goes with my claim
    ctx.emit({"task_id": task_id, "claimed_by": None}, f"Released {task_id}")


@command(govflow, timed=True)
@click.argument("task_id")
@click.option("--as", "username", required=True)
@click.option("--data", default=None, help="The task's form as JSON, or @file.json.")
@FILE_OPTION
def complete(ctx: Context, task_id: str, username: str, data: str | None, files: tuple[str, ...]) -> None:
    """Complete a task with its form data (checked against the task's JSON Schema)."""
    result = ctx.govflow.submissions.submit(task_id, username, _data(data), _files(files), claim=False)
    ctx.emit(result.as_dict(), lambda: _result_text(result))


@command(govflow, "send", timed=True)
@click.argument("instance_id", type=int)
@click.argument("message")
@click.option("--as", "username", required=True)
@click.option("--data", default=None, help="The message's form as JSON, or @file.json.")
@FILE_OPTION
def send(ctx: Context, instance_id: int, message: str, username: str, data: str | None, files: tuple[str, ...]) -> None:
    """Send a message an instance waits for (e.g. consultation_response)."""
    result = ctx.govflow.submissions.send_message(instance_id, message, username, _data(data), _files(files))
    ctx.emit(result.as_dict(), lambda: _result_text(result))


@command(govflow, "signal", timed=True)
@click.argument("instance_id", type=int)
@click.argument("signal")
@click.option("--as", "username", required=True)
@click.option("--data", default=None, help="The signal's form as JSON, or @file.json.")
def signal(ctx: Context, instance_id: int, signal: str, username: str, data: str | None) -> None:
    """Send a signal an instance waits for; every catch waiting for it receives it."""
    result = ctx.govflow.send_signal(instance_id, signal, username, _data(data))
    ctx.emit(result.as_dict(), lambda: _result_text(result))


@command(govflow, timed=True)
@click.argument("instance_id", type=int)
@click.option("--as", "username", required=True)
@click.option("--reason", required=True, help="Why: everyone working on it is told")
def withdraw(ctx: Context, instance_id: int, username: str, reason: str) -> None:
    """Withdraw a change request (the raiser, before the decision)."""
    result = ctx.govflow.withdraw(instance_id, username, reason)
    ctx.emit(result.as_dict(), lambda: _result_text(result))


@command(govflow)
@click.argument("instance_id", type=int)
@click.option("--as", "username", default=None,
              help="Look as this person: refused (and audited) unless they may see it; lists what they may send it.")
def show(ctx: Context, instance_id: int, username: str | None) -> None:
    """Show an instance: state, data, open tasks, timers and its history."""
    me = Acting(ctx.govflow, username, "show") if username else None
    if me:
        me.visible(instance_id)
    record = ctx.govflow.show(instance_id)
    if me:  # as the API shows it: what this person may send it now
        record["open_messages"] = [] if me.observer_only else [
            {k: m[k] for k in ("message", "name", "title", "schema")}
            for m in ctx.govflow.open_messages(instance_id, username)]

    def text() -> str:
        lines = [f"{record['reference'] or '#' + str(record['id'])} {record['title']}",
                 f"  process {record['process_id']} · status {record['status']} · state '{record['state']}'"]
        open_tasks = [t for t in record["tasks"] if t["status"] == "ready"]
        for t in open_tasks:
            lines.append(f"  open task {t['id']}: {t['name']} ({t['assignee'] or t['lane']})"
                         + (f" due {t['due_at']}" if t["due_at"] else ""))
        for t in record["timers"]:
            if t["status"] == "waiting":
                lines.append(f"  timer {t['name'] or t['element_id']} due {t['due_at']}")
        for m in record["messages"]:
            lines.append(f"  accepts {m['kind']} '{m['message']}'")
        for m in record.get("open_messages", []):
            lines.append(f"  {username} may send '{m['message']}' ({m['title']})")
        lines.append("  history:")
        lines += [f"    {e['at']}  {e['actor']:<8} {e['action']} {e['element_id'] or ''}" for e in record["history"]]
        return "\n".join(lines)

    ctx.emit(record, text)


# --- timers ------------------------------------------------------------------------------------------------------


@govflow.group()
def timers() -> None:
    """Waiting timers and deadlines."""


@command(timers, "list")
@click.option("--status", default="waiting", type=click.Choice(["waiting", "fired", "cancelled", "failed"]))
def timers_list(ctx: Context, status: str) -> None:
    """List timers (waiting by default; `--status failed` shows incidents)."""
    rows = ctx.govflow.timers(status)
    ctx.emit(rows, lambda: "\n".join(f"{t['due_at']}  {t['reference'] or '#' + str(t['instance_id']):<8} "
                                     f"{t['name'] or t['element_id']}"
                                     + (f"  ERROR: {t['last_error']}" if t['last_error'] else "")
                                     for t in rows) or f"No {status} timers.")


@command(timers, "run-due", timed=True)
def timers_run_due(ctx: Context) -> None:
    """Fire every timer due at --at (default: now), oldest first."""
    fired = ctx.govflow.fire_due_timers(ctx.clock.now())
    ctx.emit(fired, lambda: "\n".join(
        f"#{f['instance_id']} {f.get('reference') or ''}: "
        + (f"ERROR {f['error']}" if "error" in f else
           ", ".join(t["name"] or t["element_id"] for t in f["timers"]) + f" → state '{f['state']}'")
        for f in fired) or "No timers were due.")


@command(timers, "retry")
@click.argument("timer_id", type=int)
@RETRY_OPTIONS
def timers_retry(ctx: Context, timer_id: int, username: str, reason: str) -> None:
    """Put a failed timer back in the queue (its incident is closed); the scheduler fires it on its next sweep."""
    ctx.govflow.retry_timer(timer_id, username, reason)
    ctx.emit({"retried": timer_id}, f"Timer {timer_id} is waiting again; the scheduler fires it on its next sweep "
             "(or run `govflow timers run-due`).")


# --- the outbox --------------------------------------------------------------------------------------------------


@govflow.group("outbox")
def outbox_group() -> None:
    """Effects written by commands and delivered after their commit (follow-up starts, announcements)."""


@command(outbox_group, "list")
@click.option("--status", default=None, type=click.Choice(["pending", "delivered", "failed"]))
def outbox_list(ctx: Context, status: str | None) -> None:
    """List effects (newest first), with their attempts and last error."""
    rows = ctx.govflow.effects_list(status)
    ctx.emit(rows, lambda: "\n".join(
        f"effect {e['id']}  {e['status']:<9} {e['kind']:<20} attempts {e['attempts']}"
        + (f"  instance {e['instance_id']}" if e["instance_id"] else "")
        + (f"\n    {e['last_error']}" if e["last_error"] else "") for e in rows) or "The outbox is empty.")


@command(outbox_group, "deliver", timed=True)
def outbox_deliver(ctx: Context) -> None:
    """Deliver every effect due now (what a running scheduler does on its sweep)."""
    count = ctx.govflow.deliver_effects()
    ctx.emit({"delivered": count}, f"{count} effect(s) delivered.")


@command(outbox_group, "retry")
@click.argument("effect_id", type=int)
@RETRY_OPTIONS
def outbox_retry(ctx: Context, effect_id: int, username: str, reason: str) -> None:
    """Put a failed effect back in the queue (its incident is closed) and deliver it."""
    ctx.govflow.retry_effect(effect_id, username, reason)
    ctx.emit({"retried": effect_id}, f"Effect {effect_id} is pending again.")


# --- incidents ---------------------------------------------------------------------------------------------------


@govflow.group(invoke_without_command=True)
@click.option("--all", "include_closed", is_flag=True, help="Closed incidents too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def incidents(click_ctx: click.Context, include_closed: bool, as_json: bool) -> None:
    """What the system found wrong and an admin must look at (stranded instances, failing timers, tasks created
    overdue, effects not delivered). Without a subcommand: list the open ones."""
    if click_ctx.invoked_subcommand is None:
        _list_incidents(Context(as_json, None), include_closed)


def _list_incidents(ctx: Context, include_closed: bool) -> None:
    try:
        rows = ctx.govflow.incidents(include_closed)
    except GovflowError as err:
        _fail(ctx, str(err), {"error": type(err).__name__, "message": str(err)})
    ctx.emit(rows, lambda: "\n".join(
        f"incident {i['id']}  {i['opened_at']}  {i['title']}  {i['reference'] or ('#' + str(i['instance_id']) if i['instance_id'] else '')}"
        + (f"  at {', '.join(i['element_ids'])}" if i["element_ids"] else "")
        + (f"  [closed by {i['resolved_by']}: {i['resolution']}]" if i["resolved_at"] else "")
        + f"\n    {i['message']}" for i in rows) or "No incidents.")


@command(incidents, "resolve")
@click.argument("incident_id", type=int)
@click.option("--as", "username", required=True, help="The admin closing it.")
@click.option("--reason", required=True, help="What was done about it (kept in the audit trail).")
def incidents_resolve(ctx: Context, incident_id: int, username: str, reason: str) -> None:
    """Close an incident, saying what was done."""
    row = ctx.govflow.resolve_incident(incident_id, username, reason)
    ctx.emit(row, f"Incident {incident_id} is closed.")


# --- services ----------------------------------------------------------------------------------------------------


@govflow.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--scheduler/--no-scheduler", default=True, help="Run the timer scheduler in this process.")
def serve(host: str, port: int, scheduler: bool) -> None:
    """Run the web inbox (development server) with the timer scheduler in-process, for one machine."""
    from web.app import create_app

    if host not in ("0.0.0.0", "::"):  # links in notices and e-mails point here unless GOVFLOW_BASE_URL says
        os.environ.setdefault("GOVFLOW_BASE_URL", f"http://{host}:{port}")
    gov = Govflow()
    app = create_app(gov)
    timer_scheduler = gov.scheduler() if scheduler else None
    if timer_scheduler:
        timer_scheduler.start()
    click.echo(f"govflow is running at http://{host}:{port}/  (database: {mask_url(gov.config.database_url)})")
    password_file = gov.config.instance_dir / "demo-password"
    if password_file.exists():
        people = ", ".join(u["username"] for u in gov.users())
        click.echo(f"Demo logins: {people} — password: {password_file.read_text().strip()}")
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        if timer_scheduler:
            timer_scheduler.shutdown()


@govflow.command("scheduler")
@click.option("--sweep-seconds", default=15.0, show_default=True, help="How often to look for new timers.")
@click.option("--heartbeat-seconds", default=10.0, show_default=True,
              help="How often to tell readiness this scheduler is alive.")
@click.option("--metrics-port", default=None, type=int, envvar="GOVFLOW_SCHEDULER_METRICS_PORT",
              help="Serve this process's Prometheus instruments (command durations, timer lag) on this port.")
def scheduler_command(sweep_seconds: float, heartbeat_seconds: float, metrics_port: int | None) -> None:
    """Run only the timer scheduler (for a scaled-out deployment; run as many as you like on PostgreSQL). Logs
    are JSON lines on stderr."""
    import signal
    import threading

    from engine.observability import logs
    logs.configure()
    if metrics_port:
        from prometheus_client import start_http_server
        start_http_server(metrics_port)
    gov = Govflow()
    timer_scheduler = gov.scheduler(sweep_seconds=sweep_seconds, heartbeat_seconds=heartbeat_seconds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    timer_scheduler.start()
    click.echo(f"govflow scheduler running on {mask_url(gov.config.database_url)}; "
               f"next due: {timer_scheduler.next_due()}")
    stop.wait()
    timer_scheduler.shutdown()
    click.echo(f"Stopped after firing timers of {timer_scheduler.fired_count} instance(s).")


from cli import tokens as _tokens  # noqa: E402,F401 (govflow tokens …)
from cli import audit as _audit  # noqa: E402,F401  (govflow audit verify|anchor)
from cli import accounts as _accounts  # noqa: E402,F401 (govflow users password|deactivate|activate|sign-out)
from cli import webhooks as _webhooks  # noqa: E402,F401 (govflow webhooks …)
from cli import meetings as _meetings  # noqa: E402,F401 (govflow meetings …)
from cli import seats as _seats  # noqa: E402,F401 (govflow seats …)
from cli import operations  # noqa: E402,F401  (backup, restore, doctor)
from cli import task as _task  # noqa: E402,F401 (govflow task show|reassign|save-draft|discard-draft)
from cli import instances as _instances  # noqa: E402,F401 (govflow instances list|history|suspend|resume|…)
from cli import comments as _comments  # noqa: E402,F401 (govflow comments list|add)
from cli import attachments as _attachments  # noqa: E402,F401 (govflow attachments list|download|upload)
from cli import processes as _processes  # noqa: E402,F401 (govflow processes list|startable|show|publish)
from cli import notifications as _notifications  # noqa: E402,F401 (govflow notifications list|read)
from cli import register as _register  # noqa: E402,F401 (govflow register query|export)
from cli import logs as _logs  # noqa: E402,F401 (govflow logs decisions|actions|raid)

if __name__ == "__main__":
    govflow()
