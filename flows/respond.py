"""The one generic Prefect flow: run a playbook for an incident. One flow run per incident, never per alert.

Parameters are ids only, so no attacker-controlled text becomes a Prefect parameter; the artifact is
built from SafeText.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact

from irflow import incidents, response, runtime
from irflow.connectors.errors import ConnectorError
from irflow.redaction import compose, redact


def _retryable(task: object, task_run: object, state: object) -> bool:
    """Retry only rate limits and unavailability: anything else will fail the same way again."""
    try:
        state.result()  # type: ignore[attr-defined]
    except ConnectorError as exc:
        return exc.retryable
    except Exception:  # noqa: BLE001 - any other failure is final, never retried
        return False
    return False


@task(name="run-action", retries=3, retry_delay_seconds=[1, 5, 15], retry_condition_fn=_retryable)
def run_action(action_id: str) -> str:
    """One connector call, recorded in irflow's actions table."""
    rt = runtime.get()
    return response.execute(rt.db, rt.systems, action_id)


def _artifact(incident_id: str) -> None:
    rt = runtime.get()
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, incident_id))
    rows = "\n".join(
        str(compose("| {name} | {target} | {status} |", name=redact(a["name"]), target=redact(a["target"] or ""),
                    status=redact(a["status"])))
        for a in view["actions"]
    )
    head = compose("# {title}\n\nIncident `{id}`: **{status}**, severity {sev}, category {cat}\n\n",
                   title=redact(view["title"]), id=redact(view["id"]), status=redact(view["status"]),
                   sev=redact(view["severity"]), cat=redact(view["category"]))
    create_markdown_artifact(
        key=f"irflow-{incident_id}".lower(),
        markdown=f"{head}| action | target | status |\n|---|---|---|\n{rows}\n",
        description="irflow incident response summary",
    )


@flow(name="irflow-respond")
def respond(incident_id: str, playbook: str) -> str:
    """Plan the playbook's steps (idempotently), run the automatic ones, then report the incident status."""
    rt = runtime.get()
    action_ids = response.start(rt.db, rt.systems, rt.playbooks[playbook], incident_id)
    for action_id in action_ids:
        run_action(action_id, return_state=True)  # a failed step is recorded; the others still run
    status = response.finish(rt.db, incident_id)
    _artifact(incident_id)
    return status
