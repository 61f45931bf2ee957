"""Deployments and process versions: store files once, version each changed process, cache the parsed specs."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.store import audit
from engine.bpmn.definitions import (
    CompiledProcess,
    DeploymentError,
    Problem,
    SourceFile,
    compile_process,
    load_bundle,
    roles_by_lane,
)
from engine.delivery import wording
from engine.errors import NotFound
from engine.services.identity import role_pairs
from engine.bpmn.lint import lint
from engine.store.models import Blob, Deployment, DeploymentFile, ProcessVersion


@dataclass(frozen=True)
class DeployedProcess:
    process_id: str
    name: str
    version: int
    version_id: int
    created: bool  # False when the content was already deployed as this version


@dataclass(frozen=True)
class DeploymentResult:
    deployment_id: int | None
    processes: list[DeployedProcess]

    def as_dict(self) -> dict:
        return {"deployment_id": self.deployment_id,
                "processes": [p.__dict__ for p in self.processes]}


def validate_sources(session: Session | None, sources: list[SourceFile], max_bytes: int = 5_000_000,
                     roles: list[tuple[str, str]] | None = None,
                     wording_folder: Path | None = None) -> dict[str, CompiledProcess]:
    """Parse, lint and compile; raises DeploymentError listing every problem. Touches nothing.
    The lanes are checked against `roles`, or the roles in the database. DMN files alone are checked too (the DMN
    rules and Spiff's DMN parser); they give no process. The notice templates in `wording_folder` are checked too."""
    if not any(s.kind in ("bpmn", "dmn") for s in sources):
        raise DeploymentError([Problem("(deployment)", "no .bpmn or .dmn file was given")])
    bundle = load_bundle(sources, max_bytes=max_bytes)
    lanes = roles_by_lane(roles if roles is not None else role_pairs(session))
    problems = lint(bundle, lanes) + (wording.problems(wording_folder) if wording_folder is not None else [])
    if problems:
        raise DeploymentError(problems)
    compiled = {}
    for process_id in bundle.process_ids():
        compiled[process_id] = compile_process(bundle, process_id, lanes)
    return compiled


class Repository:
    """The RepositoryService: deploys sources and hands out compiled process versions, parsed once each."""

    def __init__(self, max_bytes: int = 5_000_000):
        self.max_bytes = max_bytes
        self._cache: dict[int, CompiledProcess] = {}
        self._lock = threading.Lock()

    def deploy(self, session: Session, sources: list[SourceFile], by: str, at: datetime,
               note: str = "") -> DeploymentResult:
        """Store a deployment; each process whose content changed gets a new version number."""
        compiled = validate_sources(session, sources, self.max_bytes)
        deployment = None
        results = []
        for process_id, process in compiled.items():
            latest = self._latest_row(session, process_id)
            if latest is not None and latest.content_hash == process.content_hash:
                results.append(DeployedProcess(process_id, latest.name, latest.version, latest.id, False))
                continue
            if deployment is None:
                deployment = self._store_files(session, sources, by, at, note)
            row = ProcessVersion(
                process_id=process_id, name=process.name, version=(latest.version + 1) if latest else 1,
                content_hash=process.content_hash, deployment_id=deployment.id, bpmn_path=process.spec.file,
                file_hashes=process.files, created_at=at,
            )
            session.add(row)
            session.flush()
            with self._lock:
                self._cache[row.id] = process
            audit.record(session, at, by, "process.deployed", process_id=process_id, version=row.version,
                         deployment_id=deployment.id, note=note)
            results.append(DeployedProcess(process_id, row.name, row.version, row.id, True))
        return DeploymentResult(deployment.id if deployment else None, results)

    def _store_files(self, session: Session, sources: list[SourceFile], by: str, at: datetime,
                     note: str) -> Deployment:
        deployment = Deployment(deployed_at=at, deployed_by=by, note=note)
        session.add(deployment)
        known = set(session.scalars(select(Blob.sha256).where(Blob.sha256.in_([s.sha256 for s in sources]))))
        for src in sources:
            if src.sha256 not in known:
                session.add(Blob(sha256=src.sha256, content=src.content))
                known.add(src.sha256)
            path = ("forms/" + src.path) if src.kind == "form" else src.path
            deployment.files.append(DeploymentFile(path=path, kind=src.kind, sha256=src.sha256))
        session.flush()
        return deployment

    @staticmethod
    def _latest_row(session: Session, process_id: str) -> ProcessVersion | None:
        return session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                               .order_by(ProcessVersion.version.desc()).limit(1)).first()

    def latest(self, session: Session, process_id: str) -> ProcessVersion:
        row = self._latest_row(session, process_id)
        if row is None:
            known = ", ".join(self.process_ids(session)) or "none"
            raise NotFound(f"No process '{process_id}' is deployed (deployed: {known})")
        return row

    @staticmethod
    def process_ids(session: Session) -> list[str]:
        return list(session.scalars(select(ProcessVersion.process_id).distinct().order_by(ProcessVersion.process_id)))

    @staticmethod
    def versions(session: Session) -> list[tuple[ProcessVersion, int]]:
        """Every version with how many instances run on it."""
        from engine.store.models import Instance
        counts = dict(session.execute(select(Instance.process_version_id, func.count()).where(
            Instance.status == "running").group_by(Instance.process_version_id)).all())
        rows = session.scalars(select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version))
        return [(row, counts.get(row.id, 0)) for row in rows]

    def warm(self, session: Session) -> list[int]:
        """Compile every version in use (the latest of each process, and any with running instances) ahead of the
        first command that needs it; the ids, in order."""
        in_use = {row.id for row, running in self.versions(session) if running}
        in_use.update(self.latest(session, process_id).id for process_id in self.process_ids(session))
        for version_id in sorted(in_use):
            self.compiled(session, version_id)
        return sorted(in_use)

    def compiled(self, session: Session, version_id: int) -> CompiledProcess:
        """The parsed process of a version, from the cache or rebuilt once from its stored files."""
        cached = self._cache.get(version_id)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(version_id)
            if cached is None:
                cached = self._cache[version_id] = self._rebuild(session, version_id)
            return cached

    def _rebuild(self, session: Session, version_id: int) -> CompiledProcess:
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound(f"No process version {version_id}")
        files = session.scalars(select(DeploymentFile).where(DeploymentFile.deployment_id == row.deployment_id)).all()
        blobs = {b.sha256: b.content for b in session.scalars(
            select(Blob).where(Blob.sha256.in_([f.sha256 for f in files])))}
        sources = []
        for f in files:
            path = f.path[len("forms/"):] if f.kind == "form" else f.path
            sources.append(SourceFile(path, f.kind, blobs[f.sha256]))
        bundle = load_bundle(sources, max_bytes=self.max_bytes)
        return compile_process(bundle, row.process_id, roles_by_lane(role_pairs(session)))

    def files_of(self, session: Session, version_id: int) -> dict[str, bytes]:
        row = session.get(ProcessVersion, version_id)
        if row is None:
            raise NotFound(f"No process version {version_id}")
        wanted = row.file_hashes
        blobs = {b.sha256: b.content for b in session.scalars(select(Blob).where(Blob.sha256.in_(wanted.values())))}
        return {path: blobs[sha] for path, sha in wanted.items()}

