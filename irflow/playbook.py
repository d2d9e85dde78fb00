"""Playbooks are data: YAML files validated by these models, one per playbook, named by file stem.

Built-ins ship inside the package (irflow.playbooks); a file of the same stem under IRFLOW_PLAYBOOKS
overrides one. Arguments use `{{ alert.x }}` / `{{ incident.x }}` substitution only: no expressions.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from irflow.models import Category, Severity

_TEMPLATE = re.compile(r"\{\{\s*(alert|incident)\.([a-z_][a-z0-9_.]*)\s*\}\}")


class PlaybookError(ValueError):
    """A playbook file that does not load or validate; the message names the file and the field."""


class OnFailure(StrEnum):
    continue_ = "continue"
    abort = "abort"
    rollback = "rollback"


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[Category]
    sources: list[str] = Field(default_factory=list, description="Empty: any source.")
    min_severity: Severity = Severity.low


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    action: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="<capability>.<verb>")
    target: str | None = Field(default=None, description="System; default from configuration.")
    title: str | None = None
    args: dict[str, str] = Field(default_factory=dict)
    when: str | None = Field(default=None, description="A template; the step runs when it renders non-empty.")
    unless: str | None = Field(default=None, description="A template; the step is skipped when it renders non-empty.")
    phase: Literal["contain", "recover"] = Field(
        default="contain", description="contain steps must finish before the incident counts as contained"
    )
    requires_approval: bool = False
    on_failure: OnFailure = OnFailure.continue_
    timeout: float = Field(default=30, gt=0, le=300, description="Seconds one attempt of the step may take: "
                           "every connector request it makes is cut to what is left, and none is sent after. At "
                           "most 5 minutes, well inside the 10 after which a `running` action counts as left "
                           "by a crash and is claimed again.")
    retries: int = Field(default=2, ge=0, le=10)
    min_alerts: int = Field(default=1, ge=1, description="Escalation ladder: plan this step once the incident "
                            "has at least this many alerts (repeats re-plan the incident).")
    ttl: str | None = Field(default=None, pattern=r"^\d+[smhd]$", description="Undo automatically after, e.g. 4h.")
    approval_timeout_minutes: int | None = Field(default=None, ge=1)

    @property
    def ttl_seconds(self) -> int | None:
        if self.ttl is None:
            return None
        return int(self.ttl[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[self.ttl[-1]]


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID
    name: str = ""
    title: str
    status: Literal["experimental", "stable"]
    severity: Severity
    tags: list[str]
    runbook: str
    description: str
    trigger: Trigger
    steps: list[Step] = Field(min_length=1)
    version_hash: str = ""

    @field_validator("tags")
    @classmethod
    def _tags_namespaced(cls, tags: list[str]) -> list[str]:
        bad = [t for t in tags if not re.fullmatch(r"(owasp\.llm\d{2}|atlas\.aml\.t\d{4}(\.\d{3})?|[a-z_]+)", t)]
        if bad:
            raise ValueError(f"tags must look like owasp.llm01 or atlas.aml.t0051.000, got {bad}")
        return tags

    @property
    def atlas_ids(self) -> list[str]:
        return [t.removeprefix("atlas.").upper() for t in self.tags if t.startswith("atlas.")]

    @property
    def owasp_ids(self) -> list[str]:
        return [t.removeprefix("owasp.").upper() for t in self.tags if t.startswith("owasp.")]

    def handles(self, category: Category, severity: Severity, source: str) -> bool:
        t = self.trigger
        return (
            category in t.categories
            and severity.rank >= t.min_severity.rank
            and (not t.sources or source in t.sources)
        )


def parse(text: str, name: str) -> Playbook:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlaybookError(f"{name}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlaybookError(f"{name}: a playbook is a YAML mapping")
    try:
        playbook = Playbook.model_validate({**data, "name": name})
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PlaybookError(f"{name}: {where}") from exc
    playbook.version_hash = hashlib.sha256(text.encode()).hexdigest()
    return playbook


def _builtin_files() -> dict[str, str]:
    folder = resources.files("irflow.playbooks")
    return {p.name.removesuffix(".yaml"): p.read_text("utf-8") for p in folder.iterdir() if p.name.endswith(".yaml")}


def load_all(override_dir: Path | None = None) -> dict[str, Playbook]:
    """Built-ins, then the user's folder on top (same stem wins)."""
    texts = _builtin_files()
    if override_dir is not None:
        if not override_dir.is_dir():
            raise PlaybookError(f"IRFLOW_PLAYBOOKS={override_dir} is not a folder")
        texts.update({p.stem: p.read_text("utf-8") for p in sorted(override_dir.glob("*.yaml"))})
    return {name: parse(text, name) for name, text in sorted(texts.items())}


def select(playbooks: dict[str, Playbook], category: Category, severity: Severity, source: str) -> Playbook | None:
    """The playbook whose trigger matches; the most specific (fewest categories) wins, then by name."""
    matching = [p for p in playbooks.values() if p.handles(category, severity, source)]
    matching.sort(key=lambda p: (len(p.trigger.categories), p.name))
    return matching[0] if matching else None


def render(template: str, context: dict[str, Any]) -> str:
    """Substitute `{{ alert.x.y }}` / `{{ incident.x }}`; a missing value renders as empty."""

    def lookup(match: re.Match[str]) -> str:
        value: Any = context.get(match.group(1), {})
        for part in match.group(2).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return "" if value is None else str(value)

    return _TEMPLATE.sub(lookup, template)
