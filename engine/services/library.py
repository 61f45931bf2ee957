"""The process library: every process and its versions, the analysts' drafts, validate, simulate, publish, diff and
moving running instances to a new version.

A draft holds one process's files (its diagram, the decision tables and forms it uses, settings) as a version's
`file_hashes` names them; the bytes live in `blob` like deployed files. Publishing runs the deployment itself
(`Repository.deploy`): the same hardened parser and lint as `govflow deploy`, a new version with a note, new
instances use it, running instances stay on theirs until an analyst moves them (checked, dry run first, audited).
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import yaml
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.store import audit
from engine.bpmn import migration as instance_migration
from engine.services import model_files, version_archive
from engine.clock import Clock
from engine.bpmn.definitions import (BPMN_NS, DeploymentError, Problem, SourceFile, compile_process, load_bundle,
                          roles_by_lane)
from engine.bpmn.diff import VersionDiff, diff_files
from engine.bpmn.execution import Execution
from engine.bpmn.simulation import Simulation, SimulationEvent, simulate
from engine.services import instance_rows
from engine.services.commands import INSTANCE_ROW_LOCK
from engine.errors import Conflict, Forbidden, GovflowError, NotFound
from engine.bpmn.forms import schema_problem
from engine.services.identity import require_user, role_pairs
from engine.governance.policy import EDIT_LIBRARY, MIGRATE, PUBLISH, policy_of
from engine.bpmn.lint import lint
from engine.store.models import (Blob, Deployment, HumanTask, Instance, MessageWait, ProcessDraft, ProcessVersion)
from engine.bpmn.safe_xml import UnsafeXmlError, parse_xml
from engine.services.diagram_functions import script_functions
from engine.bpmn.state import move_back_window
from engine.bpmn.xml_format import normalise

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


class Library:
    """The RepositoryService's editing side, over one Govflow (its database, repository and clock)."""

    def __init__(self, gov):
        self.gov = gov
        self.db = gov.db
        self.repository = gov.repository
        self.clock: Clock = gov.clock

    # --- reading ---------------------------------------------------------------------------------------------

    def catalogue(self) -> list[dict]:
        """Every deployed process: its latest version, how many versions, instances running, and any draft."""
        with self.db.read() as session:
            versions = self.repository.versions(session)
            drafts = {d.process_id: d for d in session.scalars(select(ProcessDraft))}
            found: dict[str, dict] = {}
            for row, running in versions:
                entry = found.setdefault(row.process_id, {"process_id": row.process_id, "versions": 0,
                                                          "running": 0})
                entry.update(name=row.name, latest=row.version, latest_at=row.created_at)
                entry["versions"] += 1
                entry["running"] += running
            for entry in found.values():
                draft = drafts.get(entry["process_id"])
                entry["draft"] = ({"updated_by": draft.updated_by, "updated_at": draft.updated_at}
                                  if draft else None)
            return sorted(found.values(), key=lambda e: e["name"].lower())

    def process(self, process_id: str) -> dict:
        """A process's versions (who published, when, the note, instances running and finished) and draft."""
        with self.db.read() as session:
            rows = session.execute(select(ProcessVersion, Deployment).join(
                Deployment, Deployment.id == ProcessVersion.deployment_id).where(
                ProcessVersion.process_id == process_id).order_by(ProcessVersion.version.desc())).all()
            if not rows:
                raise NotFound(f"There is no process '{process_id}'")
            counts: dict[tuple[int, str], int] = {
                (vid, status): n for vid, status, n in session.execute(
                    select(Instance.process_version_id, Instance.status, func.count())
                    .where(Instance.process_id == process_id)
                    .group_by(Instance.process_version_id, Instance.status))}
            versions = [{
                "id": v.id, "version": v.version, "name": v.name, "published_at": v.created_at,
                "published_by": d.deployed_by, "note": d.note, "running": counts.get((v.id, "running"), 0),
                "finished": sum(n for (vid, status), n in counts.items() if vid == v.id and status != "running"),
                "files": sorted(v.file_hashes), "bpmn_path": v.bpmn_path,
            } for v, d in rows]
            draft = self._draft_row(session, process_id)
            draft_info = None
            if draft is not None:
                base = session.get(ProcessVersion, draft.base_version_id) if draft.base_version_id else None
                draft_info = {"base_version": base.version if base else None, "updated_by": draft.updated_by,
                              "updated_at": draft.updated_at, "files": sorted(draft.files),
                              "revision": draft.revision,
                              "stale": bool(base and base.version != versions[0]["version"])}
            return {"process_id": process_id, "name": versions[0]["name"], "versions": versions,
                    "latest": versions[0], "draft": draft_info}

    def version(self, version_id: int) -> ProcessVersion:
        with self.db.read() as session:
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise NotFound(f"There is no process version {version_id}")
            return row

    def version_files(self, version_id: int) -> dict[str, bytes]:
        with self.db.read() as session:
            return self.repository.files_of(session, version_id)

    def running_instances(self, process_id: str) -> list[dict]:
        """Running instances with their version and what each waits in (open tasks, timers, messages)."""
        with self.db.read() as session:
            rows = session.execute(select(Instance, ProcessVersion.version).join(
                ProcessVersion, ProcessVersion.id == Instance.process_version_id).where(
                Instance.process_id == process_id, Instance.status == "running").order_by(Instance.id)).all()
            waiting: dict[int, list[str]] = {}
            for instance_id, element in session.execute(select(HumanTask.instance_id, HumanTask.element_id).where(
                    HumanTask.process_id == process_id, HumanTask.status == "ready")):
                waiting.setdefault(instance_id, []).append(element)
            for instance_id, element in session.execute(select(MessageWait.instance_id, MessageWait.element_id)
                                                        .join(Instance, Instance.id == MessageWait.instance_id)
                                                        .where(Instance.process_id == process_id)):
                waiting.setdefault(instance_id, []).append(element)
            return [{"id": i.id, "reference": i.reference, "title": i.title, "state": i.state, "version": v,
                     "version_id": i.process_version_id, "started_at": i.started_at,
                     "waiting_in": sorted(set(waiting.get(i.id, [])))} for i, v in rows]

    # --- drafts ----------------------------------------------------------------------------------------------

    @staticmethod
    def _draft_row(session: Session, process_id: str) -> ProcessDraft | None:
        return session.scalars(select(ProcessDraft).where(ProcessDraft.process_id == process_id)).first()

    @staticmethod
    def _require(session: Session, username: str, capability: str = EDIT_LIBRARY,
                 what: str = "edit processes") -> None:
        """Refuse someone whose roles may not do this (roles.yaml: edit_library, publish, migrate)."""
        rules = policy_of(session)
        if not rules.allows(require_user(session, username), capability):
            raise Forbidden(f"Only {rules.names_with(capability)} can {what}")

    def draft(self, process_id: str) -> Draft | None:
        with self.db.read() as session:
            row = self._draft_row(session, process_id)
            return self._as_draft(session, row) if row is not None else None

    @staticmethod
    def _as_draft(session: Session, row: ProcessDraft) -> Draft:
        blobs = {b.sha256: b.content for b in session.scalars(
            select(Blob).where(Blob.sha256.in_(list(row.files.values()))))}
        base = session.get(ProcessVersion, row.base_version_id) if row.base_version_id else None
        return Draft(row.process_id, base.version if base else None, row.base_version_id,
                     {p: blobs[s] for p, s in row.files.items()}, row.revision, row.updated_by, row.updated_at)

    def open_draft(self, process_id: str, username: str) -> Draft:
        """The process's draft, started from its latest version when there is none."""
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username)
            row = self._draft_row(session, process_id)
            if row is None:
                latest = self.repository.latest(session, process_id)
                row = ProcessDraft(process_id=process_id, base_version_id=latest.id, files=dict(latest.file_hashes),
                                   created_at=now, created_by=username, updated_at=now, updated_by=username)
                session.add(row)
                session.flush()
                audit.record(session, now, username, "draft.opened", process_id=process_id,
                             base_version=latest.version)
            return self._as_draft(session, row)

    def save_file(self, process_id: str, path: str, content: bytes, username: str,
                  revision: int | None = None) -> Draft:
        """Put one file into the draft (parsed with the hardened parser first); `revision` guards lost updates."""
        path = self.check_path(process_id, path)
        self.check_file(path, content)
        content = self.canonical(path, content)
        now = self.clock.now()
        try:
            with self.db.write() as session:
                self._require(session, username)
                row = self._draft_row(session, process_id)
                if row is None:
                    raise NotFound(f"There is no draft of '{process_id}': open one first")
                if revision is not None and revision != row.revision:
                    raise Conflict(f"{row.updated_by} saved this draft after you opened it; reload it and make "
                                   "your change again")
                if path.endswith(".bpmn"):
                    self._check_process_id(process_id, path, content)
                    files = {p: s for p, s in row.files.items() if not p.endswith(".bpmn") or p == path}
                else:
                    files = dict(row.files)
                sha = SourceFile(path, kind_of_path(path) or "", content).sha256
                if session.get(Blob, sha) is None:
                    session.add(Blob(sha256=sha, content=content))
                changed = files.get(path) != sha
                files[path] = sha
                if changed or files != row.files:
                    row.files = files
                    row.updated_at, row.updated_by = now, username
                    audit.record(session, now, username, "draft.file_saved", process_id=process_id, path=path,
                                 sha256=sha)
                session.flush()
                return self._as_draft(session, row)
        except StaleDataError:
            raise Conflict("Someone else saved this draft at the same moment; reload it and try again")

    def remove_file(self, process_id: str, path: str, username: str) -> None:
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username)
            row = self._draft_row(session, process_id)
            if row is None or path not in row.files:
                raise NotFound(f"The draft has no file {path}")
            if path.endswith(".bpmn"):
                raise Conflict("The diagram cannot be removed from its own process")
            row.files = {p: s for p, s in row.files.items() if p != path}
            row.updated_at, row.updated_by = now, username
            audit.record(session, now, username, "draft.file_removed", process_id=process_id, path=path)

    def discard_draft(self, process_id: str, username: str) -> None:
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username)
            row = self._draft_row(session, process_id)
            if row is not None:
                session.delete(row)
                audit.record(session, now, username, "draft.discarded", process_id=process_id)

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
            import yaml
            try:
                yaml.safe_load(content)
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                raise FileRefused([Problem(path, f"not valid YAML: {err}",
                                           line=mark.line + 1 if mark is not None else None)])

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

    # --- a version as one zip --------------------------------------------------------------------------------

    def version_archive(self, version_id: int) -> tuple[str, bytes]:
        """A version's files (BPMN and DMN in their canonical text) and a manifest, as a zip: (file name, bytes)."""
        with self.db.read() as session:
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise NotFound(f"There is no process version {version_id}")
            deployment = session.get(Deployment, row.deployment_id)
            files = {p: self._canonical_or_stored(p, c) for p, c in self.repository.files_of(session, row.id).items()}
            manifest = {"process_id": row.process_id, "name": row.name, "version": row.version,
                        "published_by": deployment.deployed_by if deployment else None,
                        "published_at": row.created_at.isoformat(), "note": deployment.note if deployment else None}
            return f"{row.process_id}-v{row.version}.zip", version_archive.build(files, manifest)

    def _canonical_or_stored(self, path: str, content: bytes) -> bytes:
        try:
            return self.canonical(path, content)
        except UnsafeXmlError:
            return content

    def upload_archive(self, process_id: str, data: bytes, username: str) -> Draft:
        """Make the draft exactly the zip's files (a version downloaded as a zip, perhaps edited): every file checked
        as an upload is, the diagram must hold this process; all or nothing. Opens a draft when there is none."""
        try:
            archive = version_archive.read(data, max_bytes=self.gov.config.max_upload_bytes)
        except version_archive.ArchiveRefused as err:
            raise FileRefused([Problem("(zip)", str(err))])
        if archive.manifest and archive.manifest.get("process_id") not in (None, process_id):
            raise FileRefused([Problem(version_archive.MANIFEST, f"this zip holds process "
                                                                 f"'{archive.manifest['process_id']}', not "
                                                                 f"'{process_id}'")])
        files: dict[str, bytes] = {}
        problems: list[Problem] = []
        for path, content in sorted(archive.files.items()):
            try:
                self.check_path(process_id, path)
                self.check_file(path, content)
                if path.endswith(".bpmn"):
                    self._check_process_id(process_id, path, content)
                files[path] = self.canonical(path, content)
            except FileRefused as err:
                problems.extend(err.problems)
        diagrams = [p for p in files if p.endswith(".bpmn")]
        if not problems and len(diagrams) != 1:
            problems.append(Problem("(zip)", f"a process's zip holds one .bpmn diagram, not {len(diagrams)}"))
        if problems:
            raise FileRefused(problems)
        self.open_draft(process_id, username)
        now = self.clock.now()
        try:
            with self.db.write() as session:
                self._require(session, username)
                row = self._draft_row(session, process_id)
                hashes = {}
                for path, content in files.items():
                    sha = SourceFile(path, kind_of_path(path) or "", content).sha256
                    if session.get(Blob, sha) is None:
                        session.add(Blob(sha256=sha, content=content))
                    hashes[path] = sha
                if hashes != row.files:
                    row.files = hashes
                    row.updated_at, row.updated_by = now, username
                audit.record(session, now, username, "draft.archive_uploaded", process_id=process_id,
                             files=hashes, from_version=(archive.manifest or {}).get("version"))
                session.flush()
                return self._as_draft(session, row)
        except StaleDataError:
            raise Conflict("Someone else saved this draft at the same moment; reload it and try again")

    # --- validate, simulate, publish --------------------------------------------------------------------------

    def validate(self, files: dict[str, bytes]) -> list[Problem]:
        """The deployment's checks on a set of files: hardened parse, XSD, Spiff parser and the lint."""
        sources = sources_of(files)
        if not any(s.kind == "bpmn" for s in sources):
            return [Problem("(draft)", "the draft has no .bpmn file")]
        try:
            bundle = load_bundle(sources, max_bytes=self.gov.config.max_upload_bytes)
        except DeploymentError as err:
            return err.problems
        with self.db.read() as session:
            lanes = roles_by_lane(role_pairs(session))
        problems = lint(bundle, lanes)
        if not problems:
            for process_id in bundle.process_ids():
                try:
                    compile_process(bundle, process_id, lanes)
                except DeploymentError as err:
                    problems.extend(err.problems)
        return problems

    def validate_draft(self, process_id: str) -> list[Problem]:
        draft = self.draft(process_id)
        if draft is None:
            raise NotFound(f"There is no draft of '{process_id}'")
        return self.validate(draft.files)

    def simulate(self, process_id: str, start_data: dict | None = None,
                 answers: dict[str, dict] | None = None, events: list[SimulationEvent] | None = None,
                 max_steps: int = 200) -> Simulation:
        """Run the draft in memory with sample data (engine/bpmn/simulation.py): nothing is stored; scripts run in
        the sandbox as in production, with made-up references and no totals."""
        draft = self.draft(process_id)
        if draft is None:
            raise NotFound(f"There is no draft of '{process_id}'")
        problems = self.validate(draft.files)
        if problems:
            return Simulation(error=f"the draft has {len(problems)} problem(s): fix them before simulating")
        bundle = load_bundle(sources_of(draft.files))
        with self.db.read() as session:
            lanes = roles_by_lane(role_pairs(session))
        compiled = compile_process(bundle, process_id, lanes)
        clock = Clock(self.clock.now())
        return simulate(compiled, _simulation_functions(compiled.settings, clock, process_id), clock,
                        start_data or {}, answers or {}, events or [], max_steps, self.gov.config.script_time_limit)

    def simulation_catalogue(self, process_id: str) -> dict[str, list]:
        """What a simulation step can name in the draft: the messages its diagram catches and its timer events."""
        draft = self.draft(process_id)
        if draft is None or draft.bpmn_path is None:
            return {"messages": [], "timers": []}
        try:
            root = parse_xml(draft.files[draft.bpmn_path], draft.bpmn_path).getroot()
        except UnsafeXmlError:
            return {"messages": [], "timers": []}
        b = f"{{{BPMN_NS}}}"
        names = {m.get("id"): m.get("name") or m.get("id") for m in root.iter(b + "message")}
        caught = [names.get(ref, ref) for node in root.iter(b + "receiveTask", b + "messageEventDefinition")
                  if (ref := node.get("messageRef")) and (node.tag == b + "receiveTask" or etree.QName(
                      node.getparent()).localname in ("startEvent", "intermediateCatchEvent", "boundaryEvent"))]
        timers = [{"element_id": d.getparent().get("id"), "name": d.getparent().get("name") or ""}
                  for d in root.iter(b + "timerEventDefinition") if d.getparent().get("id")]
        return {"messages": sorted(set(caught)), "timers": timers}

    def publish(self, process_id: str, username: str, note: str, allow_newer_base: bool = False):
        """Deploy the draft as the process's next version (whoever may publish: analysts); the draft is then
        closed."""
        note = (note or "").strip()
        if not note:
            raise GovflowError("Say what changed: a note is needed to publish")
        now = self.clock.now()
        with self.db.write() as session:
            self._require(session, username, PUBLISH, "publish processes")
            row = self._draft_row(session, process_id)
            if row is None:
                raise NotFound(f"There is no draft of '{process_id}' to publish")
            latest = self.repository.latest(session, process_id)
            if row.base_version_id != latest.id and not allow_newer_base:
                raise Conflict(f"Version {latest.version} was published after this draft was started: compare "
                               "them, then publish again confirming that the draft replaces it")
            draft = self._as_draft(session, row)
            result = self.repository.deploy(session, sources_of(draft.files), username, now, note)
            mine = next((p for p in result.processes if p.process_id == process_id), None)
            if mine is None or not mine.created:
                raise Conflict("The draft is the same as the latest version: there is nothing to publish")
            session.delete(row)
            audit.record(session, now, username, "process.published", process_id=process_id,
                         version=mine.version, note=note)
            return mine

    # --- what the library's pages show ------------------------------------------------------------------------

    def version_summary(self, version_id: int) -> dict:
        """A process version as the pages name it: id, process id, name, version number, when published."""
        with self.db.read() as session:
            row = session.get(ProcessVersion, version_id)
            if row is None:
                raise NotFound(f"There is no process version {version_id}")
            return {"id": row.id, "process_id": row.process_id, "name": row.name, "version": row.version,
                    "bpmn_path": row.bpmn_path, "created_at": row.created_at}

    def role_names(self) -> list[str]:
        """The roles' names: the lanes a diagram may have (the diagram editor offers them)."""
        with self.db.read() as session:
            return [name for _, name in role_pairs(session)]

    @staticmethod
    def decision_ids(files: dict[str, bytes]) -> list[str]:
        """The decisions the DMN files among `files` define (a file that does not parse is skipped)."""
        return model_files.decision_ids(files.items())

    @staticmethod
    def settings_in(files: dict[str, bytes]) -> dict:
        """The settings.yaml among a draft's or version's files (the attachment limits its forms use); {} when it
        has none or it does not read as a mapping."""
        content = next((c for p, c in files.items() if kind_of_path(p) == "settings"), None)
        try:
            settings = yaml.safe_load(content) if content else {}
        except yaml.YAMLError:
            return {}
        return settings if isinstance(settings, dict) else {}

    def file_as_sent(self, path: str, content: bytes) -> bytes:
        """A file going out: BPMN and DMN in their canonical text (a stored file the parser now refuses, as
        stored), other files as they are."""
        return self._canonical_or_stored(path, content)

    @staticmethod
    def diff_files(before: dict[str, bytes], after: dict[str, bytes]) -> VersionDiff:
        """What changed between two sets of files (diagrams and decision tables, element by element)."""
        return diff_files(before, after)

    # --- diff ------------------------------------------------------------------------------------------------

    def diff_versions(self, from_version_id: int, to_version_id: int) -> VersionDiff:
        with self.db.read() as session:
            return diff_files(self.repository.files_of(session, from_version_id),
                              self.repository.files_of(session, to_version_id))

    def diff_draft(self, process_id: str) -> VersionDiff:
        draft = self.draft(process_id)
        if draft is None:
            raise NotFound(f"There is no draft of '{process_id}'")
        with self.db.read() as session:
            base = draft.base_version_id or self.repository.latest(session, process_id).id
            return diff_files(self.repository.files_of(session, base), draft.files)

    # --- moving running instances ----------------------------------------------------------------------------

    def migrate(self, instance_ids: list[int], to_version_id: int, username: str,
                dry_run: bool = True) -> list[instance_migration.MigrationCheck]:
        """Check (dry run) or move each instance to the target version; every outcome is audited. A real run
        moves only the instances that pass, each in its own transaction, and reports the others' reasons."""
        reports = []
        with self.db.read() as session:
            self._require(session, username, MIGRATE, "move running instances to another version")
        for instance_id in instance_ids:
            try:
                reports.append(self._migrate_one(instance_id, to_version_id, username, dry_run))
            except StaleDataError:
                reports.append(instance_migration.MigrationCheck(
                    instance_id, None, None, None,
                    reasons=["it changed while it was being moved (someone acted on it): try again"]))
        return reports

    def _migrate_one(self, instance_id: int, to_version_id: int, username: str, dry_run: bool):
        now = self.clock.now()
        with self.db.write() as session:
            instance = session.get(Instance, instance_id, with_for_update=INSTANCE_ROW_LOCK if not self.db.is_sqlite else False)
            target = session.get(ProcessVersion, to_version_id)
            if instance is None:
                raise NotFound(f"There is no instance {instance_id}")
            if target is None:
                raise NotFound(f"There is no process version {to_version_id}")
            current = session.get(ProcessVersion, instance.process_version_id)
            report = instance_migration.MigrationCheck(instance.id, instance.reference, current.version,
                                                       target.version)
            if target.process_id != instance.process_id:
                report.reasons.append(f"version {target.version} belongs to '{target.process_id}', not "
                                      f"'{instance.process_id}'")
            elif target.id == current.id:
                report.reasons.append(f"it already runs on version {target.version}")
            if instance.status != "running":
                report.reasons.append(f"it is {instance.status}")
            if not report.reasons:
                old = self.repository.compiled(session, current.id)
                new = self.repository.compiled(session, target.id)
                execution = Execution.restore(instance.workflow_state, old, self._functions(session, old, now,
                                                                                            instance.id), now)
                report.active_elements, reasons, report.changed_elements = instance_migration.plan(
                    execution, new, target.version)
                report.reasons.extend(reasons)
                if not report.reasons:
                    try:
                        moved = instance_migration.move(execution, new, self._functions(session, new, now,
                                                                                        instance.id),
                                                        self.gov.config.script_time_limit, target.version)
                    except instance_migration.MigrationRefused as err:
                        report.reasons.extend(err.reasons)
            action = "instance.migration_checked" if dry_run else (
                "instance.migrated" if report.ok else "instance.migration_refused")
            if not dry_run and report.ok:
                instance.workflow_state = moved.dump(move_back_window(new.settings))
                instance.process_version_id = target.id
                instance.updated_at = now
                instance_rows.refresh_for_version(session, instance, new)
            audit.record(session, now, username, action, instance_id=instance.id, from_version=current.version,
                         to_version=target.version, ok=report.ok, reasons=report.reasons,
                         active_elements=report.active_elements)
            return report

    @staticmethod
    def _functions(session: Session, compiled, now: datetime, instance_id: int):
        return script_functions(session, Clock(now), compiled.settings, compiled.process_id, instance_id=instance_id)


def _simulation_functions(settings: dict, clock: Clock, process_id: str) -> dict[str, Callable]:
    """govflow's script functions on the draft's settings and the simulated clock with no database: references are
    made up, no totals."""
    functions = script_functions(None, clock, dict(settings), process_id)  # type: ignore[arg-type]
    counter = {"n": 0}

    def next_reference(prefix: str) -> str:
        counter["n"] += 1
        return f"{prefix}{counter['n']:03d}-SIM"

    functions.update(next_reference=next_reference, approved_total=lambda field: 0.0, notify=lambda *a, **k: 0,
                     count_instances=lambda *a, **k: 0, start_process=lambda *a, **k: None)
    return functions
