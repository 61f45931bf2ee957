"""Publishing a draft as the process's next version, and moving running instances to another version (checked,
dry run first, audited)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine.bpmn import migration as instance_migration
from engine.bpmn.execution import Execution
from engine.bpmn.state import move_back_window
from engine.clock import Clock
from engine.errors import Conflict, GovflowError, NotFound
from engine.governance.policy import MIGRATE, PUBLISH
from engine.services import instance_rows
from engine.services.commands import INSTANCE_ROW_LOCK
from engine.services.diagram_functions import script_functions
from engine.services.library.files import sources_of
from engine.store import audit
from engine.store.models import Instance, ProcessVersion


class Publishing:
    """Publish (whoever may publish) and migrate (whoever may migrate)."""

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


