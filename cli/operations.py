"""Operating a deployment: `govflow backup` and `restore` (SQLite; pg_dump/pg_restore for PostgreSQL) and
`govflow doctor` (configuration, database, migrations, scheduler heartbeat, outbox, SMTP)."""
from __future__ import annotations

import socket
from pathlib import Path

import click

from cli.commands import Context, _fail, command, govflow
from engine.observability.logs import mask_url
from engine.services.health import Check


@command(govflow)
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def backup(ctx: Context, target: Path) -> None:
    """Copy the SQLite database to TARGET while govflow keeps running (SQLite's online backup). On PostgreSQL,
    prints the pg_dump and pg_restore commands to use instead."""
    gov = ctx.govflow
    if not gov.db.is_sqlite:
        commands = gov.backups.postgres_commands(str(target))
        _fail(ctx, "This database is PostgreSQL: back it up with its own tools (password from PGPASSWORD or "
                   f"~/.pgpass):\n  {commands['backup']}\nand restore it with:\n  {commands['restore']}",
              {"error": "postgresql", "commands": commands})
    result = gov.backups.backup(target)
    ctx.emit(result.as_dict(), f"Backed up to {result.path} ({result.bytes} bytes, schema {result.revision}).")


@command(govflow)
@click.argument("source", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the current database without asking.")
def restore(ctx: Context, source: Path, yes: bool) -> None:
    """Replace the SQLite database with the backup SOURCE (stop the web and the schedulers first), then run
    `govflow init` to bring its schema up to this version."""
    gov = ctx.govflow
    if not gov.db.is_sqlite:
        commands = gov.backups.postgres_commands(str(source))
        _fail(ctx, f"This database is PostgreSQL: restore it with\n  {commands['restore']}",
              {"error": "postgresql", "commands": commands})
    if not yes:
        click.confirm(f"Replace {mask_url(gov.config.database_url)} with {source}?", abort=True, err=True)
    result = gov.backups.restore(source)
    ctx.emit(result.as_dict(), f"Restored {source} into {result.path} (schema {result.revision}); "
                               "run `govflow init` before starting govflow again.")


@command(govflow)
@click.option("--local-scheduler", is_flag=True,
              help="Check only that a scheduler on this host is beating (a scheduler container's health check).")
def doctor(ctx: Context, local_scheduler: bool) -> None:
    """Check the deployment: configuration, database, migrations, scheduler heartbeat, outbox, SMTP. Exits
    non-zero when a check fails."""
    gov = ctx.govflow
    health = gov.health
    database = health.check_database()
    if local_scheduler:
        checks = [database] + ([_local_scheduler(health)] if database.ok else [])
    else:
        checks = [health.check_config(gov.config), database]
        if database.ok:
            checks += [health.check_migrations(), health.check_schedulers(), health.check_outbox()]
        checks.append(health.check_smtp(gov.notifier.mailer))
    ok = all(c.ok for c in checks)
    payload = {"ok": ok, "database": mask_url(gov.config.database_url), "checks": [c.as_dict() for c in checks]}
    text = "\n".join([f"database  {payload['database']}"] +
                     [f"{'ok  ' if c.ok else 'FAIL'}  {c.name:<10} {c.detail}" for c in checks])
    if not ok:
        _fail(ctx, text, payload)
    ctx.emit(payload, text)


def _local_scheduler(health):
    host = socket.gethostname()
    mine = [s for s in health.schedulers() if s["host"] == host and s["fresh"]]
    return Check("local", bool(mine), f"{len(mine)} scheduler(s) beating on {host}")
