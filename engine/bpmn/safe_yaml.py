"""YAML as govflow reads every file it loads (settings.yaml, roles.yaml, governance-groups.yaml, the demo files):
safe types only, and bounded before anything is built.

Refused, with the file, line and reason: anchors and aliases (``&name``, ``*name``: a few of them nested make a
1.6 KB file expand to gigabytes), more than MAX_NODES values, and nesting deeper than MAX_DEPTH. The refusal is a
``yaml.YAMLError`` with a ``problem_mark``, so callers report it as they report any YAML error.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionStartEvent, ScalarEvent

__all__ = ["MAX_DEPTH", "MAX_NODES", "UnsafeYamlError", "load_yaml", "read_yaml", "reason_and_line"]

#: values (scalars, lists and mappings) one file may hold
MAX_NODES = 100_000
#: lists and mappings nested in one another
MAX_DEPTH = 50


class UnsafeYamlError(yaml.MarkedYAMLError):
    """A YAML file was refused; ``str()`` reads "<file> line <n>: <reason>"."""

    def __init__(self, filename: str, mark: yaml.Mark, reason: str) -> None:
        super().__init__(problem=reason, problem_mark=mark)
        self.filename = filename
        self.line = mark.line + 1
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.filename} line {self.line}: {self.reason}"


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases and counting values and depth as the events arrive."""

    def __init__(self, stream: str | bytes, filename: str) -> None:
        super().__init__(stream)
        self.name = filename
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent) or getattr(event, "anchor", None) is not None:
            what = f"*{event.anchor}" if isinstance(event, AliasEvent) else f"&{event.anchor}"
            raise UnsafeYamlError(self.name, event.start_mark,
                                  f"anchors and aliases ({what}) are not allowed: write the values out")
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise UnsafeYamlError(self.name, event.start_mark, f"more than {MAX_NODES:,} values")
        if isinstance(event, ScalarEvent):
            return super().compose_node(parent, index)
        if isinstance(event, CollectionStartEvent):
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise UnsafeYamlError(self.name, event.start_mark,
                                      f"lists and mappings nested more than {MAX_DEPTH} deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(content: str | bytes, filename: str) -> Any:
    """The data of one YAML document (None when empty); raises UnsafeYamlError or another yaml.YAMLError."""
    loader = _BoundedLoader(content, filename)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: Path | str) -> Any:
    """The data of a YAML file, read as UTF-8 and named by its file name in errors."""
    path = Path(path)
    return load_yaml(path.read_text(encoding="utf-8"), path.name)


def reason_and_line(err: yaml.YAMLError) -> tuple[str, int | None]:
    """Why a YAML file was refused, said once (without PyYAML's "in <file>, line, column"), and its line."""
    if isinstance(err, UnsafeYamlError):
        return err.reason, err.line
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        reason = "; ".join(part for part in (err.context, err.problem) if part)
        return reason or "not valid YAML", mark.line + 1 if mark is not None else None
    return str(err), None
