"""Export a playbook as OASIS CACAO v2 JSON, so other SOAR tools can read what irflow will do.

Automated steps become commands of the custom type `irflow-action` (CACAO's command type is an open
vocabulary) and manual tasks become `manual` commands; step ids are UUIDv5 of the playbook id and the
step id, so an export is stable across runs.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from irflow import actions
from irflow.playbook import Playbook

IRFLOW_IDENTITY = "identity--5f1d2c8e-4a6b-5c3d-9e0f-1a2b3c4d5e6f"
_ACTIVITY = {"keys": "restrict-access", "users": "restrict-access", "prompts": "revert-system", "manual": "investigate-system"}


def _sid(playbook: Playbook, kind: str, name: str) -> str:
    return f"{kind}--{uuid.uuid5(playbook.id, name)}"


def _command(step_action: str, title: str, description: str) -> dict[str, Any]:
    spec = actions.get(step_action)
    if spec.capability == "manual":
        return {"type": "manual", "command": title, "description": description}
    return {"type": "irflow-action", "description": f"{spec.name}: {spec.description}",
            "playbook_activity": _ACTIVITY.get(spec.capability, "eliminate-risk")}


def to_cacao(playbook: Playbook, now: datetime | None = None) -> dict[str, Any]:
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    start, end = _sid(playbook, "start", "start"), _sid(playbook, "end", "end")
    ids = [_sid(playbook, "action", step.id) for step in playbook.steps]
    human, machine = _sid(playbook, "individual", "responder"), _sid(playbook, "security-category", "irflow")
    agents = {human: {"type": "individual", "name": "SOC responder"},
              machine: {"type": "security-category", "name": "irflow automation", "category": ["soar"]}}
    workflow: dict[str, Any] = {start: {"type": "start", "name": "start", "on_completion": ids[0]}}
    for step, sid, nxt in zip(playbook.steps, ids, [*ids[1:], end], strict=True):
        spec = actions.get(step.action)
        gate = " Requires approval." if step.requires_approval or spec.needs_approval_by_policy else ""
        description = f"{spec.title} ({step.action}, phase {step.phase}).{gate}"
        workflow[sid] = {"type": "action", "name": step.title or step.id, "description": description,
                         "commands": [_command(step.action, step.title or step.args.get("task", step.id), description)],
                         "agent": human if spec.capability == "manual" else machine, "on_completion": nxt}
    workflow[end] = {"type": "end", "name": "end"}
    return {
        "type": "playbook", "spec_version": "cacao-2.0", "id": f"playbook--{playbook.id}", "name": playbook.title,
        "description": playbook.description.strip(), "playbook_types": ["mitigation", "remediation"],
        "created_by": IRFLOW_IDENTITY, "created": stamp, "modified": stamp, "labels": playbook.tags,
        "severity": {"low": 25, "medium": 50, "high": 75, "critical": 100}[playbook.severity.value],
        "workflow_start": start, "workflow": workflow, "agent_definitions": agents,
    }
