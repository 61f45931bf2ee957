"""`govflow register …`: the change-request register, filtered and sorted, and its CSV export (an export is a
disclosure: audited) — the API's GET /register and /register/export, for whoever may `manage`."""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import click

from cli.acting import Acting
from cli.commands import Context, command, govflow
from engine.governance import register as register_rules
from engine.governance.register import RegisterQuery

SORTS = ["started", "reference", "title", "state", "status", "updated", "ended", "process"]


@govflow.group("register")
def register_group() -> None:
    """The change-request register (management: `manage`)."""


def _filters(fn):
    """The register's filters and sort, as the API's query string has them."""
    for option in reversed([
        click.option("--as", "username", required=True, help="Whoever may manage (PMO, CCM, admins…)."),
        click.option("--process", default=None, help="One process (e.g. change_control)."),
        click.option("--state", default=None), click.option("--status", default=None),
        click.option("--group", default=None, help="The decision body."),
        click.option("--organisation", default=None, help="The raiser's organisation."),
        click.option("--constituency", default=None, help="The raiser's constituency."),
        click.option("--overdue", is_flag=True, help="Only those with an overdue task."),
        click.option("--text", default=None, help="Text in the number or title."),
        click.option("--sort", default="started", show_default=True, type=click.Choice(SORTS)),
        click.option("--dir", "direction", default="desc", show_default=True, type=click.Choice(["asc", "desc"])),
    ]):
        fn = option(fn)
    return fn


def _query(options: dict, page: int = 1, size: int = 25) -> RegisterQuery:
    return RegisterQuery(process_id=options["process"], state=options["state"], status=options["status"],
                         group=options["group"], organisation=options["organisation"],
                         constituency=options["constituency"], overdue=options["overdue"], text=options["text"],
                         sort=options["sort"], descending=options["direction"] == "desc", page=page, page_size=size)


@command(register_group, "query")
@_filters
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--size", default=25, show_default=True, type=click.IntRange(1, 200), help="Rows per page.")
def register_query(ctx: Context, username: str, page: int, size: int, **options) -> None:
    """The register, filtered and sorted, one page at a time."""
    Acting(ctx.govflow, username, "register query").needs("manage")
    rows, total = ctx.govflow.register.page(_query(options, page, size))
    ctx.emit({"items": rows, "total": total, "page": page, "size": size}, lambda: "\n".join(
        [f"{r['reference'] or '#' + str(r['id']):<8} {r['status']:<10} {r['state'] or '':<22} {r['title']}"
         f"  ({r['raiser']}{', ' + r['organisation'] if r['organisation'] else ''})" for r in rows]
        + [f"{total} row(s); page {page}"]) if rows else "No rows match.")


@command(register_group, "export")
@_filters
@click.option("--output", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True),
              help="The CSV file to write (- for standard output); an existing file is not replaced.")
def register_export(ctx: Context, username: str, output: str, **options) -> None:
    """Every matching row as CSV, with the register's headings (audited as an export)."""
    Acting(ctx.govflow, username, "register export").needs("manage")
    if output != "-" and Path(output).exists():
        raise click.BadParameter(f"'{output}' exists: name another file", param_hint="--output")
    filters = {k: v for k, v in options.items() if v not in (None, "", False)}
    found = ctx.govflow.register.export(_query(options), username, "csv", filters)
    with (open(output, "w", newline="", encoding="utf-8") if output != "-" else _stdout()) as stream:
        writer = csv.writer(stream)
        writer.writerow([h for _k, h in register_rules.COLUMNS])
        count = 0
        for row in found:
            writer.writerow([register_rules.csv_cell(row[k]) for k, _h in register_rules.COLUMNS])
            count += 1
    if output != "-":
        ctx.emit({"rows": count, "path": output}, f"{count} row(s) written to {output}.")


class _stdout:
    """Standard output as a context manager that is not closed."""

    def __enter__(self):
        return click.get_text_stream("stdout")

    def __exit__(self, *exc):
        sys.stdout.flush()
        return False
