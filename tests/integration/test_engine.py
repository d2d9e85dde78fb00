"""Playbook engine on a real Prefect server: approvals granted / rejected / timed out, undo of each action
kind, rollback after a failing step, re-runs after a crash repeat nothing, guardrails, dry-run changes
nothing anywhere. The runtime, alerts and playbook steps come from engine_rig.py and playbook_yaml.py."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from irflow import decisions, enrich, incidents, orchestrate, rbac, response, runtime
from irflow.models import utcnow
from irflow.store.tables import ActionRow, AuditRow
from tests.contract.litellm_server import MASTER_KEY
from tests.integration.engine_rig import APPROVER, OUTSIDER, _actions, _alert, litellm_in_env
from tests.integration.engine_rig import fixture_make_rt  # noqa: F401 - fixtures, found by name
from tests.integration.playbook_yaml import GATED_BLOCK, SUSPEND

pytestmark = pytest.mark.integration


def test_approval_granted_runs_the_step(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + GATED_BLOCK)
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    acts = _actions(rt, incident_id)
    assert acts["suspend"].status == "done" and acts["block-key"].status == "awaiting_approval"
    assert rt.systems.gateway.check(key="app-key-1").allowed
    with pytest.raises(rbac.Forbidden):
        decisions.approve(rt.db, rt.settings, acts["block-key"].id, OUTSIDER)
    orchestrate.respond(rt, decisions.approve(rt.db, rt.settings, acts["block-key"].id, APPROVER))
    after = _actions(rt, incident_id)["block-key"]
    assert after.status == "done" and after.approved_by == APPROVER
    assert not rt.systems.gateway.check(key="app-key-1").allowed
    with rt.db.tx() as s:
        kinds = [r.kind for r in s.execute(select(AuditRow)).scalars()]
    assert "rbac.refused" in kinds and "action.approved" in kinds


def test_approval_rejected_never_runs(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(GATED_BLOCK)
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    action_id = _actions(rt, incident_id)["block-key"].id
    orchestrate.respond(rt, decisions.reject(rt.db, rt.settings, action_id, APPROVER, "business-critical key"))
    assert _actions(rt, incident_id)["block-key"].status == "rejected"
    assert rt.systems.gateway.check(key="app-key-1").allowed
    with pytest.raises(decisions.DecisionError, match="not awaiting_approval"):
        decisions.approve(rt.db, rt.settings, action_id, APPROVER)


def test_approval_timeout_escalates_and_skips(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + GATED_BLOCK, approval_timeout_minutes=30)
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    orchestrate.tick(rt, utcnow() + timedelta(minutes=29))
    assert _actions(rt, incident_id)["block-key"].status == "awaiting_approval"
    orchestrate.tick(rt, utcnow() + timedelta(minutes=31))
    blocked = _actions(rt, incident_id)["block-key"]
    assert blocked.status == "skipped" and "timed out" in blocked.reason
    with rt.db.tx() as s:
        timeline = [t.kind for t in incidents.timeline_of(s, incident_id)]
    assert "escalation" in timeline
    assert rt.systems.gateway.check(key="app-key-1").allowed


def test_undo_each_action_kind(make_rt) -> None:  # type: ignore[no-untyped-def]
    steps = SUSPEND + """\
- id: block-key
  action: keys.block
  args: {key: "{{ incident.actor.api_key }}"}
- id: limit-key
  action: keys.rate_limit
  args: {key: "other-key", rpm_limit: "5"}
- id: rollback-prompt
  action: prompts.rollback
  args: {prompt: "support-bot"}
"""
    rt = make_rt(steps)
    prompts = rt.systems.prompts["local"]
    prompts.register("support-bot", "v1")  # type: ignore[attr-defined]
    prompts.register("support-bot", "v2 tampered")  # type: ignore[attr-defined]
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    gw = rt.systems.gateway
    assert not gw.check(user="eve").allowed and not gw.check(key="app-key-1").allowed
    assert prompts.current_version("support-bot") == 1
    assert gw.keys.info("other-key")["rpm_limit"] == 5
    for step in ("suspend", "block-key", "limit-key", "rollback-prompt"):
        undo_id = decisions.plan_undo(rt.db, rt.settings, _actions(rt, incident_id)[step].id, APPROVER)
        assert orchestrate.run_undo(rt, [undo_id]) == ["done"], step
        assert _actions(rt, incident_id)[step].status == "undone"
    assert gw.check(user="eve").allowed and gw.check(key="app-key-1").allowed
    assert prompts.current_version("support-bot") == 2
    assert gw.keys.info("other-key")["rpm_limit"] is None
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).status == "open"


def test_failing_step_rolls_back_what_ran(make_rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with litellm_in_env(monkeypatch, master_key="sk-wrong-master-key-for-test"):
        rt = make_rt(SUSPEND.replace("action: users.suspend", "action: users.suspend\n  target: local") + """\
- id: block-at-gateway
  action: keys.block
  target: litellm
  on_failure: rollback
  args: {key: "{{ incident.actor.api_key }}"}
- id: never-reached
  action: keys.block
  target: local
  args: {key: "second-key"}
""")
        incident_id = _alert(rt)
        orchestrate.respond(rt, incident_id)
    acts = _actions(rt, incident_id)
    assert acts["block-at-gateway"].status == "failed" and "HTTP 401" in (acts["block-at-gateway"].error or "")
    assert acts["suspend"].status == "undone" and acts["never-reached"].status == "planned"
    assert rt.systems.gateway.check(user="eve").allowed and rt.systems.gateway.check(key="second-key").allowed


def test_rerun_after_crash_repeats_nothing(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + GATED_BLOCK.replace("requires_approval: true", "requires_approval: false"))
    incident_id = _alert(rt)
    book = rt.playbooks["prompt_injection"]
    ids = response.start(rt.db, rt.settings, rt.systems, book, incident_id)
    first = response.ordered(rt.db, ids)[0]
    response.execute(rt.db, rt.systems, first.id)  # the crashed run got this far
    with rt.db.tx() as s:  # ...and died while the second call was in flight
        row = s.get(ActionRow, response.ordered(rt.db, ids)[1].id)
        row.status, row.updated_at = "running", utcnow() - response.STALE_RUNNING - timedelta(seconds=1)
    orchestrate.respond(rt, incident_id)
    orchestrate.respond(rt, incident_id)  # a duplicate trigger
    acts = _actions(rt, incident_id)
    assert acts["suspend"].status == "done" and acts["block-key"].status == "done"
    with rt.db.tx() as s:
        done_events = s.execute(select(AuditRow).where(AuditRow.kind == "action.done")).scalars().all()
    assert sorted(e.subject for e in done_events) == sorted([acts["suspend"].id, acts["block-key"].id])


def test_guardrails_protected_identity_and_blast_radius(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND, protected_users=["breakglass"], blast_radius_max=2)
    protected = _alert(rt, user="breakglass")
    orchestrate.respond(rt, protected)
    step = _actions(rt, protected)["suspend"]
    assert step.status == "awaiting_approval" and "protected identity" in step.reason
    for n in range(2):
        orchestrate.respond(rt, _alert(rt, user=f"user{n}", session=f"s{n}"))
    over = _alert(rt, user="user9", session="s9")
    orchestrate.respond(rt, over)
    step = _actions(rt, over)["suspend"]
    assert step.status == "awaiting_approval" and "blast-radius" in step.reason
    assert rt.systems.gateway.check(user="user9").allowed


def test_paused_automation_plans_but_executes_nothing(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND, rbac={APPROVER: "admin"})
    decisions.set_paused(rt.db, rt.settings, APPROVER, True, "change freeze")
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    assert _actions(rt, incident_id)["suspend"].status == "planned"
    assert rt.systems.gateway.check(user="eve").allowed
    decisions.set_paused(rt.db, rt.settings, APPROVER, False)
    for pending in decisions.incidents_with_planned_actions(rt.db):
        orchestrate.respond(rt, pending)
    assert not rt.systems.gateway.check(user="eve").allowed


def test_ttl_undoes_containment_when_it_expires(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + '  ttl: "1h"\n')
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    assert not rt.systems.gateway.check(user="eve").allowed
    orchestrate.tick(rt, utcnow() + timedelta(minutes=59))
    assert not rt.systems.gateway.check(user="eve").allowed
    orchestrate.tick(rt, utcnow() + timedelta(minutes=61))
    assert rt.systems.gateway.check(user="eve").allowed
    assert _actions(rt, incident_id)["suspend"].status == "undone"


def test_false_positive_undoes_and_resolves(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + GATED_BLOCK.replace("requires_approval: true", "requires_approval: false"))
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    undo_ids = decisions.plan_false_positive(rt.db, rt.settings, incident_id, APPROVER, "red-team exercise")
    assert orchestrate.run_undo(rt, undo_ids) == ["done", "done"]
    assert rt.systems.gateway.check(user="eve").allowed and rt.systems.gateway.check(key="app-key-1").allowed
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).status == "resolved"


def _store_fingerprint(rt: runtime.Runtime) -> str:
    digest = hashlib.sha256()
    with rt.db.engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name"))]
        for table in tables:
            for row in conn.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def test_dry_run_changes_nothing_anywhere(make_rt, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from irflow.manual_run import run

    with litellm_in_env(monkeypatch) as proxy:
        proxy.add_key("app-key-1")
        rt = make_rt(SUSPEND + GATED_BLOCK)
        incident_id = _alert(rt)
        alert_file = tmp_path / "alert.json"
        alert_file.write_text('{"title": "pi", "category": "prompt_injection", "severity": "high", '
                              '"actor": {"user": "zed", "api_key": "app-key-1"}}')
        before, seen = _store_fingerprint(rt), len(proxy.requests)
        by_incident = run(rt, "prompt_injection", incident_id, None, True, APPROVER)
        by_alert = run(rt, "prompt_injection", None, alert_file, True, APPROVER)
        assert _store_fingerprint(rt) == before
        assert [r for r in proxy.requests[seen:] if r.method != "GET"] == []
    steps = {s["step"]: s for s in by_incident["steps"]}
    assert steps["block-key"]["needs_approval"] is True and steps["suspend"]["system"] == "litellm"
    assert "block" in (steps["block-key"]["call"] or "")
    assert {s["step"] for s in by_alert["steps"]} == {"suspend", "block-key"}


def test_enrichment_runs_before_the_playbook_and_shows_history(make_rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with litellm_in_env(monkeypatch) as proxy:
        proxy.add_key("app-key-1", key_alias="support-bot-prod", team_id="support", spend=12.5)
        rt = make_rt(SUSPEND)
        first = _alert(rt)
        with rt.db.tx() as s:
            incidents.get(s, first).status = "resolved"
        second = _alert(rt, session="s-2")  # same user, not the same delivery
        orchestrate.respond(rt, second)
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, second))
        kinds = [t.kind for t in incidents.timeline_of(s, second)]
    found = view["enrichment"]
    assert found["key"]["system"] == "litellm" and found["key"]["key_alias"] == "support-bot-prod"
    assert found["key"]["blocked"] is False and found["key"]["spend"] == 12.5
    assert found["user"]["blocked"] is False  # asked before the playbook suspended the user
    assert found["history"] == {"earlier_incidents": 1, "alerts_total": 2}
    assert kinds.index("enrichment") < kinds.index("decision")


def test_enrichment_survives_an_unreachable_target(make_rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from irflow.prefect_server import free_port

    monkeypatch.setenv("LITELLM_PROXY_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LITELLM_MASTER_KEY", MASTER_KEY)
    rt = make_rt(SUSPEND.replace("action: users.suspend", "action: users.suspend\n  target: local"))
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    with rt.db.tx() as s:
        incident = incidents.get(s, incident_id)
    assert "unavailable" in incident.enrichment["key"] and incident.status == "contained"


def test_escalation_ladder_advances_with_repeats(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt("""\
- id: block-session
  action: sessions.block
  args: {session: "{{ incident.actor.session }}"}
- id: suspend-user
  action: users.suspend
  min_alerts: 2
  args: {user: "{{ incident.actor.user }}"}
- id: block-key
  action: keys.block
  min_alerts: 3
  requires_approval: true
  phase: recover
  args: {key: "{{ incident.actor.api_key }}"}
""")
    incident_id = _alert(rt, session="s-1")
    orchestrate.respond(rt, incident_id)
    gw = rt.systems.gateway
    assert not gw.check(session="s-1").allowed and gw.check(user="eve").allowed
    assert set(_actions(rt, incident_id)) == {"block-session"}
    assert orchestrate.escalate(rt, [incident_id]) == []  # no repeat yet: no flow run
    assert _alert(rt, session="s-2") == incident_id  # same user, second alert
    assert orchestrate.escalate(rt, [incident_id]) == [incident_id]
    assert not gw.check(user="eve").allowed and set(_actions(rt, incident_id)) == {"block-session", "suspend-user"}
    assert _alert(rt, session="s-3") == incident_id
    orchestrate.escalate(rt, [incident_id])
    assert _actions(rt, incident_id)["block-key"].status == "awaiting_approval"
    assert orchestrate.escalate(rt, [incident_id]) == []  # every rung planned: repeats run nothing


def test_rejected_containment_still_lets_the_incident_settle(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND + GATED_BLOCK)
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).status == "open"
    orchestrate.respond(rt, decisions.reject(rt.db, rt.settings, _actions(rt, incident_id)["block-key"].id,
                                             APPROVER, "not this key"))
    with rt.db.tx() as s:
        assert incidents.get(s, incident_id).status == "contained"


def test_step_flows_run_and_custom_ones_are_gated(make_rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "stepflows"))
    monkeypatch.setenv("IRFLOW_FLOW_MODULES", "custom_flow")
    from irflow import step_flows

    monkeypatch.setattr(step_flows, "_loaded", False)
    rt = make_rt("""\
- id: evidence
  action: flow.collect_evidence
- id: quarantine
  action: flow.quarantine_document
  args: {document: "kb/faq.md"}
""")
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    acts = _actions(rt, incident_id)
    assert acts["evidence"].status == "done" and acts["evidence"].after == {"alerts": 1}
    assert acts["quarantine"].status == "awaiting_approval"  # not declared reversible/low-impact
    orchestrate.respond(rt, decisions.approve(rt.db, rt.settings, acts["quarantine"].id, APPROVER))
    after = _actions(rt, incident_id)["quarantine"]
    assert after.status == "done" and after.after == {"quarantined": "kb/faq.md", "incident": incident_id}


def test_a_step_timeout_bounds_a_slow_target(make_rt, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with litellm_in_env(monkeypatch) as proxy:
        proxy.add_key("app-key-1")
        rt = make_rt("""\
- id: block-at-gateway
  action: keys.block
  target: litellm
  timeout: 1
  retries: 0
  args: {key: "{{ incident.actor.api_key }}"}
""")
        incident_id = _alert(rt)
        enrich.enrich(rt.db, rt.systems, incident_id)  # done first, so the slow answer below is the step's
        proxy.delay_next(4)  # answered well within LiteLLM's own 10 s timeout, but not within the step's 1 s
        orchestrate.respond(rt, incident_id)
    step = _actions(rt, incident_id)["block-at-gateway"]
    assert step.status == "failed" and "step timeout of 1s reached" in (step.error or ""), step.error


def test_a_retry_that_finds_the_change_made_says_the_before_state_is_uncertain(  # type: ignore[no-untyped-def]
        make_rt, monkeypatch) -> None:
    with litellm_in_env(monkeypatch) as proxy:
        proxy.add_key("app-key-1")
        rt = make_rt("""\
- id: block-at-gateway
  action: keys.block
  target: litellm
  retries: 1
  ttl: 4h
  args: {key: "{{ incident.actor.api_key }}"}
""")
        incident_id = _alert(rt)
        proxy.lose_next_answer()  # the block lands, the answer is a 504: the retry finds the key blocked
        orchestrate.respond(rt, incident_id)
        assert not proxy.authenticates("app-key-1")
    step = _actions(rt, incident_id)["block-at-gateway"]
    assert step.status == "done"
    with rt.db.tx() as s:
        timeline = [t.text for t in incidents.timeline_of(s, incident_id)]
        done = s.execute(select(AuditRow).where(AuditRow.kind == "action.done")).scalars().one()
    assert any("may have made this change" in t for t in timeline), timeline
    assert done.data.get("before_uncertain") is True
    assert step.expires_at is None and any("time limit is not applied" in t for t in timeline), \
        "no automatic undo from a before-state that may be wrong"


def test_a_first_attempt_that_finds_the_change_made_is_not_uncertain(make_rt) -> None:  # type: ignore[no-untyped-def]
    rt = make_rt(SUSPEND)
    rt.systems.gateway.users.suspend("eve")  # suspended before the incident, by someone else
    incident_id = _alert(rt)
    orchestrate.respond(rt, incident_id)
    with rt.db.tx() as s:
        timeline = [t.text for t in incidents.timeline_of(s, incident_id)]
    assert _actions(rt, incident_id)["suspend"].status == "done"
    assert not any("may have made this change" in t for t in timeline)
