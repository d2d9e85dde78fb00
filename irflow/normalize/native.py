"""irflow's native alert schema: what a team's own detector posts when it has none of the products."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irflow.models import Actor, Alert, Category, Direction, Severity
from irflow.normalize.errors import NormalizationError
from irflow.taxonomy import atlas_techniques, info

SOURCE = "irflow"


class NativeAlert(BaseModel):
    """Required: title, category, severity, actor. Unknown fields are refused so typos are caught."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=1000)
    category: Category
    severity: Severity
    actor: Actor
    id: str | None = Field(default=None, max_length=255)
    time: datetime | None = None
    source: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    owasp: str | None = None
    atlas: list[str] | None = None
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    direction: Direction = Direction.unknown
    app: str | None = Field(default=None, max_length=255)
    model: str | None = Field(default=None, max_length=255)
    evidence: str | None = None
    detector: str | None = Field(default=None, max_length=255)


def looks_native(item: dict[str, Any]) -> bool:
    return "category" in item and "title" in item


def normalize(item: Any, path: str) -> Alert:
    if not isinstance(item, dict):
        raise NormalizationError(path, f"an alert is a JSON object, got {type(item).__name__}")
    try:
        native = NativeAlert.model_validate(item)
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None
    row = info(native.category)
    unknown = [a for a in native.atlas or [] if a not in atlas_techniques()]
    if unknown:
        raise NormalizationError(f"{path}.atlas", f"not MITRE ATLAS technique ids: {', '.join(unknown)}")
    time = native.time
    if time is not None and time.tzinfo is None:
        raise NormalizationError(f"{path}.time", "timestamp needs a timezone (e.g. 2026-01-01T00:00:00Z)")
    try:
        return Alert(
            **({"time": time} if time else {}),  # type: ignore[arg-type]  # pydantic takes fields by name
            source=native.source or SOURCE, vendor_id=native.id, title=native.title,
            category=native.category, severity=native.severity, confidence=native.confidence,
            owasp=native.owasp or row.owasp, atlas=native.atlas if native.atlas is not None else list(row.atlas),
            direction=native.direction, actor=native.actor, app=native.app, model=native.model,
            evidence=native.evidence, detector=native.detector or f"native:{native.category}", raw=item,
        )
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None
