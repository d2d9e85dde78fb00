"""Pure Block Kit builders for Slack: the incident summary, approval requests, Undo buttons, runbook checklists.

Every ``text`` is SafeText (alert-derived values through `redact`, irflow's words through `trusted` and
`compose`), so `assert_blocks_safe` holds by construction. Links live only in button ``url`` fields and
are built by the caller from configuration, never from alert text. Sizes stay inside Slack's limits
(50 blocks, 150-character headers, 3000-character sections, 75-character buttons) however big the
incident grows: a storm edits one bounded message instead of growing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from irflow.redaction import SafeText, compose, redact, trusted
from irflow.render import join_lines
from irflow.runbook import Runbook

Block = dict[str, Any]

APPROVE, REJECT, UNDO, STEP = "irflow.approve", "irflow.reject", "irflow.undo", "irflow.runbook_step"
"""Block Kit action ids; the Slack app routes button presses by them."""
ACTION_IDS = frozenset({APPROVE, REJECT, UNDO, STEP})
MAX_ACTIONS = 10
"""Actions listed in the summary (the newest); older ones are counted, so the message stays bounded."""
MAX_BLOCKS = 50
"""Slack refuses a message with more blocks (invalid_blocks); long checklists are cut, saying so."""

_SEVERITY_EMOJI = {"critical": trusted(":red_circle:"), "high": trusted(":large_orange_circle:"),
                   "medium": trusted(":large_yellow_circle:"), "low": trusted(":white_circle:")}
_STATUS_EMOJI = {
    "planned": trusted(":spiral_note_pad:"), "awaiting_approval": trusted(":hourglass_flowing_sand:"),
    "running": trusted(":arrows_counterclockwise:"), "done": trusted(":white_check_mark:"), "failed": trusted(":x:"),
    "rejected": trusted(":no_entry_sign:"), "undone": trusted(":leftwards_arrow_with_hook:"),
    "skipped": trusted(":fast_forward:"),
}


@dataclass(frozen=True)
class ActionLine:
    """One action as the summary shows it; `undoable` is decided by the caller (done, reversible, not undone)."""

    id: str
    name: str
    target: str
    status: str
    reason: str = ""
    approved_by: str | None = None
    undoable: bool = False


@dataclass(frozen=True)
class StepDone:
    """Who ticked a runbook step, and when."""

    by: str
    at: datetime


@dataclass(frozen=True)
class Message:
    """A message to post or update: the notification/fallback text and the blocks."""

    text: SafeText
    blocks: list[Block]


def _ident(value: object) -> SafeText:
    """Ids, names and principals: defanged and secrets removed, PII kept (they name what was acted on)."""
    return redact(value, max_len=200, pii=False)


def _mrkdwn(text: SafeText) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _plain(text: SafeText) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _confirm(title: SafeText, text: SafeText, yes: SafeText) -> dict[str, Any]:
    return {"title": _plain(title), "text": _plain(text), "confirm": _plain(yes), "deny": _plain(trusted("Cancel"))}


def button(label: SafeText, action_id: str, value: str, *, style: str | None = None,
           confirm: dict[str, Any] | None = None) -> Block:
    """A Block Kit button; `value` carries irflow ids only, never text a human reads."""
    element: Block = {"type": "button", "text": _plain(label), "action_id": action_id, "value": value}
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def link_button(label: SafeText, url: str, index: int) -> Block:
    """A button that only opens `url` (Slack still sends a block_actions event, which the app acknowledges)."""
    return {"type": "button", "text": _plain(label), "url": url, "action_id": f"irflow.link.{index}"}


def _what(action: ActionLine, verb: SafeText) -> SafeText:
    # Confirm dialogs take at most 300 characters.
    return compose("{verb} {name} on {target}?", verb=verb, name=redact(action.name, max_len=60, pii=False),
                   target=redact(action.target, max_len=120))


def approve_reject(action: ActionLine) -> Block:
    """The Approve / Reject pair for an action awaiting approval."""
    what = _what(action, trusted("Approve"))
    return {"type": "actions", "block_id": f"decide:{action.id}", "elements": [
        button(trusted("Approve"), APPROVE, action.id, style="primary",
               confirm=_confirm(trusted("Approve this action?"), what, trusted("Approve"))),
        button(trusted("Reject"), REJECT, action.id, style="danger"),
    ]}


def undo_button(action: ActionLine) -> Block:
    what = _what(action, trusted("Undo"))
    return button(trusted("Undo"), UNDO, action.id, confirm=_confirm(trusted("Undo this action?"), what, trusted("Undo")))


def action_line(action: ActionLine) -> SafeText:
    emoji = _STATUS_EMOJI.get(action.status, trusted(":grey_question:"))
    line = compose("{emoji} `{name}` on `{target}`: {status}", emoji=emoji, name=_ident(action.name),
                   target=redact(action.target, max_len=200), status=_ident(action.status))
    if action.approved_by and action.status != "awaiting_approval":
        line = compose("{line} (approved by {who})", line=line, who=_ident(action.approved_by))
    return line


# --- the incident summary ---------------------------------------------------------------------------------------


def heading(view: Mapping[str, Any]) -> SafeText:
    """Severity and title, short enough for a header block (150) and a channel topic (250)."""
    return compose("{emoji} [{sev}] {title}", emoji=_SEVERITY_EMOJI.get(view["severity"], trusted(":white_circle:")),
                   sev=_ident(str(view["severity"]).upper()), title=redact(view["title"], max_len=95))


def _fields(view: Mapping[str, Any]) -> list[dict[str, Any]]:
    actor = ", ".join(f"{k}={v}" for k, v in (view.get("actor") or {}).items() if v) or "unknown"
    pairs = [
        (trusted("Status"), _ident(view["status"])), (trusted("Severity"), _ident(view["severity"])),
        (trusted("Category"), _ident(view["category"])),
        (trusted("OWASP"), _ident(", ".join(view.get("owasp") or []) or "-")),
        (trusted("ATLAS"), _ident(", ".join(view.get("atlas") or []) or "-")),
        (trusted("Alerts"), _ident(view.get("alert_count", 0))),
        (trusted("Actor"), redact(actor, max_len=400)),
        (trusted("Assignee"), _ident(view.get("assignee") or "-")),
        (trusted("Playbook"), _ident(view.get("playbook") or "-")),
        (trusted("Incident"), _ident(view["id"])),
    ]
    return [{"type": "mrkdwn", "text": compose("*{k}*\n{v}", k=k, v=v)} for k, v in pairs]


def _enrichment(view: Mapping[str, Any]) -> list[Block]:
    if not view.get("enrichment"):
        return []
    from irflow.enrich import summary

    return [{"type": "context", "elements": [
        {"type": "mrkdwn", "text": redact(summary(dict(view["enrichment"])), max_len=1500, pii=False)}]}]


def _evidence(evidence: str | None) -> list[Block]:
    if not evidence:
        return []
    # Backticks are defanged by redact, so the evidence cannot close the code block it sits in.
    return [_mrkdwn(compose("*Evidence* (attacker-controlled, defanged)\n```{e}```", e=redact(evidence, max_len=1200)))]


def _actions(actions: Sequence[ActionLine]) -> list[Block]:
    if not actions:
        return [_mrkdwn(trusted("*Actions*\nnone yet"))]
    shown = list(actions)[-MAX_ACTIONS:]
    blocks: list[Block] = [_mrkdwn(trusted("*Actions*"))]
    if len(actions) > len(shown):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": compose(
            "{n} earlier action(s) not shown: `irflow incidents show` lists them all", n=len(actions) - len(shown))}]})
    for action in shown:
        section = _mrkdwn(action_line(action))
        if action.undoable:
            section["accessory"] = undo_button(action)
        blocks.append(section)
        if action.status == "awaiting_approval":
            blocks.append(approve_reject(action))
    return blocks


def summary(view: Mapping[str, Any], actions: Sequence[ActionLine], evidence: str | None,
            links: Sequence[tuple[SafeText, str]] = ()) -> Message:
    """The pinned incident summary, edited in place as the incident evolves.

    Args:
        view: The incident's public view (`irflow.incidents.incident_view`).
        actions: Its actions, oldest first; only the newest `MAX_ACTIONS` are listed.
        evidence: The first alert's evidence, shown defanged in a code block.
        links: (label, URL) pairs from configuration (the Jira issue, the Prefect run) shown as buttons.
    """
    blocks: list[Block] = [
        {"type": "header", "text": _plain(heading(view))},
        {"type": "section", "fields": _fields(view)},
        *_enrichment(view), *_evidence(evidence), {"type": "divider"}, *_actions(actions),
    ]
    if links:
        blocks.append({"type": "actions", "block_id": "links", "elements": [link_button(t, u, i) for i, (t, u) in enumerate(links)]})
    text = compose("{heading}: {status}", heading=heading(view), status=_ident(view["status"]))
    return Message(text, blocks)


# --- approval requests ------------------------------------------------------------------------------------------


def approval_request(incident_id: str, action: ActionLine) -> Message:
    """What the channel sees when a step waits for an approver: the action, why, and the two buttons.

    Once decided, the same builder renders the outcome without buttons, so the message is edited in place.
    """
    head = compose("*Approval needed* for incident `{inc}`\n{line}", inc=_ident(incident_id), line=action_line(action))
    if action.reason:
        head = compose("{head}\n_Why:_ {reason}", head=head, reason=redact(action.reason, max_len=600))
    blocks: list[Block] = [_mrkdwn(head)]
    if action.status == "awaiting_approval":
        blocks.append(approve_reject(action))
    else:
        outcome = compose("Decided: {status}", status=_ident(action.status))
        if action.approved_by:
            outcome = compose("{o} by {who}", o=outcome, who=_ident(action.approved_by))
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": outcome}]})
    text = compose("Approval needed: {name} on {target}", name=_ident(action.name),
                   target=redact(action.target, max_len=200))
    return Message(text, blocks)


# --- runbook checklist ------------------------------------------------------------------------------------------


def _step_block(incident_id: str, step_id: str, text: str, done: StepDone | None) -> Block:
    body = redact(text, max_len=1500, pii=False)
    if done is None:
        block = _mrkdwn(compose(":white_large_square: `{id}` {text}", id=_ident(step_id), text=body))
        block["accessory"] = button(trusted("Done"), STEP, f"{incident_id} {step_id}")
        return block
    return _mrkdwn(compose(":white_check_mark: ~`{id}` {text}~\n_done by {who} at {at}_", id=_ident(step_id),
                           text=body, who=_ident(done.by), at=_ident(f"{done.at:%Y-%m-%d %H:%M} UTC")))


def runbook_checklist(incident_id: str, book: Runbook, done: Mapping[str, StepDone]) -> Message:
    """The runbook as a checklist: a Done button per open step; ticked steps say who and when.

    Step ids are the runbook's stable ids, so a re-render (or a re-post with `/irflow runbook`) keeps
    every tick where it was.
    """
    ticked = sum(1 for step in book.steps if step.id in done)
    head = compose("*Runbook* `{name}` for incident `{inc}`: {n} of {total} steps done\n{summary}",
                   name=_ident(book.name), inc=_ident(incident_id), n=ticked, total=len(book.steps),
                   summary=redact(book.summary, max_len=1500, pii=False))
    blocks: list[Block] = [_mrkdwn(head)]
    section, shown = None, 0
    for step in book.steps:
        needed = 1 if step.section == section else 2
        if len(blocks) + needed > MAX_BLOCKS - 1:  # keep one block to say how many were left out
            break
        if step.section != section:
            section = step.section
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": compose("*{s}*", s=_ident(section))}]})
        blocks.append(_step_block(incident_id, step.id, step.text, done.get(step.id)))
        shown += 1
    if len(book.steps) > shown:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": compose(
            "{n} more step(s) in the runbook file", n=len(book.steps) - shown)}]})
    text = compose("Runbook {name}: {n} of {total} steps done", name=_ident(book.name), n=ticked, total=len(book.steps))
    return Message(text, blocks)


def lines(*parts: SafeText) -> SafeText:
    """Several safe lines as one text (command replies)."""
    return join_lines(list(parts))
