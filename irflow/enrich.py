"""Enrichment, run before the playbook decides: what the targets and irflow's own records know about the
actor. Key owner, alias, team, spend and last use; whether the key or user is already blocked; the
actor's earlier incidents and alerts; the prompt version in production.

A target that cannot answer is recorded as unavailable and the response goes on: enrichment informs
containment, it never blocks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from irflow import audit, incidents
from irflow.connectors.errors import ConnectorError
from irflow.models import utcnow
from irflow.store.engine import Database
from irflow.store.tables import AlertRow, IncidentRow
from irflow.systems import Systems

KEY_FIELDS = ("blocked", "deleted", "key_alias", "user_id", "team_id", "spend", "max_budget", "rpm_limit",
              "tpm_limit", "user", "status", "last_used", "last_used_at", "last_used_service", "created")


def _ask(call: Callable[[], dict[str, Any]], keep: tuple[str, ...] | None = None) -> dict[str, Any]:
    try:
        answer = call()
    except ConnectorError as exc:
        return {"unavailable": str(exc)[:300]}
    if keep is None:
        return dict(answer)
    return {k: answer[k] for k in keep if k in answer and answer[k] is not None}


def _history(session: Session, incident: IncidentRow) -> dict[str, Any]:
    earlier = session.execute(
        select(func.count()).select_from(IncidentRow).where(
            IncidentRow.group_key == incident.group_key, IncidentRow.id != incident.id)
    ).scalar_one()
    alerts = session.execute(
        select(func.count()).select_from(AlertRow).join(IncidentRow, AlertRow.incident_id == IncidentRow.id)
        .where(IncidentRow.group_key == incident.group_key)
    ).scalar_one()
    return {"earlier_incidents": earlier, "alerts_total": alerts}


def gather(systems: Systems, actor: dict[str, Any], app: str | None) -> dict[str, Any]:
    """Ask the default targets about the key, the user and the app's prompt."""
    found: dict[str, Any] = {}
    if actor.get("api_key"):
        revoker = systems.key_revoker(systems.target_for("keys", None))
        found["key"] = {"system": revoker.system} | _ask(lambda: revoker.info(actor["api_key"]), KEY_FIELDS)
    if actor.get("user"):
        blocker = systems.user_blocker(systems.target_for("users", None))
        found["user"] = {"system": blocker.system} | _ask(lambda: blocker.info(actor["user"]), ("blocked", "status"))
    if app:
        registry = systems.prompt_registry(systems.target_for("prompts", None))
        found["prompt"] = {"system": registry.system, "name": app} | _ask(
            lambda: {"production_version": registry.current_version(app)})
    return found


def enrich(db: Database, systems: Systems, incident_id: str) -> dict[str, Any]:
    """Gather, store on the incident (and its timeline), and return the enrichment."""
    with db.tx() as s:
        incident = incidents.get(s, incident_id)
        actor = dict(incident.actor)
        app = s.execute(select(AlertRow.app).where(AlertRow.incident_id == incident_id).limit(1)).scalar()
        history = _history(s, incident)
    found = gather(systems, actor, app) | {"history": history, "at": utcnow().isoformat()}
    with db.tx() as s:
        incidents.get(s, incident_id).enrichment = found
        incidents.add_timeline(s, incident_id, "enrichment", summary(found))
        audit.append(s, actor="irflow", kind="incident.enriched", subject=incident_id)
    return found


def summary(found: dict[str, Any]) -> str:
    """One line a responder reads: what was learned, and what could not be asked."""
    parts = []
    if "key" in found:
        key = found["key"]
        parts.append(f"key at {key['system']}: " + (f"unavailable ({key['unavailable']})" if "unavailable" in key else
                     ", ".join(f"{k}={v}" for k, v in key.items() if k != "system") or "unknown"))
    if "user" in found:
        user = found["user"]
        parts.append(f"user at {user['system']}: " + (f"unavailable ({user['unavailable']})" if "unavailable" in user
                     else f"blocked={user.get('blocked')}"))
    if "prompt" in found:
        prompt = found["prompt"]
        parts.append(f"prompt {prompt['name']}: " + (str(prompt.get("production_version")) if "unavailable" not in prompt
                     else "not in the registry"))
    h = found["history"]
    parts.append(f"actor history: {h['earlier_incidents']} earlier incident(s), {h['alerts_total']} alert(s)")
    return "Enrichment: " + "; ".join(parts)
