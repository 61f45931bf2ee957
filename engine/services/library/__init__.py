"""The process library: every process and its versions, the analysts' drafts, validate, simulate, publish, diff and
moving running instances to a new version.

A draft holds one process's files (its diagram, the decision tables and forms it uses, settings) as a version's
`file_hashes` names them; the bytes live in `blob` like deployed files. Publishing runs the deployment itself
(`Repository.deploy`): the same hardened parser and lint as `govflow deploy`, a new version with a note, new
instances use it, running instances stay on theirs until an analyst moves them (checked, dry run first, audited).

One module per side: files (what a draft may hold), catalogue (reading), drafts (editing), publishing (publish and
migrate), simulation.
"""
from __future__ import annotations

from engine.bpmn.definitions import DeploymentError
from engine.bpmn.simulation import SimulationEvent
from engine.clock import Clock
from engine.services.library.catalogue import Catalogue
from engine.services.library.drafts import Drafts
from engine.services.library.files import (
    FORMS_PREFIX,
    Draft,
    DraftFiles,
    FileRefused,
    kind_of_path,
    sources_of,
)
from engine.services.library.publishing import Publishing
from engine.services.library.simulation import Simulations

__all__ = ["Library", "Draft", "DeploymentError", "FileRefused", "FORMS_PREFIX", "SimulationEvent", "kind_of_path",
           "sources_of"]


class Library(Catalogue, Drafts, DraftFiles, Publishing, Simulations):
    """The library's services over one Govflow (its database, repository, configuration and clock)."""

    def __init__(self, gov):
        self.gov = gov
        self.db = gov.db
        self.repository = gov.repository
        self.clock: Clock = gov.clock
