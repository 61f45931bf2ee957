"""What a library draft may hold: its files' kinds and paths, each file checked as an upload is (hardened
parse, JSON, schema, YAML), BPMN and DMN in their canonical text."""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime

import yaml

from engine.bpmn.definitions import BPMN_NS, Problem, SourceFile
from engine.bpmn.forms import schema_problem
from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml
from engine.bpmn.safe_yaml import load_yaml, reason_and_line
from engine.bpmn.xml_format import normalise
from engine.errors import GovflowError

FORMS_PREFIX = "forms/"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class FileRefused(GovflowError):
    """A file could not go into a draft; `problems` says where and why (line and reason for XML)."""

    status = 422

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class Draft:
    process_id: str
    base_version: int | None
    base_version_id: int | None
    files: dict[str, bytes]
    revision: int
    updated_by: str
    updated_at: datetime

    @property
    def bpmn_path(self) -> str | None:
        return next((p for p in sorted(self.files) if p.endswith(".bpmn")), None)

    def paths(self, kind: str) -> list[str]:
        return sorted(p for p in self.files if kind_of_path(p) == kind)


def kind_of_path(path: str) -> str | None:
    if path.startswith(FORMS_PREFIX) and path.endswith(".json"):
        return "form"
    if path.endswith(".bpmn"):
        return "bpmn"
    if path.endswith(".dmn"):
        return "dmn"
    if posixpath.basename(path) == "settings.yaml":
        return "settings"
    return None


def sources_of(files: dict[str, bytes]) -> list[SourceFile]:
    """A draft's or version's files as the deployment reads them (forms relative to forms/)."""
    sources = []
    for path, content in sorted(files.items()):
        kind = kind_of_path(path)
        if kind == "form":
            sources.append(SourceFile(path[len(FORMS_PREFIX):], "form", content))
        elif kind:
            sources.append(SourceFile(path, kind, content))
    return sources



class DraftFiles:
    """The checks a file passes before it goes into a draft."""

    @staticmethod
    def check_path(process_id: str, path: str) -> str:
        """A draft path: `<name>.bpmn`, `<name>.dmn`, `settings.yaml` or `forms/<folder>/<name>.schema.json`."""
        path = (path or "").strip().replace("\\", "/")
        parts = path.split("/")
        if not all(_SAFE_NAME.match(p) for p in parts) or ".." in parts:
            raise FileRefused([Problem(path or "(file)", "use only letters, digits, '-', '_' and '.' in names")])
        kind = kind_of_path(path)
        if kind is None or (kind != "form" and len(parts) != 1) or (kind == "form" and len(parts) != 3):
            raise FileRefused([Problem(path, "a draft holds <name>.bpmn, <name>.dmn, settings.yaml and "
                                             "forms/<folder>/<name>.schema.json files")])
        return path

    @staticmethod
    def path_for_upload(process_id: str, filename: str) -> str:
        name = posixpath.basename((filename or "").replace("\\", "/"))
        if name.endswith(".json"):
            return f"{FORMS_PREFIX}{process_id}/{name}"
        return name

    def check_file(self, path: str, content: bytes) -> None:
        """Refuse what cannot be a file of its kind: XML with its line and reason, JSON, schema or YAML errors."""
        kind = kind_of_path(path)
        if kind in ("bpmn", "dmn"):
            try:
                root = parse_xml(content, path, max_bytes=self.gov.config.max_upload_bytes).getroot()
            except UnsafeXmlError as err:
                raise FileRefused([Problem(path, err.reason, line=err.line)])
            local = root.tag.split("}")[-1]
            if local != "definitions":
                raise FileRefused([Problem(path, f"the root element is <{local}>, not <definitions>",
                                           line=root.sourceline)])
            if kind == "bpmn" and root.tag != f"{{{BPMN_NS}}}definitions":
                raise FileRefused([Problem(path, "not a BPMN 2.0 file (wrong namespace)", line=root.sourceline)])
        elif kind == "form":
            try:
                schema = json.loads(content)
            except ValueError as err:
                raise FileRefused([Problem(path, f"not valid JSON: {err}", line=getattr(err, "lineno", None))])
            reason = schema_problem(schema)
            if reason:
                raise FileRefused([Problem(path, f"not a usable form: {reason}")])
        elif kind == "settings":
            try:
                load_yaml(content, path)
            except yaml.YAMLError as err:
                reason, line = reason_and_line(err)
                raise FileRefused([Problem(path, f"not valid YAML: {reason}", line=line)])

    def canonical(self, path: str, content: bytes) -> bytes:
        """A BPMN or DMN file in its canonical text (engine.bpmn.xml_format), other files as they are."""
        if kind_of_path(path) in ("bpmn", "dmn"):
            limit = self.gov.config.max_upload_bytes
            text = normalise(content, path, max_bytes=limit)
            if len(text) > limit:  # indentation can push a file that just fitted over the limit
                raise FileRefused([Problem(path, f"the file is too large once laid out ({len(text):,} bytes; the "
                                                 f"limit is {limit:,} bytes)")])
            return text
        return content

    @staticmethod
    def _check_process_id(process_id: str, path: str, content: bytes) -> None:
        root = parse_xml(content, path).getroot()
        ids = [p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")]
        if process_id not in ids:
            raise FileRefused([Problem(path, f"this diagram holds process {', '.join(ids) or 'none'}, "
                                             f"not '{process_id}'")])

    def _canonical_or_stored(self, path: str, content: bytes) -> bytes:
        try:
            return self.canonical(path, content)
        except UnsafeXmlError:
            return content

