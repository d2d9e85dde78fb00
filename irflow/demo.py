"""`irflow demo`: the main job on embedded defaults, end to end, with nothing to configure."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console

from irflow import incidents, orchestrate
from irflow.runtime import Runtime


def sample_files() -> list[Path]:
    """examples/alerts/, shipped inside the package as irflow.examples."""
    folder = resources.files("irflow.examples")
    return sorted((Path(str(p)) for p in folder.iterdir() if p.name.endswith((".json", ".ndjson"))), key=lambda p: p.name)


def run_demo(rt: Runtime, out: Console, err: Console) -> None:
    from irflow.cli import _incidents_table, ingest_bytes

    touched: list[str] = []
    with err.status("ingesting sample alerts") as status:
        for path in sample_files():
            status.update(f"ingesting {path.name}")
            report = ingest_bytes(rt, path.read_bytes(), None, wait=False, via="demo")
            touched += [r.incident_id for r in report.results if r.incident_id and r.incident_id not in touched]
            dups = sum(r.duplicate for r in report.results)
            err.print(f"  {path.name}: {report.accepted - dups} new alert(s), {dups} already seen, "
                      f"{len(report.new_incidents)} new incident(s)", markup=False, highlight=False)
        for incident_id in touched:
            status.update(f"running the playbook for {incident_id} through Prefect (first run starts Prefect)")
            orchestrate.respond(rt, incident_id)
        status.update("opening Jira issues and Slack channels (local twins)")
        orchestrate.deliver(rt)
    with rt.db.tx() as s:
        views = [incidents.incident_view(s, incidents.get(s, i)) for i in touched]
    out.print(_incidents_table(views), markup=False, highlight=False)
    _show_gateway(rt, views, out)
    out.print(f"state: {rt.settings.db_url}   try: irflow incidents show {touched[0]}", markup=False)


def _show_gateway(rt: Runtime, views: list[dict], out: Console) -> None:
    """Replay one request per contained actor through the embedded gateway: it must now be refused."""
    with rt.db.tx() as s:
        actors = [incidents.get(s, v["id"]).actor for v in views]
    for actor in actors:
        user, key = actor.get("user"), actor.get("api_key")
        decision = rt.systems.gateway.check(user=user) if user else rt.systems.gateway.check(key=key)
        shown = incidents.actor_view(actor)
        who = f"user {shown['user']}" if user else f"key {shown['api_key']}"
        verdict = "DENIED" if not decision.allowed else "allowed"
        out.print(f"gateway: request from {who}: {verdict} ({decision.reason})", markup=False, highlight=False)
