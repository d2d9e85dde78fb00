"""LLM Guard API: `POST /analyze/prompt` and `POST /analyze/output` responses.

`{"is_valid": bool, "scanners": {"PromptInjection": 1.0, ...}, "sanitized_prompt" | "sanitized_output": str}`
(llm_guard_api/app/schemas.py: AnalyzePromptResponse, AnalyzeOutputResponse). Each scanner's value is
its risk score in [-1, 1]: above 0 the scanner's threshold was crossed (llm_guard.util.calculate_risk_score).
Which endpoint answered is told by the sanitized field's name, so that is the direction.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import VendorModel

SOURCE = "llm-guard"
FIRED_ABOVE = 0.0
"""A scanner fired when its risk score is above 0 (its own threshold)."""


class AnalyzeResponse(VendorModel):
    is_valid: bool
    scanners: dict[str, float] = Field(default_factory=dict)
    sanitized_prompt: str | None = None
    sanitized_output: str | None = None


def looks_like(item: dict[str, Any]) -> bool:
    return "is_valid" in item and "scanners" in item


def normalize(item: Any, path: str) -> Alert:
    """One alert per invalid analysis: the scanners above their threshold are its detections.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    body = mapping.parse(AnalyzeResponse, item, path, "an LLM Guard analyze response")
    if body.is_valid:
        raise Ignored("telemetry: LLM Guard found the text valid")
    direction = Direction.output if body.sanitized_output is not None else (
        Direction.input if body.sanitized_prompt is not None else Direction.unknown)
    text = body.sanitized_output if direction is Direction.output else body.sanitized_prompt
    fired = {name: risk for name, risk in body.scanners.items() if risk > FIRED_ABOVE}
    # is_valid false with no score above 0: older API versions scored 0..1, so take the riskiest scanner.
    chosen = fired or dict(sorted(body.scanners.items(), key=lambda kv: -kv[1])[:1])
    found = [mapping.detection(SOURCE, [name], name, mapping.risk_confidence(risk), text, direction)
             for name, risk in chosen.items()]
    if not found:
        found = [mapping.detection(SOURCE, [], "invalid", evidence=text, direction=direction)]
    return mapping.build_alert(SOURCE, path, item, found, direction=direction)
