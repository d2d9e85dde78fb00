"""`irflow playbooks run NAME (--incident ID | --alert FILE) [--dry-run]`: a SOC triggers a playbook by hand.

A dry run normalizes the alert in memory (nothing stored), plans the steps and asks each connector for the
call it would make with dry_run=True: nothing changes anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irflow import incidents, orchestrate, rbac, response
from irflow.bodies import split
from irflow.models import utcnow
from irflow.normalize import normalize_item
from irflow.playbook import PlaybookError
from irflow.redaction import redact_mapping
from irflow.runtime import Runtime


def _alert_context(rt: Runtime, path: Path) -> dict[str, Any]:
    items = split(path.read_bytes(), max_bytes=rt.settings.max_alert_bytes)
    if len(items) != 1 or items[0].error:
        raise PlaybookError(f"{path}: --alert takes exactly one alert")
    alert = normalize_item(items[0].value, "$[0]")
    incident = {"id": "(dry run)", "category": alert.category.value, "severity": alert.severity.value,
                "actor": alert.actor.model_dump(), "alert_count": 1}
    return response.context_from(incident, response.alert_context(alert))


def plan(rt: Runtime, name: str, incident_id: str | None, alert: Path | None) -> list[dict[str, Any]]:
    with rt.db.tx() as s:
        context = (response.incident_context(s, incidents.get(s, incident_id)) if incident_id
                   else _alert_context(rt, alert))  # type: ignore[arg-type]
        g = response.guard(s, rt.settings, rt.systems, utcnow())
    rows = response.dry_run(rt.systems, rt.playbooks[name], context, g)
    return redact_mapping(rows)  # type: ignore[return-value]


def run(rt: Runtime, name: str, incident_id: str | None, alert: Path | None, dry_run: bool,
        principal: str) -> Any:
    if name not in rt.playbooks:
        raise PlaybookError(f"no playbook named {name!r}; see `irflow playbooks list`")
    if dry_run:
        return {"playbook": name, "dry_run": True, "steps": plan(rt, name, incident_id, alert)}
    rbac.require(rt.db, rt.settings, principal, "run_playbook", incident_id or name)
    if alert is not None:
        from irflow.cli import ingest_bytes

        report = ingest_bytes(rt, alert.read_bytes(), None, wait=False, via=principal)
        incident_id = report.results[0].incident_id
        if incident_id is None:
            raise PlaybookError(f"{alert}: {report.results[0].as_json()}")
    assert incident_id is not None
    with rt.db.tx() as s:
        incidents.add_timeline(s, incident_id, "playbook", f"Playbook {name} run by hand by {principal}")
    orchestrate.respond(rt, incident_id, name)
    orchestrate.deliver(rt)
    with rt.db.tx() as s:
        return incidents.incident_view(s, incidents.get(s, incident_id))
