"""Built-in step flows (`action: flow.<name>` in a playbook)."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from irflow import incidents, runtime
from irflow.redaction import compose, redact
from irflow.render import join_lines
from irflow.step_flows import step_flow


@step_flow("collect_evidence", title="Preserve evidence",
           description="Snapshot the incident's alerts (redacted) into a Prefect artifact for the case file.",
           reversible=True, low_impact=True)
@flow(name="irflow-step-collect-evidence")
def collect_evidence(incident_id: str, args: dict[str, Any]) -> dict[str, Any]:
    """Read-only: lists each alert's time, source, detector and redacted evidence; changes nothing."""
    rt = runtime.get()
    limit = int(args.get("limit") or 50)
    with rt.db.tx() as s:
        rows = incidents.alerts_of(s, incident_id)[:limit]
        lines = [compose("- {at} {source} {detector}: {evidence}", at=redact(r.time.isoformat()),
                         source=redact(r.source), detector=redact(r.detector or "-"),
                         evidence=redact(r.evidence or "", max_len=400)) for r in rows]
    body = join_lines([compose("# Evidence for {id}", id=redact(incident_id)), *lines])
    create_markdown_artifact(key=f"irflow-evidence-{incident_id}".lower(), markdown=body,
                             description="irflow evidence snapshot")
    return {"alerts": len(rows)}
