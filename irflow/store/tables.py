"""The database schema: every piece of irflow state, the local twins' included.

Alembic migrations in irflow/migrations/ create it; a test checks they match these tables exactly.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone; this puts it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use irflow.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    time: Mapped[datetime]
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))
    vendor_id: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[float] = mapped_column(Float)
    owasp: Mapped[str | None] = mapped_column(String(8))
    atlas: Mapped[list[Any]]
    direction: Mapped[str] = mapped_column(String(16))
    actor: Mapped[dict[str, Any]]
    app: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    evidence: Mapped[str | None] = mapped_column(Text)
    detector: Mapped[str | None] = mapped_column(String(255))
    raw: Mapped[Any | None] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    dedup_key: Mapped[str] = mapped_column(String(300))
    group_key: Mapped[str] = mapped_column(String(600))
    incident_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("incidents.id"))
    suppressed_by: Mapped[int | None] = mapped_column(Integer, doc="the suppression rule that held it back")
    __table_args__ = (
        Index("ix_alerts_dedup_key", "dedup_key", "received_at"),
        Index("ix_alerts_incident_id", "incident_id"),
    )


class IncidentRow(Base):
    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(40))
    categories: Mapped[list[Any]]
    owasp: Mapped[list[Any]]
    atlas: Mapped[list[Any]]
    actor: Mapped[dict[str, Any]]
    group_key: Mapped[str] = mapped_column(String(600))
    alert_count: Mapped[int] = mapped_column(Integer)
    playbook: Mapped[str | None] = mapped_column(String(120))
    jira_key: Mapped[str | None] = mapped_column(String(64))
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_thread: Mapped[str | None] = mapped_column(String(64))
    slack_summary_ts: Mapped[str | None] = mapped_column(String(64))
    enrichment: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    assignee: Mapped[str | None] = mapped_column(String(255))
    acknowledged_at: Mapped[datetime | None]
    tta_breached_at: Mapped[datetime | None]
    ttc_breached_at: Mapped[datetime | None]
    serious: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="EU AI Act Art. 73: kind, awareness, deadline")
    merged_into: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    last_alert_at: Mapped[datetime]
    contained_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_incidents_group_key", "group_key", "status"),)


class ActionRow(Base):
    __tablename__ = "actions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(40), ForeignKey("incidents.id"))
    step_id: Mapped[str] = mapped_column(String(120))
    name: Mapped[str] = mapped_column(String(120))
    system: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(600))
    args: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(24))
    requires_approval: Mapped[bool] = mapped_column(Boolean)
    approved_by: Mapped[str | None] = mapped_column(String(255))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    inverse: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(600), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    playbook: Mapped[str | None] = mapped_column(String(120))
    playbook_hash: Mapped[str | None] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(16), server_default="contain")
    on_failure: Mapped[str] = mapped_column(String(16), server_default="continue")
    position: Mapped[int] = mapped_column(Integer, server_default="0")
    approval_due_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, doc="containment TTL: undone automatically then")
    undo_of: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("ix_actions_incident_id", "incident_id"), Index("ix_actions_status", "status"))


class SuppressionRow(Base):
    """Snooze: alerts matching every given field are stored but open no incident until the rule expires."""

    __tablename__ = "suppression_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str | None] = mapped_column(String(600))
    category: Mapped[str | None] = mapped_column(String(40))
    source: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    hits: Mapped[int] = mapped_column(Integer, server_default="0")


class ExternalIntentRow(Base):
    """An external create (Jira issue, Slack channel) recorded before it is attempted, so a crash between the
    create and recording its result is recognised on retry instead of producing a duplicate."""

    __tablename__ = "external_intents"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    system: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str] = mapped_column(String(40), ForeignKey("incidents.id"))
    state: Mapped[str] = mapped_column(String(16))
    external_key: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (Index("ix_external_intents_incident", "system", "kind", "incident_id"),)


class RunbookProgressRow(Base):
    """A runbook checklist step a responder marked done for an incident (by its stable step id)."""

    __tablename__ = "runbook_progress"
    incident_id: Mapped[str] = mapped_column(String(40), ForeignKey("incidents.id"), primary_key=True)
    step_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    done_by: Mapped[str] = mapped_column(String(255))
    done_at: Mapped[datetime]


class AutomationStateRow(Base):
    """Switches an operator flips at run time (e.g. automation paused), with who flipped them."""

    __tablename__ = "automation_state"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(255))


class TimelineRow(Base):
    __tablename__ = "timeline"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(String(40), ForeignKey("incidents.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    __table_args__ = (Index("ix_timeline_incident_id", "incident_id"),)


class AuditRow(Base):
    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class OutboxRow(Base):
    """Slack/Jira side effects, written in the transaction that changed the state they report."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[str | None] = mapped_column(String(40))
    target: Mapped[str | None] = mapped_column(
        String(16), doc="the one system (slack, jira, prefect) this row is for; NULL: every system that handles "
        "its kind, fanned out into one row each by the deliverer (and what rows written before 0008 have)")
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)


class RejectedRow(Base):
    """Dead letters: what intake refused, kept (truncated) so nothing is silently lost."""

    __tablename__ = "rejected_alerts"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    source: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)


# --- local twins -------------------------------------------------------------------------------


class GatewayBlockRow(Base):
    """The embedded gateway's deny list: a key or an end user that requests are refused for."""

    __tablename__ = "twin_gateway_blocks"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(600), primary_key=True)
    blocked: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    limits: Mapped[dict[str, Any] | None] = mapped_column(JSON, doc="rpm_limit / tpm_limit / max_budget of a key")
    updated_at: Mapped[datetime]


class TwinJiraIssueRow(Base):
    __tablename__ = "twin_jira_issues"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(32))
    labels: Mapped[list[Any]]
    status: Mapped[str] = mapped_column(String(32))
    incident_id: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime]


class TwinJiraCommentRow(Base):
    __tablename__ = "twin_jira_comments"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    issue_key: Mapped[str] = mapped_column(String(32), ForeignKey("twin_jira_issues.key"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class TwinSlackChannelRow(Base):
    __tablename__ = "twin_slack_channels"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    topic: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class TwinSlackMessageRow(Base):
    __tablename__ = "twin_slack_messages"
    ts: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), ForeignKey("twin_slack_channels.id"))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]]
    pinned: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime]


class TwinPromptVersionRow(Base):
    """The local prompt registry: immutable versions of named prompt templates."""

    __tablename__ = "twin_prompt_versions"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    template: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class TwinPromptAliasRow(Base):
    """Aliases (e.g. `production`) pointing at a version; rolling back moves the alias."""

    __tablename__ = "twin_prompt_aliases"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class UsageRow(Base):
    """Calls, tokens and spend per subject per minute, for irflow.usage. A subject is a key (all its users) or an
    end user under the key they called with; `subject` is a digest of the pair, so no id can forge another's."""

    __tablename__ = "usage_windows"
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    api_key: Mapped[str | None] = mapped_column(String(600))
    user: Mapped[str | None] = mapped_column(String(600))
    requests: Mapped[int] = mapped_column(BigInteger)
    tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_usage_windows_bucket", "bucket"),)
