"""The one model every source is normalized into, and the records irflow keeps about its response.

Field names follow OCSF Detection Finding (class_uid 2004) where OCSF has a name for the idea
(time, severity, confidence, finding category, actor, evidences, raw data), so exporting to a SIEM is
a renaming, not a translation.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Category(StrEnum):
    prompt_injection = "prompt_injection"
    indirect_prompt_injection = "indirect_prompt_injection"
    jailbreak = "jailbreak"
    system_prompt_leak = "system_prompt_leak"
    sensitive_data_leak = "sensitive_data_leak"
    leaked_api_key = "leaked_api_key"
    model_extraction = "model_extraction"
    cost_abuse = "cost_abuse"
    prompt_tampering = "prompt_tampering"
    excessive_agency = "excessive_agency"
    shadow_ai = "shadow_ai"
    harmful_content = "harmful_content"
    improper_output = "improper_output"
    other = "other"


class Severity(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def highest(cls, *values: Severity) -> Severity:
        return max(values, key=lambda s: s.rank)


_SEVERITY_RANK = {Severity.low: 1, Severity.medium: 2, Severity.high: 3, Severity.critical: 4}

OWASP_IDS = tuple(f"LLM{n:02d}" for n in range(1, 11))
"""OWASP Top 10 for LLM Applications, 2025 edition."""


class Direction(StrEnum):
    input = "input"
    output = "output"
    unknown = "unknown"


class IncidentStatus(StrEnum):
    open = "open"
    contained = "contained"
    resolved = "resolved"
    closed = "closed"


class ActionStatus(StrEnum):
    planned = "planned"
    awaiting_approval = "awaiting_approval"
    running = "running"
    done = "done"
    failed = "failed"
    rejected = "rejected"
    undone = "undone"
    skipped = "skipped"


FINAL_ACTION_STATUSES = frozenset(
    {ActionStatus.done, ActionStatus.failed, ActionStatus.rejected, ActionStatus.undone, ActionStatus.skipped}
)

PLACEHOLDER_IDENTITIES = frozenset({"", "default_user_id", "none", "null", "anonymous", "unknown"})
"""Values gateways write when they do not know who called: never an actor."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Actor(BaseModel):
    """Who the alert is about. Every field is optional: vendors rarely know all of them."""

    model_config = ConfigDict(extra="forbid")

    user: str | None = None
    api_key: str | None = None
    team: str | None = None
    session: str | None = None
    ip: str | None = None

    @field_validator("user", "api_key", "team", "session", "ip", mode="before")
    @classmethod
    def _placeholders_are_unknown(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in PLACEHOLDER_IDENTITIES:
            return None
        return value

    def is_empty(self) -> bool:
        return not any((self.user, self.api_key, self.team, self.session, self.ip))


@dataclass(frozen=True)
class Usage:
    """One call a gateway logged without flagging it: telemetry, counted per key and per user so that a
    volume no single guardrail sees (model extraction, cost abuse) still becomes an alert (irflow.usage)."""

    source: str
    at: datetime
    api_key: str | None = None
    user: str | None = None
    tokens: int = 0
    cost: float = 0.0


class Alert(BaseModel):
    """A normalized alert. `raw` keeps the vendor body for forensics; it never leaves the store."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("alr"))
    time: datetime = Field(default_factory=utcnow, description="When the detector saw it (OCSF time).")
    received_at: datetime = Field(default_factory=utcnow)
    source: str = Field(description="Product that raised it, e.g. litellm, lakera, irflow.")
    vendor_id: str | None = Field(default=None, description="The source's own id for this finding.")
    title: str
    category: Category
    severity: Severity
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    owasp: str | None = None
    atlas: list[str] = Field(default_factory=list)
    direction: Direction = Direction.unknown
    actor: Actor = Field(default_factory=Actor)
    app: str | None = None
    model: str | None = None
    evidence: str | None = Field(default=None, description="Attacker-controlled excerpt; redact before display.")
    detector: str | None = Field(default=None, description="Which detector/rule fired (the mapping row).")
    raw: dict[str, Any] | list[Any] | None = None
    fingerprint: str = ""
    dedup_key: str = ""
    group_key: str = ""

    @field_validator("owasp")
    @classmethod
    def _owasp_2025(cls, value: str | None) -> str | None:
        if value is not None and value not in OWASP_IDS:
            raise ValueError(f"must be an OWASP LLM Top 10 (2025) id LLM01..LLM10, got {value!r}")
        return value


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    text: str


class ActionRecord(BaseModel):
    """One containment or response step: what ran, on what, the state before and after, and its inverse."""

    id: str = Field(default_factory=lambda: new_id("act"))
    incident_id: str
    step_id: str
    name: str
    system: str
    target: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: ActionStatus = ActionStatus.planned
    requires_approval: bool = False
    approved_by: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    inverse: str | None = None
    reason: str = ""
    error: str | None = None
    idempotency_key: str
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Incident(BaseModel):
    id: str = Field(default_factory=lambda: new_id("inc"))
    title: str
    status: IncidentStatus = IncidentStatus.open
    severity: Severity
    category: Category
    categories: list[Category] = Field(default_factory=list)
    owasp: list[str] = Field(default_factory=list)
    atlas: list[str] = Field(default_factory=list)
    actor: Actor = Field(default_factory=Actor)
    group_key: str
    alert_count: int = 0
    playbook: str | None = None
    jira_key: str | None = None
    slack_channel: str | None = None
    slack_thread: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    last_alert_at: datetime = Field(default_factory=utcnow)
    contained_at: datetime | None = None
    resolved_at: datetime | None = None


class AuditEvent(BaseModel):
    """One link of the hash-chained audit log."""

    seq: int
    at: datetime
    actor: str
    kind: str
    subject: str
    data: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str
    hash: str
