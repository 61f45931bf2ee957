"""BPMN and DMN files as files: the decisions DMN files define, and the one canonical text govflow writes BPMN and DMN
in (`govflow format`, the library's saves), read with the hardened parser."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml
from engine.bpmn.xml_format import XML_KINDS, normalise


def decision_ids(files: Iterable[tuple[str, bytes]]) -> list[str]:
    """The ids of the decisions the .dmn files among (path, bytes) define; a file that does not parse is skipped."""
    found: set[str] = set()
    for path, content in files:
        if not path.endswith(".dmn"):
            continue
        try:
            root = parse_xml(content, path).getroot()
        except Exception:
            continue
        found.update(d.get("id") for d in root.iter("{*}decision") if d.get("id"))
    return sorted(found)


@dataclass
class FormatReport:
    """What `format_files` did: how many files it read, those not in canonical text (changed, unless only
    checking), and those the hardened parser refused (path → why)."""

    files: int = 0
    changed: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)


def format_files(paths: Iterable[Path | str], check: bool = False) -> FormatReport:
    """Write the BPMN/DMN files among `paths` (files, or folders searched) in their canonical text; with `check`,
    change nothing and only report."""
    files = sorted({f for p in map(Path, paths) for f in ([p] if p.is_file() else p.rglob("*"))
                    if f.is_file() and f.suffix in XML_KINDS})
    report = FormatReport(len(files))
    for file in files:
        raw = file.read_bytes()
        try:
            text = normalise(raw, file.name)
        except UnsafeXmlError as err:
            report.refused[str(file)] = str(err)
            continue
        if text != raw:
            report.changed.append(str(file))
            if not check:
                file.write_bytes(text)
    return report
