"""The playbook flow as a Prefect deployment, served by `irflow serve`: an analyst picks a playbook and an
incident (and dry-run) in the Prefect UI's parameter form and runs it; the run shows up in the incident
like any other. Approval-gated steps still wait for an irflow approver: the UI cannot approve."""

from __future__ import annotations

import asyncio
import logging
import threading

DEPLOYMENT = "irflow-run-playbook/run-playbook"
log = logging.getLogger("irflow.deployment")


class ServedDeployment:
    """The runner thread and its loop, so `irflow serve` can stop it before it stops the Prefect server."""

    def __init__(self, runner: object, thread: threading.Thread, loop: asyncio.AbstractEventLoop) -> None:
        self.runner, self.thread, self.loop = runner, thread, loop

    def stop(self, timeout: float = 15) -> None:
        if self.loop.is_running():
            future = asyncio.run_coroutine_threadsafe(self.runner.astop(), self.loop)  # type: ignore[attr-defined]
            try:
                future.result(timeout)
            except Exception:  # noqa: BLE001 - shutting down: report, never block the exit
                log.warning("the deployment runner did not stop cleanly")
        self.thread.join(timeout)


def serve_in_background(query_seconds: float = 2.0) -> ServedDeployment:
    """Register the deployment and poll for its runs on a daemon thread (runs execute in subprocesses that
    inherit IRFLOW_HOME and the connector settings)."""
    from prefect.flows import EntrypointType
    from prefect.runner import Runner

    from irflow.flows.respond import run_playbook

    runner = Runner(name="irflow", query_seconds=query_seconds, pause_on_shutdown=False)

    async def register() -> None:
        await runner.add_flow(  # type: ignore[misc]  # Prefect's sync/async dual signature confuses mypy
            run_playbook, name="run-playbook", entrypoint_type=EntrypointType.MODULE_PATH,
            description="Run an irflow playbook for an incident (dry-run prints the plan).")

    asyncio.run(register())
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(runner.start())
        except Exception:  # noqa: BLE001 - the UI entry point must never take intake down with it
            log.exception("the Prefect deployment runner stopped; playbooks still run for alerts")

    thread = threading.Thread(target=run, name="irflow-deployment-runner", daemon=True)
    thread.start()
    return ServedDeployment(runner, thread, loop)
