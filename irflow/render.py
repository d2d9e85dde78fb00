"""Pure builders of what humans read in Slack and Jira, from incident state.

Every string that reaches a renderer is SafeText: alert-derived values go through `redact`, irflow's own
words through `trusted`/`compose`. Connectors call `require_safe`/`assert_blocks_safe` at their edge, so
a forgotten redaction fails loudly in tests instead of leaking.
"""

from __future__ import annotations

from typing import Any

from irflow.redaction import SafeText, compose, redact, trusted


class UnsafeTextError(TypeError):
    """A renderer was handed text that did not come out of irflow.redaction."""


def require_safe(*texts: object) -> None:
    for text in texts:
        if not isinstance(text, SafeText):
            raise UnsafeTextError(f"expected SafeText, got {type(text).__name__}; pass it through redact()")


def assert_blocks_safe(blocks: list[dict[str, Any]]) -> None:
    """Every `text` string inside Block Kit blocks must be SafeText."""

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    require_safe(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)


# --- incident summaries ----------------------------------------------------------------------

_PRIORITY = {"critical": "Highest", "high": "High", "medium": "Medium", "low": "Low"}
_EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:", "low": ":white_circle:"}


def jira_priority(severity: str) -> str:
    return _PRIORITY.get(severity, "Medium")


def _actor_line(actor: dict[str, Any]) -> SafeText:
    parts = [f"{k}={v}" for k, v in actor.items() if v]
    return redact(", ".join(parts) or "unknown", max_len=400)


def _action_lines(actions: list[dict[str, Any]]) -> list[SafeText]:
    return [
        compose("{name} on {target}: {status}", name=redact(a["name"]), target=redact(a["target"], max_len=200),
                status=redact(a["status"]))
        for a in actions
    ]


def incident_heading(incident: dict[str, Any]) -> SafeText:
    return compose("[{sev}] {title}", sev=redact(incident["severity"].upper()), title=redact(incident["title"], max_len=200))


def summary_text(incident: dict[str, Any], actions: list[dict[str, Any]], evidence: str | None) -> SafeText:
    """Plain-text summary (Slack fallback text, Jira description body). Every value is redacted."""
    lines = [
        incident_heading(incident),
        compose("Incident: {id}  Status: {status}", id=redact(incident["id"]), status=redact(incident["status"])),
        compose("Category: {cat}  OWASP: {owasp}  ATLAS: {atlas}", cat=redact(incident["category"]),
                owasp=redact(", ".join(incident["owasp"]) or "-"), atlas=redact(", ".join(incident["atlas"]) or "-")),
        compose("Actor: {actor}", actor=_actor_line(incident["actor"])),
        compose("Alerts: {n}", n=int(incident["alert_count"])),
    ]
    if incident.get("enrichment"):
        from irflow.enrich import summary

        lines.append(redact(summary(incident["enrichment"]), max_len=800, pii=False))
    if evidence:
        lines.append(compose("Evidence (attacker-controlled, defanged): {e}", e=redact(evidence, max_len=600)))
    if actions:
        lines.append(trusted("Actions:"))
        lines.extend(compose("- {line}", line=line) for line in _action_lines(actions))
    return join_lines(lines)


def join_lines(lines: list[SafeText]) -> SafeText:
    out = trusted("")
    for line in lines:
        out = compose("{a}\n{b}", a=out, b=line) if out else line
    return out


def summary_blocks(incident: dict[str, Any], actions: list[dict[str, Any]], evidence: str | None) -> list[dict[str, Any]]:
    """Block Kit for the pinned incident summary; every text object holds SafeText."""
    header = compose("{emoji} {heading}", emoji=redact(_EMOJI.get(incident["severity"], "")), heading=incident_heading(incident))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": header}},
        {"type": "section", "text": {"type": "plain_text", "text": summary_text(incident, actions, evidence)}},
    ]
    return blocks


def artifact_markdown(view: dict[str, Any]) -> SafeText:
    """The Prefect artifact of a response run: the incident and its actions as a Markdown table."""
    head = compose("# {title}\n\nIncident `{id}`: **{status}**, severity {sev}, category {cat}\n\n"
                   "| action | target | status |\n|---|---|---|",
                   title=redact(view["title"]), id=redact(view["id"]), status=redact(view["status"]),
                   sev=redact(view["severity"]), cat=redact(view["category"]))
    rows = [compose("| {name} | {target} | {status} |", name=redact(a["name"]), target=redact(a["target"] or ""),
                    status=redact(a["status"])) for a in view["actions"]]
    return join_lines([head, *rows])
