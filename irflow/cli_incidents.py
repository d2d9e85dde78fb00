"""CLI for incident bookkeeping: acknowledge, merge, move alerts, suppress, EU AI Act, metrics, export."""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from irflow import euaiact, lifecycle, metrics, orchestrate, rbac, suppression
from irflow.models import utcnow

suppress_app = typer.Typer(no_args_is_help=True, help="Suppression (snooze) rules.")


def _rt():  # type: ignore[no-untyped-def]
    from irflow.cli import _rt as build

    return build()


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhd])", text)
    if not match:
        raise typer.BadParameter(f"{text!r}: use a number and m, h or d (e.g. 30d)")
    return timedelta(minutes=int(match.group(1)) * {"m": 1, "h": 60, "d": 1440}[match.group(2)])


def ack(incident_id: str) -> None:
    """Acknowledge an incident (stops its time-to-acknowledge clock)."""
    rt = _rt()
    lifecycle.acknowledge(rt.db, rt.settings, incident_id, rbac.cli_principal())
    orchestrate.deliver(rt)
    typer.echo(f"{incident_id}: acknowledged")


def merge(into: str, other: str) -> None:
    """Merge incident OTHER into INTO (its alerts move; it closes)."""
    rt = _rt()
    moved = lifecycle.merge(rt.db, rt.settings, into, other, rbac.cli_principal())
    orchestrate.deliver(rt)
    typer.echo(f"{other} merged into {into}: {moved} alert(s) moved")


def flag_serious(
    incident_id: str,
    kind: Annotated[euaiact.SeriousKind, typer.Option(help="Which Article 73 deadline applies.")] = euaiact.SeriousKind.general,
    aware_at: Annotated[str | None, typer.Option(help="When the provider became aware (ISO 8601); default now.")] = None,
    reason: Annotated[str, typer.Option(help="Why it is serious.")] = "",
) -> None:
    """Flag an incident as serious under the EU AI Act; irflow tracks the reporting deadline."""
    rt = _rt()
    try:
        when = datetime.fromisoformat(aware_at) if aware_at else None
    except ValueError:
        raise typer.BadParameter(f"--aware-at {aware_at!r} is not an ISO 8601 time") from None
    if when is not None and when.tzinfo is None:
        raise typer.BadParameter("--aware-at needs a timezone, e.g. 2026-11-25T09:00:00+00:00")
    due = euaiact.flag(rt.db, rt.settings, incident_id, rbac.cli_principal(), kind, when, reason)
    orchestrate.deliver(rt)
    typer.echo(f"{incident_id}: serious ({kind.value}); report due {due:%Y-%m-%d %H:%M} UTC")


def reported(incident_id: str) -> None:
    """Record that the serious-incident report was filed."""
    rt = _rt()
    euaiact.mark_reported(rt.db, rt.settings, incident_id, rbac.cli_principal())
    typer.echo(f"{incident_id}: report recorded")


def report(incident_id: str, fmt: Annotated[str, typer.Option("--format", help="md or json")] = "md") -> None:
    """Draft the EU AI Act serious-incident report (facts, timeline, actions, affected systems)."""
    if fmt not in ("md", "json"):
        raise typer.BadParameter("--format is md or json")
    draft = euaiact.report(_rt().db, incident_id)
    if fmt == "json":
        _print_json(draft)
    else:
        sys.stdout.write(euaiact.report_markdown(draft))


def move_alert(alert_id: str, to: Annotated[str, typer.Option("--to", help="The incident to move it to.")]) -> None:
    """Re-assign an alert to another incident."""
    rt = _rt()
    origin = lifecycle.move_alert(rt.db, rt.settings, alert_id, to, rbac.cli_principal())
    orchestrate.deliver(rt)
    typer.echo(f"{alert_id}: moved from {origin or 'no incident'} to {to}")


def export_alerts(
    fmt: Annotated[str, typer.Option("--format", help="ocsf (JSON lines of OCSF Detection Findings)")] = "ocsf",
    since: Annotated[str, typer.Option(help="How far back, e.g. 7d.")] = "30d",
) -> None:
    """Export alerts as OCSF Detection Finding (class 2004) JSON lines, redacted (export is egress)."""
    from sqlalchemy import select

    from irflow.normalize.ocsf_export import to_ocsf
    from irflow.store.tables import AlertRow

    if fmt != "ocsf":
        raise typer.BadParameter("only --format ocsf")
    with _rt().db.tx() as s:
        rows = s.execute(select(AlertRow).where(AlertRow.received_at >= utcnow() - _duration(since))
                         .order_by(AlertRow.received_at)).scalars().all()
        for row in rows:
            sys.stdout.write(json.dumps(to_ocsf(row), ensure_ascii=False, default=str) + "\n")


def show_metrics(
    since: Annotated[str, typer.Option(help="Window, e.g. 7d, 24h.")] = "30d",
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """MTTD, MTTA, MTTC, MTTR by category and severity; incidents by status; alert counters."""
    data = metrics.compute(_rt().db, utcnow() - _duration(since))
    if as_json:
        _print_json(data)
        return
    typer.echo(f"since {data['since']} (seconds)")
    for label, values in [("overall", data["overall"]), *data["by_category"].items(), *data["by_severity"].items()]:
        typer.echo(f"{label:<28} " + "  ".join(f"{s}={values[s]}" for s in metrics.STAGES))
    typer.echo(f"incidents by status: {data['incidents_by_status']}")
    typer.echo(f"alerts: ingested {data['alerts_ingested_total']}, rejected {data['alerts_rejected_total']}, "
               f"suppressed {data['alerts_suppressed_total']}")


@suppress_app.command("add")
def suppress_add(
    reason: Annotated[str, typer.Option(help="Why (required; audited).")],
    actor: Annotated[str | None, typer.Option(help="Any actor field value (user, key, session, ip, team).")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    source: Annotated[str | None, typer.Option()] = None,
    hours: Annotated[float, typer.Option("--for-hours", help="Expiry.")] = 24,
) -> None:
    """Snooze matching alerts: stored, but no incident and no playbook until the rule expires."""
    rt = _rt()
    rule = suppression.add(rt.db, rt.settings, rbac.cli_principal(), actor=actor, category=category, source=source,
                           hours=hours, reason=reason)
    typer.echo(f"suppression rule {rule} active for {hours:g}h")


@suppress_app.command("list")
def suppress_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    with _rt().db.tx() as s:
        rows = [{"id": r.id, "actor": r.actor, "category": r.category, "source": r.source, "reason": r.reason,
                 "by": r.created_by, "expires_at": r.expires_at.isoformat(), "hits": r.hits}
                for r in suppression.active(s)]
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        typer.echo(f"{r['id']:>4} actor={r['actor']} category={r['category']} source={r['source']} "
                   f"until {r['expires_at']} hits={r['hits']}: {r['reason']}")


@suppress_app.command("remove")
def suppress_remove(rule_id: int) -> None:
    rt = _rt()
    suppression.remove(rt.db, rt.settings, rbac.cli_principal(), rule_id)
    typer.echo(f"suppression rule {rule_id} removed")


def purge(older_than: Annotated[str, typer.Option("--older-than", help="Age, e.g. 30d.")]) -> None:
    """Drop raw vendor payloads (and dead-letter bodies) older than the given age: retention for personal data.
    The normalized alerts stay; the purge is audited."""
    from sqlalchemy import update

    from irflow import audit
    from irflow.store.tables import AlertRow, RejectedRow

    rt = _rt()
    principal = rbac.cli_principal()
    rbac.require(rt.db, rt.settings, principal, "automation", "purge")
    cutoff = utcnow() - _duration(older_than)
    with rt.db.tx() as s:
        alerts = s.execute(update(AlertRow).where(AlertRow.received_at < cutoff, AlertRow.raw.is_not(None))
                           .values(raw=None)).rowcount
        dead = s.execute(update(RejectedRow).where(RejectedRow.at < cutoff, RejectedRow.body != "")
                         .values(body="")).rowcount
        audit.append(s, actor=principal, kind="retention.purged", subject="raw payloads",
                     data={"before": cutoff.isoformat(), "alerts": alerts, "rejected": dead})
    typer.echo(f"purged raw payloads of {alerts} alert(s) and {dead} dead letter(s) older than {older_than}")
