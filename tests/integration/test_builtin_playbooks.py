"""Every built-in playbook, run through Prefect against the local twins, then checked AT THE TARGET: the
session/user/key/team is denied by the gateway, the limits are lowered, the prompt alias points at the
previous version. Approval-gated steps are approved by an approver and checked the same way."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from irflow import decisions, incidents, intake, orchestrate, runtime
from irflow.bodies import split
from irflow.playbook import load_all
from irflow.settings import IrflowSettings
from irflow.store.tables import ActionRow

pytestmark = pytest.mark.integration

APPROVER = "cli:approver"
ACTOR = {"user": "mallory", "api_key": "app-key-7", "session": "sess-42", "team": "growth", "ip": "198.51.100.9"}
APP = "support-bot"


def _verifier(rt: runtime.Runtime, row: ActionRow) -> Callable[[], bool]:
    """What 'done' must mean at the target, per action."""
    gw, args = rt.systems.gateway, row.args
    checks: dict[str, Callable[[], bool]] = {
        "sessions.block": lambda: not gw.check(session=args["session"]).allowed,
        "users.suspend": lambda: not gw.check(user=args["user"]).allowed,
        "users.disable_account": lambda: not gw.check(user=args["user"]).allowed,
        "keys.block": lambda: not gw.check(key=args["key"]).allowed,
        "teams.block": lambda: not gw.check(team=args["team"]).allowed,
        "keys.regenerate": lambda: not gw.check(key=args["key"]).allowed
        and gw.check(key=(row.after or {})["replaced_by"]).allowed,
        "keys.delete": lambda: bool(gw.keys.info(args["key"])["deleted"]),
        "keys.rate_limit": lambda: any(gw.keys.info(args["key"])[k] is not None
                                       for k in ("rpm_limit", "tpm_limit", "max_budget")),
        "prompts.rollback": lambda: rt.systems.prompts["local"].current_version(args["prompt"]) == 1,
        "users.revoke_sessions": lambda: True,  # the embedded gateway keeps no sessions: nothing to observe
        "manual.task": lambda: row.status == "done",
        "flow.collect_evidence": lambda: (row.after or {}).get("alerts", 0) >= 1,
    }
    return checks[row.name]


def _finish_everything(rt: runtime.Runtime, incident_id: str) -> None:
    """A responder approves every gated step and completes every manual task."""
    for _ in range(3):
        with rt.db.tx() as s:
            rows = incidents.actions_of(s, incident_id)
        waiting = [r for r in rows if r.status == "awaiting_approval"]
        tasks = [r for r in rows if r.name == "manual.task" and r.status == "planned"]
        for row in waiting:
            decisions.approve(rt.db, rt.settings, row.id, APPROVER)
        for row in tasks:
            decisions.complete_task(rt.db, rt.settings, row.id, APPROVER)
        if not waiting and not tasks:
            return
        orchestrate.respond(rt, incident_id)


@pytest.mark.parametrize("name", sorted(load_all()))
def test_builtin_playbook_contains_at_the_target(name: str, tmp_path: Path, prefect_api: str) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path / "home", rbac={APPROVER: "approver"}))
    prompts = rt.systems.prompts["local"]
    prompts.register(APP, "v1: the good system prompt")  # type: ignore[attr-defined]
    prompts.register(APP, "v2: tampered")  # type: ignore[attr-defined]
    book = rt.playbooks[name]
    category = book.trigger.categories[0].value
    alerts = max(s.min_alerts for s in book.steps)  # enough repeats to reach every rung of the ladder
    body = "\n".join(json.dumps({"title": f"{name} {i}", "category": category, "severity": "critical", "app": APP,
                                 "actor": ACTOR, "time": f"2026-11-25T10:00:{i:02d}Z"}) for i in range(alerts))
    incident_id = intake.ingest(rt.db, rt.settings, split(body.encode(), max_bytes=1 << 20)).results[0].incident_id
    assert incident_id
    assert orchestrate.respond(rt, incident_id) is not None
    _finish_everything(rt, incident_id)
    with rt.db.tx() as s:
        rows = incidents.actions_of(s, incident_id)
        incident = incidents.get(s, incident_id)
    done = [r for r in rows if r.status == "done"]
    assert done, f"{name}: nothing was done"
    failures: list[Any] = [(r.step_id, r.name, r.status, r.error) for r in rows if r.status == "failed"]
    assert failures == []
    unverified = [(r.step_id, r.name) for r in done if not _verifier(rt, r)()]
    assert unverified == [], f"{name}: done but not so at the target"
    assert incident.status == "contained", f"{name}: {[(r.step_id, r.status, r.phase) for r in rows]}"
