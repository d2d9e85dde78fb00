"""NeMo Guardrails: a generation response with its log (`options={"log": {"activated_rails": true}}`).

`{"response": ..., "log": {"activated_rails": [{"type", "name", "decisions": [...], "executed_actions":
[{"action_name", "action_params", "return_value"}], "stop": bool, ...}]}}` (nemoguardrails/rails/llm/
options.py: GenerationResponse, GenerationLog, ActivatedRail, ExecutedAction). A rail with `stop: true`
blocked the conversation; a log where no rail stopped is telemetry.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import Detection, VendorModel

SOURCE = "nemo"
RAIL_DIRECTION = {"input": Direction.input, "retrieval": Direction.input, "output": Direction.output}
"""Input and retrieval rails check what goes into the model; output rails what comes out."""
EVIDENCE_PARAMS = ("text", "user_input", "user_message", "bot_response", "bot_message")
"""Action parameters that, when a rail passes the checked text explicitly, hold the offending text."""


class ExecutedAction(VendorModel):
    action_name: str
    action_params: dict[str, Any] = Field(default_factory=dict)
    return_value: Any = None


class ActivatedRail(VendorModel):
    type: str
    name: str
    decisions: list[str] = Field(default_factory=list)
    executed_actions: list[ExecutedAction] = Field(default_factory=list)
    stop: bool = False
    started_at: float | None = Field(default=None, ge=0, le=mapping.MAX_EPOCH)


class GenerationLog(VendorModel):
    activated_rails: list[ActivatedRail] = Field(default_factory=list)


class GenerationResponse(VendorModel):
    log: GenerationLog


def looks_like(item: dict[str, Any]) -> bool:
    log = item.get("log")
    return isinstance(log, dict) and "activated_rails" in log


def rail_name(name: str) -> str:
    """A flow name without its parameters: `content safety check input $model=shieldgemma` -> the rail."""
    return name.split("$", 1)[0].strip().lower()


def _evidence(rail: ActivatedRail) -> str | None:
    for action in rail.executed_actions:
        for key in EVIDENCE_PARAMS:
            value = action.action_params.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def _detection(rail: ActivatedRail) -> Detection:
    keys = [rail_name(rail.name), *(f"action/{a.action_name}" for a in rail.executed_actions)]
    return mapping.detection(SOURCE, keys, rail_name(rail.name), evidence=_evidence(rail),
                             direction=RAIL_DIRECTION.get(rail.type, Direction.unknown))


def normalize(item: Any, path: str) -> Alert:
    """One alert per generation that a rail stopped; the stopping rails are its detections.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    body = mapping.parse(GenerationResponse, item, path, "a NeMo Guardrails generation response")
    stopped = [rail for rail in body.log.activated_rails if rail.stop]
    if not stopped:
        raise Ignored("telemetry: no NeMo Guardrails rail stopped the conversation")
    return mapping.build_alert(SOURCE, path, item, [_detection(r) for r in stopped],
                               time=mapping.from_epoch(stopped[0].started_at))
