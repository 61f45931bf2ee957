"""Settings read from the environment, with the embedded defaults of a one-laptop install."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """Where processes/, forms/ and instance/ are by default: the source checkout govflow runs from, or — for an
    installed package — the current folder (a deployment sets GOVFLOW_PROCESSES_DIR and GOVFLOW_FORMS_DIR)."""
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()


@dataclass(frozen=True)
class Config:
    """Where govflow keeps its data and finds its rules. Every field has an environment variable."""

    database_url: str = ""
    processes_dir: Path = PROJECT_ROOT / "processes"
    forms_dir: Path = PROJECT_ROOT / "forms"
    instance_dir: Path = PROJECT_ROOT / "instance"
    script_time_limit: float = 1.0
    max_upload_bytes: int = 5_000_000
    deliver_effects_inline: bool = True  # GOVFLOW_DELIVER_EFFECTS=scheduler: leave every effect to the scheduler
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        env = os.environ
        root = home()
        instance_dir = Path(env.get("GOVFLOW_INSTANCE_DIR") or root / "instance")
        values = dict(
            instance_dir=instance_dir,
            database_url=env.get("GOVFLOW_DATABASE_URL") or f"sqlite:///{instance_dir / 'govflow.db'}",
            processes_dir=Path(env.get("GOVFLOW_PROCESSES_DIR") or root / "processes"),
            forms_dir=Path(env.get("GOVFLOW_FORMS_DIR") or root / "forms"),
            script_time_limit=float(env.get("GOVFLOW_SCRIPT_TIME_LIMIT", "1.0")),
            deliver_effects_inline=env.get("GOVFLOW_DELIVER_EFFECTS", "inline") != "scheduler",
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
