"""`govflow processes …`: the process library — the deployed processes, those I may start, one process's
versions, and publishing its draft — the API's /processes operations, under the same policy (reading needs
`read_library`, publishing `publish`; `govflow validate` and `deploy` check and deploy files)."""
from __future__ import annotations

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow
from engine.errors import FormInvalid


@govflow.group("processes")
def processes_group() -> None:
    """Deployed processes and their versions."""


@command(processes_group, "list")
@click.option("--as", "username", required=True)
def processes_list(ctx: Context, username: str) -> None:
    """Every deployed process: latest version, how many versions, instances running, any draft."""
    Acting(ctx.govflow, username, "processes list").needs("read_library")
    rows = ctx.govflow.library.catalogue()
    ctx.emit(rows, lambda: "\n".join(
        f"{p['process_id']:<24} {p['name']:<32} version {p['latest']} of {p['versions']}, {p['running']} running"
        + (f"  (draft by {p['draft']['updated_by']})" if p["draft"] else "") for p in rows) or "No processes.")


@command(processes_group, "startable")
@click.option("--as", "username", required=True)
def processes_startable(ctx: Context, username: str) -> None:
    """The processes I may start, each with its start form's JSON Schema (with --json)."""
    gov = ctx.govflow
    Acting(gov, username, "processes startable")
    rows = [{"process_id": process_id, "name": name, "form": gov.forms.start_form(process_id, username).schema}
            for process_id, name in gov.forms.startable(username)]
    ctx.emit(rows, lambda: "\n".join(f"{p['process_id']:<24} {p['name']}" for p in rows)
             or "You may start no process.")


@command(processes_group, "show")
@click.argument("process_id")
@click.option("--as", "username", required=True)
def processes_show(ctx: Context, process_id: str, username: str) -> None:
    """A process's versions (who published, when, the note, instances running and finished) and its draft."""
    Acting(ctx.govflow, username, "processes show").needs("read_library")
    found = ctx.govflow.library.process(process_id)

    def text() -> str:
        lines = [f"{found['process_id']} '{found['name']}'"]
        for v in found["versions"]:
            lines.append(f"  version {v['version']}  {v['published_at'].isoformat()}  by {v['published_by']}  "
                         f"{v['running']} running, {v['finished']} finished  {v['note'] or ''}")
        draft = found["draft"]
        if draft:
            lines.append(f"  draft from version {draft['base_version']} by {draft['updated_by']}"
                         + (" (a newer version was published since)" if draft["stale"] else ""))
        return "\n".join(lines)

    ctx.emit(found, text)


@command(processes_group, "publish", timed=True)
@click.argument("process_id")
@click.option("--as", "username", required=True, help="Whoever may publish (analysts).")
@click.option("--note", required=True, help="What changed, for the version history.")
@click.option("--allow-newer-base", is_flag=True,
              help="Publish even though a newer version was published after the draft was started.")
def processes_publish(ctx: Context, process_id: str, username: str, note: str, allow_newer_base: bool) -> None:
    """Publish the process's draft (edited in the library) as its next version."""
    gov = ctx.govflow
    Acting(gov, username, "processes publish").needs("publish")
    problems = gov.library.validate_draft(process_id)
    if problems:
        raise FormInvalid({f"files.{p.file}" + (f"#{p.element_id}" if p.element_id else ""): p.reason
                           for p in problems})
    published = gov.library.publish(process_id, username, note, allow_newer_base)
    body = published.as_dict() if hasattr(published, "as_dict") else dict(published.__dict__)
    ctx.emit(body, f"{process_id}: version {body['version']} published.")
