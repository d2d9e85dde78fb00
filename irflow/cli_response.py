"""CLI for the response side: approvals, undo, manual tasks, false positives, automation switch, playbooks.

The caller's identity is the operating-system user (`cli:<user>`), checked against the RBAC map; it is
never a flag the caller sets.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from irflow import decisions, orchestrate, rbac
from irflow.playbook import Playbook, load_all, parse

actions_app = typer.Typer(no_args_is_help=True, help="Act on recorded actions.")
playbooks_app = typer.Typer(no_args_is_help=True, help="Playbooks: list, validate, schema, run, export.")
automation_app = typer.Typer(no_args_is_help=True, help="Pause or resume automatic containment.")


def _rt():  # type: ignore[no-untyped-def]
    from irflow.cli import _rt as build

    return build()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def approve(action_id: str) -> None:
    """Approve an action awaiting approval; the incident's flow then runs it."""
    rt = _rt()
    incident_id = decisions.approve(rt.db, rt.settings, action_id, rbac.cli_principal())
    orchestrate.respond(rt, incident_id)
    orchestrate.deliver(rt)
    typer.echo(f"approved {action_id}")


def reject(action_id: str, reason: Annotated[str, typer.Option(help="Why, for the timeline.")] = "") -> None:
    """Reject an action awaiting approval."""
    rt = _rt()
    incident_id = decisions.reject(rt.db, rt.settings, action_id, rbac.cli_principal(), reason)
    orchestrate.respond(rt, incident_id)
    orchestrate.deliver(rt)
    typer.echo(f"rejected {action_id}")


@actions_app.command("undo")
def actions_undo(action_id: str) -> None:
    """Run the inverse of a done action (itself an audited action)."""
    rt = _rt()
    undo_id = decisions.plan_undo(rt.db, rt.settings, action_id, rbac.cli_principal())
    [status] = orchestrate.run_undo(rt, [undo_id])
    orchestrate.deliver(rt)
    typer.echo(f"undo {undo_id}: {status}")
    if status != "done":
        raise typer.Exit(1)


@actions_app.command("done")
def actions_done(action_id: str) -> None:
    """Mark a manual task done."""
    rt = _rt()
    incident_id = decisions.complete_task(rt.db, rt.settings, action_id, rbac.cli_principal())
    orchestrate.respond(rt, incident_id)
    orchestrate.deliver(rt)
    typer.echo(f"done {action_id}")


def false_positive(incident_id: str, reason: Annotated[str, typer.Option(help="Why it is a false positive.")]) -> None:
    """Undo the incident's containment and resolve it as a false positive."""
    rt = _rt()
    undo_ids = decisions.plan_false_positive(rt.db, rt.settings, incident_id, rbac.cli_principal(), reason)
    statuses = orchestrate.run_undo(rt, undo_ids)
    orchestrate.deliver(rt)
    typer.echo(f"{incident_id}: false positive; {statuses.count('done')} action(s) undone")
    if any(s != "done" for s in statuses):
        raise typer.Exit(1)


@automation_app.command("pause")
def automation_pause(reason: Annotated[str, typer.Option(help="Why, for the audit log.")] = "") -> None:
    """Keep ingesting and planning, but execute nothing automatically."""
    rt = _rt()
    decisions.set_paused(rt.db, rt.settings, rbac.cli_principal(), True, reason)
    typer.echo("automation paused")


@automation_app.command("resume")
def automation_resume() -> None:
    """Execute again, starting with what was planned while paused."""
    rt = _rt()
    decisions.set_paused(rt.db, rt.settings, rbac.cli_principal(), False)
    for incident_id in decisions.incidents_with_planned_actions(rt.db):
        orchestrate.respond(rt, incident_id)
    orchestrate.deliver(rt)
    typer.echo("automation resumed")


@automation_app.command("status")
def automation_status() -> None:
    from irflow.response import automation_paused

    with _rt().db.tx() as s:
        typer.echo("paused" if automation_paused(s) else "running")


@playbooks_app.command("list")
def playbooks_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The playbooks in use (built-ins, overridden by IRFLOW_PLAYBOOKS)."""
    books = _rt().playbooks
    rows = [{"name": b.name, "title": b.title, "status": b.status, "severity": b.severity.value,
             "categories": [c.value for c in b.trigger.categories], "owasp": b.owasp_ids, "atlas": b.atlas_ids,
             "steps": [s.action for s in b.steps], "version": b.version_hash[:12]} for b in books.values()]
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['name']:<28} {r['severity']:<9} {','.join(r['categories']):<28} {' -> '.join(r['steps'])}")


@playbooks_app.command("validate")
def playbooks_validate(path: Annotated[Path | None, typer.Argument(help="A file or folder; default: all in use.")] = None) -> None:
    """Validate playbooks (schema, actions, runbook references); exit 1 naming every problem."""
    from irflow.playbook_check import check

    books = _load(path)
    problems = check(books.values())
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{len(books)} playbook(s) valid")


def _load(path: Path | None) -> dict[str, Playbook]:
    if path is None:
        return _rt().playbooks
    if path.is_dir():
        return load_all(path)
    return {path.stem: parse(path.read_text("utf-8"), path.stem)}


@playbooks_app.command("schema")
def playbooks_schema() -> None:
    """JSON Schema of the playbook format, for editors."""
    _print_json(Playbook.model_json_schema())


@playbooks_app.command("run")
def playbooks_run(
    name: str,
    incident: Annotated[str | None, typer.Option("--incident", help="Run for this incident.")] = None,
    alert: Annotated[Path | None, typer.Option("--alert", help="Run for this alert file.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing anywhere.")] = False,
) -> None:
    """Trigger a playbook by hand for an incident or an alert file."""
    from irflow.manual_run import run

    if (incident is None) == (alert is None):
        raise typer.BadParameter("give exactly one of --incident or --alert")
    _print_json(run(_rt(), name, incident, alert, dry_run, rbac.cli_principal()))


@playbooks_app.command("export")
def playbooks_export(
    name: str, fmt: Annotated[str, typer.Option("--format", help="Only cacao (OASIS CACAO v2 JSON).")] = "cacao"
) -> None:
    """Export a playbook as OASIS CACAO v2 JSON."""
    from irflow.cacao import to_cacao

    if fmt != "cacao":
        raise typer.BadParameter(f"unknown format {fmt!r}; only cacao")
    books = _rt().playbooks
    if name not in books:
        raise typer.BadParameter(f"no playbook named {name!r}")
    _print_json(to_cacao(books[name]))


def resolve(incident_id: str, note: Annotated[str, typer.Option("--note", help="Resolution note.")] = "") -> None:
    """Resolve an incident."""
    from irflow import lifecycle

    rt = _rt()
    typer.echo(f"{incident_id}: {lifecycle.transition(rt.db, rt.settings, incident_id, rbac.cli_principal(), 'resolve', note)}")
    orchestrate.deliver(rt)


def close(incident_id: str) -> None:
    """Close a resolved incident."""
    from irflow import lifecycle

    rt = _rt()
    typer.echo(f"{incident_id}: {lifecycle.transition(rt.db, rt.settings, incident_id, rbac.cli_principal(), 'close')}")
    orchestrate.deliver(rt)


def reopen(incident_id: str, note: Annotated[str, typer.Option("--note")] = "") -> None:
    """Reopen an incident."""
    from irflow import lifecycle

    rt = _rt()
    typer.echo(f"{incident_id}: {lifecycle.transition(rt.db, rt.settings, incident_id, rbac.cli_principal(), 'reopen', note)}")
    orchestrate.deliver(rt)


def assign(incident_id: str, user: str) -> None:
    """Assign an incident to a responder."""
    from irflow import lifecycle

    rt = _rt()
    lifecycle.assign(rt.db, rt.settings, incident_id, rbac.cli_principal(), user)
    orchestrate.deliver(rt)
    typer.echo(f"{incident_id}: assigned to {user}")
