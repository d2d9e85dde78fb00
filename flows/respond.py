"""Prefect flows: run a playbook for an incident (one flow run per incident or decision, never per alert),
run undos, and the manual entry point served as a deployment for the Prefect UI.

Parameters are ids only, so no attacker-controlled text becomes a Prefect parameter; the artifact is
built from SafeText.
"""

from __future__ import annotations

import time

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.states import State

from irflow import decisions, enrich, incidents, response, runtime
from irflow.connectors import deadline
from irflow.connectors.errors import ConnectorError, RateLimited
from irflow.models import ActionStatus
from irflow.playbook import OnFailure, Step
from irflow.redaction import redact
from irflow.render import artifact_markdown


def _retryable(task: object, task_run: object, state: State) -> bool:
    """Retry only rate limits and unavailability: anything else will fail the same way again."""
    try:
        state.result()
    except ConnectorError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001 - any other failure is final, never retried
        return False
    return False


MAX_RETRY_AFTER_S = 120.0


@task(name="run-action", retries=2, retry_delay_seconds=1, retry_condition_fn=_retryable)
def run_action(action_id: str, ttl_seconds: int | None = None, timeout_s: float | None = None) -> str:
    """One connector call, recorded in irflow's actions table, within the step's timeout (per attempt). A rate
    limit waits what the target asked (Retry-After, capped) before the retry."""
    rt = runtime.get()
    try:
        with deadline.within(timeout_s):
            return response.execute(rt.db, rt.systems, action_id, ttl_seconds)
    except RateLimited as exc:
        time.sleep(min(max(exc.retry_after, 0.0), MAX_RETRY_AFTER_S))
        raise


@task(name="enrich", retries=0)
def enrich_incident(incident_id: str) -> None:
    """Ask the targets about the actor before the playbook decides; never fails the response."""
    rt = runtime.get()
    enrich.enrich(rt.db, rt.systems, incident_id)


def _run(action_id: str, ttl_seconds: int | None = None, step: Step | None = None) -> str:
    """Run the task (with the step's retries and timeout); a failure after its retries is recorded on the
    action, never lost. Undos have no step: their calls are bounded by the connectors' own timeouts."""
    task_ = run_action if step is None else run_action.with_options(retries=step.retries)
    state = task_(action_id, ttl_seconds, step.timeout if step else None, return_state=True)
    if state.is_completed():
        return str(state.result())
    rt = runtime.get()
    response.set_status(rt.db, action_id, ActionStatus.failed, error=f"gave up after retries: {state.message}")
    return ActionStatus.failed.value


def _rollback(incident_id: str, playbook: str) -> None:
    """Saga: undo this playbook's done actions for the incident, newest first."""
    rt = runtime.get()
    with rt.db.tx() as s:
        done = [r for r in incidents.actions_of(s, incident_id)
                if r.playbook == playbook and r.status == ActionStatus.done.value and r.inverse and r.undo_of is None]
    for row in sorted(done, key=lambda r: r.position, reverse=True):
        _run(decisions.plan_undo(rt.db, rt.settings, row.id, "irflow:rollback", check_role=False))


def _artifact(incident_id: str) -> None:
    rt = runtime.get()
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, incident_id))
    create_markdown_artifact(key=f"irflow-{incident_id}".lower(), markdown=artifact_markdown(view),
                             description="irflow incident response summary")


@flow(name="irflow-respond")
def respond(incident_id: str, playbook: str) -> str:
    """Plan the playbook's steps (idempotently), run what policy allows, then report the incident status."""
    rt = runtime.get()
    book = rt.playbooks[playbook]
    steps = {s.id: s for s in book.steps}
    with rt.db.tx() as s:
        enriched = incidents.get(s, incident_id).enrichment is not None
    if not enriched:
        enrich_incident(incident_id, return_state=True)
    for row in response.ordered(rt.db, response.start(rt.db, rt.settings, rt.systems, book, incident_id)):
        step = steps.get(row.step_id)
        status = _run(row.id, step.ttl_seconds if step else None, step)
        if status != ActionStatus.failed.value or step is None or step.on_failure is OnFailure.continue_:
            continue
        if step.on_failure is OnFailure.rollback:
            _rollback(incident_id, playbook)
        break
    status = response.finish(rt.db, incident_id)
    _artifact(incident_id)
    return status


@flow(name="irflow-undo")
def undo(action_ids: list[str]) -> list[str]:
    """Run recorded undo actions (from `irflow actions undo`, a false positive, or an expired TTL)."""
    rt = runtime.get()
    statuses = [_run(action_id) for action_id in action_ids]
    touched = {r.incident_id for r in response.ordered(rt.db, action_ids)}
    for incident_id in touched:
        response.finish(rt.db, incident_id)
    return statuses


@flow(name="irflow-run-playbook")
def run_playbook(playbook: str, incident_id: str, dry_run: bool = False) -> list[dict[str, object]] | str:
    """The form an analyst fills in the Prefect UI. Approval-gated steps still wait for an irflow approver."""
    rt = runtime.get()
    if dry_run:
        with rt.db.tx() as s:
            context = response.incident_context(s, incidents.get(s, incident_id))
            g = response.guard(s, rt.settings, rt.systems, response.utcnow())
        return [{k: str(redact(str(v), pii=False)) for k, v in row.items()}
                for row in response.dry_run(rt.systems, rt.playbooks[playbook], context, g)]
    from prefect.runtime import flow_run

    with rt.db.tx() as s:
        incidents.add_timeline(s, incident_id, "playbook",
                               f"Playbook {playbook} run from Prefect (flow run {flow_run.id}, deployment run)")
    return respond(incident_id=incident_id, playbook=playbook)
