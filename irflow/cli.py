"""`irflow` command line. JSON output shapes are a public interface (see README); errors are one line on
stderr with a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from irflow import audit, incidents, runtime
from irflow.bodies import BodyError, split
from irflow.connectors.errors import ConnectorError
from irflow.incidents import IncidentNotFound
from irflow.decisions import DecisionError
from irflow.playbook import PlaybookError
from irflow.lifecycle import TransitionError
from irflow.euaiact import SeriousError
from irflow.suppression import SuppressionError
from irflow.rbac import Forbidden
from irflow.runbook import RunbookError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Incident response for AI security.",
)
incidents_app = typer.Typer(no_args_is_help=True, help="Look at incidents.")
gateway_app = typer.Typer(no_args_is_help=True, help="The embedded gateway twin.")
db_app = typer.Typer(no_args_is_help=True, help="The irflow database.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
alerts_app = typer.Typer(no_args_is_help=True, help="Alerts and dead letters.")
app.add_typer(incidents_app, name="incidents")
app.add_typer(gateway_app, name="gateway")
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
app.add_typer(alerts_app, name="alerts")

from irflow import cli_response  # noqa: E402 - the response commands live in their own module

app.add_typer(cli_response.actions_app, name="actions")
app.add_typer(cli_response.playbooks_app, name="playbooks")
app.add_typer(cli_response.automation_app, name="automation")
app.command("approve")(cli_response.approve)
app.command("reject")(cli_response.reject)
incidents_app.command("false-positive")(cli_response.false_positive)
for _verb in ("resolve", "close", "reopen", "assign"):
    incidents_app.command(_verb)(getattr(cli_response, _verb))

from irflow import cli_incidents  # noqa: E402

for _name, _fn in (("ack", cli_incidents.ack), ("merge", cli_incidents.merge),
                   ("flag-serious", cli_incidents.flag_serious), ("reported", cli_incidents.reported),
                   ("report", cli_incidents.report)):
    incidents_app.command(_name)(_fn)
alerts_app.command("move")(cli_incidents.move_alert)
alerts_app.command("export")(cli_incidents.export_alerts)
app.command("metrics")(cli_incidents.show_metrics)
app.command("purge")(cli_incidents.purge)

from irflow.cli_jira import jira_cli  # noqa: E402

app.add_typer(jira_cli, name="jira")
app.add_typer(cli_incidents.suppress_app, name="suppress")

EXIT_REJECTED = 65  # EX_DATAERR: some input items were refused
# Piped output is not squeezed to 80 columns: tables stay readable in logs and CI.
out = Console() if sys.stdout.isatty() else Console(width=200)
err = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=200)


class CliError(Exception):
    """A user-facing failure: printed as one line, exit 1."""


def _rt() -> runtime.Runtime:
    from irflow import logs
    from irflow.settings import IrflowSettings

    settings = IrflowSettings()
    logs.configure(settings.log_format, logging.WARNING)
    runtime.configure_prefect(settings)
    return runtime.create(settings)


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


def ingest_bytes(rt: runtime.Runtime, raw: bytes, source: str | None, wait: bool, via: str = "cli"):  # type: ignore[no-untyped-def]
    from irflow import intake, orchestrate

    try:
        items = split(raw, max_bytes=rt.settings.max_batch_bytes, max_item_bytes=rt.settings.max_alert_bytes)
    except BodyError as exc:
        raise CliError(str(exc)) from None
    report = intake.ingest(rt.db, rt.settings, items, source=source, via=via)
    if wait:
        orchestrate.follow_up(rt, report)
        orchestrate.check_usage(rt)  # telemetry in this batch may have pushed a key over a volume limit
        orchestrate.deliver(rt)
    return report


@app.command()
def ingest(
    path: Annotated[str, typer.Argument(help="File with one JSON alert, an array, or JSON lines; - for stdin.")],
    source: Annotated[str | None, typer.Option(help="Source product; detected from the body when omitted.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Run playbooks until done or awaiting approval.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per input item.")] = False,
) -> None:
    """Ingest alerts from a file or stdin."""
    rt = _rt()
    report = ingest_bytes(rt, _read(path), source, wait)
    if as_json:
        _print_json([r.as_json() for r in report.results])
    else:
        for r in report.results:
            line = r.as_json()
            err.print(f"[{line['index']}] " + (f"rejected: {line['error']}" if "error" in line else
                      f"ignored: {line['reason']}" if "ignored" in line else
                      f"{'duplicate of' if r.duplicate else 'alert'} {line['alert_id']} -> incident {line['incident_id']}"),
                      markup=False, highlight=False)
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


def _incidents_table(views: list[dict[str, Any]]) -> Table:
    """One row per action, the incident's columns on its first row."""
    table = Table(title="irflow incidents")
    for col in ("incident", "status", "severity", "category", "alerts", "action", "target", "action status",
                "jira", "slack"):
        table.add_column(col, no_wrap=col in ("incident", "action", "action status"))
    for v in views:
        acts = v.get("actions") or [{"name": "-", "target": "-", "status": "-"}]
        for n, a in enumerate(acts):
            head = (v["id"], v["status"], v["severity"], v["category"], str(v["alert_count"])) if n == 0 else ("",) * 5
            tail = (v["jira_key"] or "-", v["slack_channel"] or "-") if n == 0 else ("", "")
            table.add_row(*head, a["name"], a["target"], a["status"], *tail, end_section=n == len(acts) - 1)
    return table


@incidents_app.command("list")
def incidents_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List incidents, newest first."""
    rt = _rt()
    with rt.db.tx() as s:
        views = [incidents.incident_view(s, row) for row in incidents.list_incidents(s)]
    if as_json:
        _print_json(views)
    else:
        out.print(_incidents_table(views), markup=False, highlight=False)


@incidents_app.command("show")
def incidents_show(incident_id: str, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show one incident with its actions and timeline."""
    rt = _rt()
    with rt.db.tx() as s:
        view = incidents.incident_view(s, incidents.get(s, incident_id))
    if as_json:
        _print_json(view)
        return
    out.print(_incidents_table([view]), markup=False, highlight=False)
    for t in view["timeline"]:
        out.print(f"{t['at']}  {t['kind']:<9} {t['text']}", markup=False, highlight=False)


@gateway_app.command("check")
def gateway_check(
    key: Annotated[str | None, typer.Option("--key", help="API key of the request.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="End user of the request.")] = None,
    session: Annotated[str | None, typer.Option("--session", help="Session/conversation of the request.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team that owns the request's key.")] = None,
) -> None:
    """Would the embedded gateway let a request through? Exit 0 allowed, 1 denied."""
    if not key and not user and not session and not team:
        raise CliError("give --key, --user, --session and/or --team")
    decision = _rt().systems.gateway.check(key=key, user=user, session=session, team=team)
    _print_json({"allowed": decision.allowed, "reason": decision.reason})
    if not decision.allowed:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations (also done automatically at start-up)."""
    rt = _rt()
    from irflow.store.engine import current_revision

    err.print(f"database at revision {current_revision(rt.db.engine)}", markup=False)


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit hash chain; exit 1 and name the first broken link if any."""
    with _rt().db.tx() as s:
        result = audit.verify(s)
    if not result.ok:
        raise CliError(f"audit chain broken at seq {result.first_broken_seq}: {result.problem}")
    err.print(f"audit chain intact: {result.checked} events", markup=False)


@audit_app.command("export")
def audit_export() -> None:
    """Write the audit log as JSON lines (for a SIEM)."""
    with _rt().db.tx() as s:
        for event in audit.export(s):
            sys.stdout.write(event.model_dump_json() + "\n")


@alerts_app.command("rejected")
def alerts_rejected(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show what intake refused (the dead-letter table)."""
    from sqlalchemy import select

    from irflow.redaction import redact
    from irflow.store.tables import RejectedRow

    with _rt().db.tx() as s:
        rows = list(s.execute(select(RejectedRow).order_by(RejectedRow.id.desc()).limit(200)).scalars())
        views = [{"id": r.id, "at": r.at.isoformat(), "source": r.source, "error": str(redact(r.error)),
                  "body": str(redact(r.body, max_len=300))} for r in rows]
    if as_json:
        _print_json(views)
        return
    for v in views:
        out.print(f"{v['at']}  {v['error']}\n    {v['body']}", markup=False, highlight=False)


@app.command()
def doctor() -> None:
    """Check configuration and reach every configured system."""
    from irflow.doctor import run_checks

    ok = True
    for name, state, detail in run_checks(_rt()):
        ok &= state != "error"
        out.print(f"{name:<10} {state:<22} {detail}", markup=False, highlight=False)
    if not ok:
        raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Run the main job on embedded defaults: ingest the sample alerts and respond to them."""
    from irflow.demo import run_demo

    run_demo(_rt(), out, err)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the HTTP intake and read API; respond to incidents as alerts arrive."""
    from irflow.server import run_server

    run_server(_rt(), host, port)


def main() -> None:
    try:
        app()
    except (CliError, BodyError, ConnectorError, IncidentNotFound, PlaybookError, DecisionError, Forbidden,
            RunbookError, TransitionError, SuppressionError, SeriousError) as exc:
        from irflow.redaction import redact

        err.print(f"irflow: error: {redact(str(exc), max_len=2000, pii=False)}", markup=False, highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
