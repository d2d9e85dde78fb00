"""`irflow jira ...`: the Jira sync by hand (or from cron), for a Jira that cannot reach irflow's webhook.

`poll` applies what people did on incidents' issues recently (Done resolves, `/irflow` comments run);
`reconcile` closes duplicate issues, re-drives stalled syncs and flushes held-back timeline comments.
Both then deliver the outbox, so what they changed reaches Slack and Jira before the command returns.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Annotated

import typer

from irflow import jira_sync, orchestrate

jira_cli = typer.Typer(no_args_is_help=True, help="Jira: poll for changes, reconcile duplicates.")


def _rt():  # type: ignore[no-untyped-def]
    from irflow.cli import _rt as build

    return build()


def _show(report: jira_sync.SyncReport, total_closed: int, as_json: bool) -> None:
    view = dataclasses.asdict(report) | {"duplicates_closed_total": total_closed}
    if as_json:
        sys.stdout.write(json.dumps(view, indent=2) + "\n")
        return
    for name, items in view.items():
        if isinstance(items, list) and items:
            typer.echo(f"{name.replace('_', ' ')}: {', '.join(items)}")
    typer.echo(f"duplicates closed so far: {total_closed}")
    if report.errors:
        raise typer.Exit(1)


@jira_cli.command("poll")
def poll(
    minutes: Annotated[int | None, typer.Option(help="Look at issues updated this many minutes back.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Apply what people did on incidents' Jira issues (the fallback for Jira without webhooks)."""
    rt = _rt()
    report = jira_sync.poll(rt, minutes)
    orchestrate.deliver(rt)
    _show(report, jira_sync.duplicates_closed(rt.db), as_json)


@jira_cli.command("reconcile")
def reconcile(as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Close duplicate issues, catch up issues that fell behind, flush batched timeline comments."""
    rt = _rt()
    report = jira_sync.reconcile(rt)
    orchestrate.deliver(rt)
    _show(report, jira_sync.duplicates_closed(rt.db), as_json)
