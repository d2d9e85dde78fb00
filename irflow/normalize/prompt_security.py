"""Prompt Security: the `POST /api/protect` response.

`{"result": {"prompt" | "response": {"action": "block" | "modify" | "log" | "allow", "violations": [...],
"modified_text": ...}}}` (the fields LiteLLM's and NeMo Guardrails' Prompt Security integrations read:
litellm/proxy/guardrails/guardrail_hooks/prompt_security, nemoguardrails/library/prompt_security). A
verdict that allowed or only logged, with no violation, is telemetry; a violation in monitor mode
(`log`) is still an alert.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import Detection, VendorModel

SOURCE = "prompt-security"
ACTING = frozenset({"block", "modify"})
_NON_WORD = re.compile(r"[^a-z0-9]+")


class Verdict(VendorModel):
    action: str | None = None
    violations: list[str] = Field(default_factory=list)
    modified_text: str | None = None


class Result(VendorModel):
    prompt: Verdict | None = None
    response: Verdict | None = None


class ProtectResponse(VendorModel):
    result: Result


def looks_like(item: dict[str, Any]) -> bool:
    result = item.get("result")
    return isinstance(result, dict) and ("prompt" in result or "response" in result)


def violation_key(violation: str) -> str:
    """`Prompt Injection Engine` and `prompt_injection` name the same detector: lower-case, `_`-joined."""
    return _NON_WORD.sub("_", violation.lower()).strip("_")


def _detections(verdict: Verdict | None, direction: Direction) -> list[Detection]:
    if verdict is None or (verdict.action not in ACTING and not verdict.violations):
        return []
    found = [mapping.detection(SOURCE, [violation_key(v)], v, direction=direction) for v in verdict.violations]
    return found or [mapping.detection(SOURCE, [], verdict.action or "", direction=direction)]


def normalize(item: Any, path: str) -> Alert:
    """One alert per verdict that blocked, modified, or logged a violation.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    body = mapping.parse(ProtectResponse, item, path, "a Prompt Security protect response")
    found = _detections(body.result.prompt, Direction.input) + _detections(body.result.response, Direction.output)
    if not found:
        raise Ignored("telemetry: Prompt Security allowed the text with no violation")
    return mapping.build_alert(SOURCE, path, item, found)
