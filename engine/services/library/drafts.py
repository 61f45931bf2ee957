"""The analysts' drafts: one per process, opened from its latest version, edited file by file or as a zip, and
validated with the deployment's own checks."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn.definitions import (
    DeploymentError,
    Problem,
    SourceFile,
    compile_process,
    load_bundle,
    roles_by_lane,
)
from engine.bpmn.lint import lint
from engine.errors import Conflict, Forbidden, NotFound
from engine.governance.policy import EDIT_LIBRARY, policy_of
from engine.services import version_archive
from engine.services.identity import require_user, role_pairs
from engine.services.library.files import Draft, FileRefused, kind_of_path, sources_of
from engine.store import audit
from engine.store.models import Blob, ProcessDraft, ProcessVersion


class Drafts:
    """Open, edit, upload, discard and validate a process's draft (whoever may edit the library)."""

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

