"""The library's reading side: every process, its versions, their files and archives, and what changed between
two of them."""
from __future__ import annotations

import yaml
from sqlalchemy import func, select

from engine.bpmn.diff import VersionDiff, diff_files
from engine.bpmn.safe_yaml import load_yaml
from engine.errors import NotFound
from engine.services import model_files, version_archive
from engine.services.identity import role_pairs
from engine.services.library.files import kind_of_path
from engine.store.models import (
    Deployment,
    HumanTask,
    Instance,
    MessageWait,
    ProcessDraft,
    ProcessVersion,
)


class Catalogue:
    """Processes and versions as the library's pages and the API show them."""

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
            settings = load_yaml(content, "settings.yaml") if content else {}
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

