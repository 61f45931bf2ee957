"""The layers hold: every import-linter contract in pyproject.toml is kept (the layers, one door for the web and the
CLI, only the BPMN layer importing SpiffWorkflow), and web/ and cli/ hold no database session, table model or SQL of
their own (ARCHITECTURE.md, principles 2, 3, 7 and 8)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADAPTERS = ("web", "cli")
# what only the engine may hold: a database session, its table models, a session opened
INSIDE_THE_ENGINE = re.compile(r"Session|engine\.models|\.session\(")
SOURCE_SUFFIXES = {".py", ".html", ".js", ".css", ".txt", ".cfg", ".toml", ".yaml", ".json"}


def test_every_import_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    command = [str(lint)] if lint.exists() else [sys.executable, "-m", "importlinter.cli"]
    result = subprocess.run([*command, "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "BROKEN" not in report and " 0 broken" in report, report


def test_the_web_and_the_cli_hold_no_session_model_or_sql_of_their_own():
    found = []
    for adapter in ADAPTERS:
        for path in sorted((ROOT / adapter).rglob("*")):
            if not path.is_file() or path.suffix not in SOURCE_SUFFIXES or "vendor" in path.parts:
                continue
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if INSIDE_THE_ENGINE.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "\n".join(found)
