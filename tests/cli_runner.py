"""The `govflow` command line run in-process (click's CliRunner) on a test's database."""
from __future__ import annotations

from click.testing import CliRunner, Result

from cli.commands import govflow


def cli_on(database_url: str, instance_dir, monkeypatch, **environment: str | None):
    """`invoke(*args, ok=True)` runs `govflow *args` with GOVFLOW_DATABASE_URL, GOVFLOW_INSTANCE_DIR and the given
    GOVFLOW_* settings (None: unset); `ok` True: it must succeed, False: it must fail, None: either."""
    monkeypatch.setenv("GOVFLOW_DATABASE_URL", database_url)
    monkeypatch.setenv("GOVFLOW_INSTANCE_DIR", str(instance_dir))
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    runner = CliRunner()

    def invoke(*args, ok: bool | None = True) -> Result:
        result = runner.invoke(govflow, [str(a) for a in args], catch_exceptions=False)
        if ok is not None:
            assert (result.exit_code == 0) == ok, result.output + (result.stderr if result.stderr_bytes else "")
        return result

    invoke.url = database_url
    return invoke
