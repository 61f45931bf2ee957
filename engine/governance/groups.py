"""The governance groups and their seats, loaded from governance-groups.yaml as data."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from engine.bpmn.safe_yaml import read_yaml
from engine.store.models import GovernanceGroup, Seat

_DETAIL_KEYS = ("role", "attendees", "decision_options", "escalates_to", "meeting_cadence", "provenance",
                "replaces", "replaced_by", "carve_out", "data_quality_notes")


def load_groups(session: Session, groups_file: Path) -> int:
    """Create or update every group with its seats; seat holders already assigned are kept."""
    data = read_yaml(groups_file) or {}
    catalogue = data.get("seat_catalogue", {})
    count = 0
    for spec in data.get("groups", []):
        group = session.get(GovernanceGroup, spec["id"]) or GovernanceGroup(id=spec["id"])
        group.name = spec["name"]
        group.level = int(spec["level"])
        group.parent_id = spec.get("parent")
        group.status = spec.get("status", "active")
        cadence = spec.get("meeting_cadence") or {}
        group.usual_day = cadence.get("usual_day")
        group.details = {k: spec[k] for k in _DETAIL_KEYS if k in spec}
        if isinstance(spec.get("membership"), str):
            group.details["membership"] = spec["membership"]
        members = spec.get("membership") if isinstance(spec.get("membership"), list) else []
        existing = {s.position: s for s in group.seats}
        for position, member in enumerate(members):
            seat = existing.get(position) or Seat(position=position)
            seat.seat_code = member["seat"]
            seat.kind = catalogue.get(member["seat"], {}).get("kind", "other")
            seat.label = member.get("source_label") or catalogue.get(member["seat"], {}).get("label", "")
            if position not in existing:
                group.seats.append(seat)
        for position in [p for p in existing if p >= len(members)]:
            group.seats.remove(existing[position])
        session.add(group)
        count += 1
    return count


def group_functions(session: Session) -> dict:
    """Functions diagrams call to walk the governance structure (escalations go to the parent group only)."""

    def group(group_id: str) -> GovernanceGroup:
        found = session.get(GovernanceGroup, group_id)
        if found is None:
            raise KeyError(f"there is no governance group '{group_id}'")
        return found

    def parent_group(group_id: str) -> str | None:
        """The group a group escalates to (None above PSG: PSG escalates to the SRO, then Ofgem)."""
        parent = group(group_id).parent_id
        return parent if parent and group(parent).level > 1 else None

    return {
        "parent_group": parent_group,
        "group_level": lambda group_id: group(group_id).level,
        "group_name": lambda group_id: group(group_id).name,
        "group_exists": lambda group_id: session.get(GovernanceGroup, group_id) is not None,
    }
