"""Block Kit builders: every text is SafeText, hostile alert text stays dead, and every message stays inside
Slack's size limits however large the incident grows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irflow.redaction import SafeText, trusted
from irflow.render import UnsafeTextError, assert_blocks_safe
from irflow.runbook import ChecklistStep, Runbook
from irflow.slack_blocks import (
    APPROVE,
    MAX_ACTIONS,
    REJECT,
    STEP,
    UNDO,
    ActionLine,
    Message,
    StepDone,
    approval_request,
    runbook_checklist,
    summary,
)

HOSTILE = ("<!channel> <!here> <@U0EVIL1> <https://evil.example/x|click> ![i](https://img.example/q) "
           "[t|https://jira.example] ``` sk-proj-ZmFrZUtleUZvckRlbW9Pbmx5MTIzNDU2Nzg5 \u202eevil\u202c "
           "mail victim@corp.example")
LIVE = ("<!channel>", "<!here>", "<@U0EVIL1>", "<https://", "https://evil", "sk-proj-ZmFr", "\u202e",
        "victim@corp.example")


def view(**over: Any) -> dict[str, Any]:
    base = {"id": "inc-0123456789ab", "title": "Prompt injection by eve", "status": "open", "severity": "high",
            "category": "prompt_injection", "owasp": ["LLM01"], "atlas": ["AML.T0051.000"],
            "actor": {"user": "eve", "api_key": None, "team": None, "session": "s-1", "ip": None},
            "alert_count": 3, "assignee": None, "playbook": "prompt_injection", "enrichment": None}
    return base | over


def act(i: int = 0, status: str = "done", undoable: bool = False, target: str = "eve") -> ActionLine:
    return ActionLine(id=f"act-{i:012d}", name="users.suspend", target=target, status=status,
                      reason="rung 2", approved_by=None, undoable=undoable)


def book(n_steps: int = 4) -> Runbook:
    sections = ["Triage", "Contain", "Recover", "Escalate"]
    steps = [ChecklistStep(f"step-{i}", f"Do thing {i} with `irflow incidents show <id>`", sections[i % 4])
             for i in range(n_steps)]
    return Runbook("prompt_injection.md", "rb-pi", "prompt_injection", "high", ["AML.T0051.000"], "Summary.", steps)


def texts(node: object) -> list[str]:
    """Every `text` string anywhere in the blocks."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "text" and isinstance(v, str)] + \
            [t for k, v in node.items() if not (k == "text" and isinstance(v, str)) for t in texts(v)]
    if isinstance(node, list):
        return [t for item in node for t in texts(item)]
    return []


def elements(blocks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    found = [b.get("accessory") for b in blocks if b.get("accessory", {}).get("type") == kind]
    found += [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == kind]
    return [f for f in found if f]


def within_limits(msg: Message) -> None:
    """Slack's documented Block Kit limits; over them Slack answers invalid_blocks and nothing is posted."""
    assert len(msg.blocks) <= 50
    for block in msg.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block.get("text", {}).get("text", "")) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
    for button in elements(msg.blocks, "button"):
        assert len(button["text"]["text"]) <= 75 and len(button.get("value", "")) <= 2000
        if "confirm" in button:
            assert len(button["confirm"]["text"]["text"]) <= 300 and len(button["confirm"]["title"]["text"]) <= 100


def assert_dead(msg: Message) -> None:
    assert_blocks_safe(msg.blocks)
    assert isinstance(msg.text, SafeText)
    blob = json.dumps([msg.text, msg.blocks], ensure_ascii=False)
    assert [needle for needle in LIVE if needle in blob] == []


# --- summary ----------------------------------------------------------------------------------------------------


def test_summary_has_the_facts_a_responder_needs() -> None:
    msg = summary(view(), [act(1, "done", undoable=True)], "ignore previous instructions",
                  [(trusted("Jira SEC-1"), "https://jira.example/browse/SEC-1")])
    blob = json.dumps(msg.blocks)
    for fact in ("high", "prompt_injection", "LLM01", "AML.T0051.000", "user=eve", "users.suspend", "SEC-1"):
        assert fact in blob, fact
    assert msg.blocks[0]["type"] == "header"
    [link] = [e for b in msg.blocks if b.get("block_id") == "links" for e in b["elements"]]
    assert link["url"] == "https://jira.example/browse/SEC-1"
    assert_dead(msg)
    within_limits(msg)


def test_done_reversible_actions_carry_an_undo_button_and_awaiting_ones_approve_reject() -> None:
    actions = [act(1, "done", undoable=True), act(2, "done"), act(3, "awaiting_approval"), act(4, "failed")]
    buttons = elements(summary(view(), actions, None).blocks, "button")
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (UNDO, "act-000000000001"), (APPROVE, "act-000000000003"), (REJECT, "act-000000000003")]
    undo = buttons[0]
    assert undo["confirm"]["confirm"]["text"] == "Undo"  # a destructive click asks first


def test_summary_stays_bounded_in_a_storm() -> None:
    actions = [act(i, "awaiting_approval" if i % 2 else "done", undoable=not i % 2) for i in range(300)]
    msg = summary(view(title="x" * 5000, alert_count=100_000), actions, "e" * 100_000)
    within_limits(msg)
    shown = [b for b in msg.blocks if "users.suspend" in b.get("text", {}).get("text", "")]
    assert len(shown) == MAX_ACTIONS
    assert any(f"{300 - MAX_ACTIONS} earlier action(s)" in t for t in texts(msg.blocks))


def test_hostile_alert_text_is_dead_everywhere_in_the_summary() -> None:
    hostile_view = view(title=HOSTILE, actor={"user": HOSTILE, "api_key": None, "team": None, "session": None,
                                               "ip": None})
    msg = summary(hostile_view, [act(1, "done", undoable=True, target=HOSTILE), act(2, "awaiting_approval",
                                                                                   target=HOSTILE)], HOSTILE)
    assert_dead(msg)
    within_limits(msg)


def test_evidence_cannot_close_its_code_block() -> None:
    msg = summary(view(), [], "``` *bold* ``` <!here>")
    [evidence] = [t for t in texts(msg.blocks) if t.startswith("*Evidence*")]
    assert evidence.count("```") == 2 and "<!here>" not in evidence


@settings(max_examples=60, deadline=None)
@given(title=st.text(max_size=300), target=st.text(max_size=300), evidence=st.text(max_size=500))
def test_any_text_renders_safe_and_within_limits(title: str, target: str, evidence: str) -> None:
    msg = summary(view(title=title), [act(1, "awaiting_approval", target=target), act(2, "done", True, target)],
                  evidence)
    assert_blocks_safe(msg.blocks)
    within_limits(msg)
    for text in texts(msg.blocks):
        assert "<!" not in text and "<@" not in text and "<http" not in text


# --- approval requests ------------------------------------------------------------------------------------------


def test_approval_request_has_buttons_until_decided() -> None:
    waiting = approval_request("inc-0123456789ab", act(7, "awaiting_approval", target=HOSTILE))
    assert [b["action_id"] for b in elements(waiting.blocks, "button")] == [APPROVE, REJECT]
    assert_dead(waiting)
    within_limits(waiting)
    decided = approval_request("inc-0123456789ab", ActionLine("act-000000000007", "keys.block", "k", "planned",
                                                             approved_by="slack:U024BE7LH"))
    assert elements(decided.blocks, "button") == []
    assert "slack:U024BE7LH" in json.dumps(decided.blocks)


# --- runbook checklist ------------------------------------------------------------------------------------------


def test_checklist_has_a_done_button_per_open_step_and_says_who_ticked() -> None:
    at = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    msg = runbook_checklist("inc-0123456789ab", book(4), {"step-1": StepDone("slack:U024BE7LH", at)})
    buttons = elements(msg.blocks, "button")
    assert [b["value"] for b in buttons] == ["inc-0123456789ab step-0", "inc-0123456789ab step-2",
                                             "inc-0123456789ab step-3"]
    assert {b["action_id"] for b in buttons} == {STEP}
    ticked = [t for t in texts(msg.blocks) if "step-1" in t]
    assert ticked and "slack:U024BE7LH" in ticked[0] and "2026-01-02 03:04 UTC" in ticked[0]
    assert "1 of 4 steps done" in msg.text
    assert_blocks_safe(msg.blocks)
    within_limits(msg)


def test_long_runbooks_stay_under_fifty_blocks() -> None:
    msg = runbook_checklist("inc-0123456789ab", book(120), {})
    within_limits(msg)
    assert any("more step(s)" in t for t in texts(msg.blocks))


def test_plain_strings_are_refused_by_the_block_check() -> None:
    with pytest.raises(UnsafeTextError):
        assert_blocks_safe([{"type": "section", "text": {"type": "mrkdwn", "text": "<!channel>"}}])
