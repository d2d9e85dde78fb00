"""Lakera Guard v2 (`POST /v2/guard`): the request and response as one item, or the response alone.

Body shape irflow accepts (documented in docs and tests/fixtures/lakera/SOURCES.md):
`{"request": {...the /v2/guard request...}, "response": {...its response...}}`. The pair exists because
the response says *what* was flagged but only the request says *who* (`metadata.user_id`, `ip_address`,
`session_id`) and *which message* (`breakdown[].message_id` indexes `request.messages`). A bare response
is accepted too; identity then comes from the envelope's context. Field names: Lakera's API reference
(docs.lakera.ai, "Screen content") and LiteLLM's LakeraAIResponse type.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import Detection, VendorModel

SOURCE = "lakera"
OUTPUT_ROLES = frozenset({"assistant"})
"""A flagged assistant message is the model's output; every other role is input to the model."""


class BreakdownItem(VendorModel):
    project_id: str | None = None
    policy_id: str | None = None
    detector_id: str | None = None
    detector_type: str
    detected: bool
    message_id: int | None = Field(default=None, ge=0)


class PayloadItem(VendorModel):
    start: int | None = None
    end: int | None = None
    text: str | None = None
    detector_type: str | None = None
    labels: list[str] | None = None
    message_id: int | None = None


class ResponseMetadata(VendorModel):
    request_uuid: str | None = Field(default=None, max_length=255)


class GuardResponse(VendorModel):
    flagged: bool
    breakdown: list[BreakdownItem] = Field(default_factory=list)
    payload: list[PayloadItem] = Field(default_factory=list)
    metadata: ResponseMetadata = Field(default_factory=ResponseMetadata)


class Message(VendorModel):
    role: str | None = None
    content: str | list[Any] | None = None


class RequestMetadata(VendorModel):
    user_id: str | None = None
    ip_address: str | None = None
    session_id: str | None = None


class GuardRequest(VendorModel):
    messages: list[Message] = Field(default_factory=list)
    project_id: str | None = None
    metadata: RequestMetadata = Field(default_factory=RequestMetadata)


class Pair(VendorModel):
    request: GuardRequest
    response: GuardResponse


def looks_like(item: dict[str, Any]) -> bool:
    """A response has `flagged` and `breakdown`; a pair has `request` and a `response` with `flagged`."""
    if "flagged" in item and ("breakdown" in item or "metadata" in item):
        return True
    response = item.get("response")
    return "request" in item and isinstance(response, dict) and "flagged" in response


def _message(request: GuardRequest, index: int | None) -> Message | None:
    if index is None or index >= len(request.messages):
        return None
    return request.messages[index]


def _detection(hit: BreakdownItem, response: GuardResponse, request: GuardRequest) -> Detection:
    message = _message(request, hit.message_id)
    spans = [p.text for p in response.payload if p.detector_type == hit.detector_type and p.text
             and (hit.message_id is None or p.message_id in (None, hit.message_id))]
    evidence = spans[0] if spans else (message.content if message and isinstance(message.content, str) else None)
    direction = Direction.unknown if message is None or message.role is None else (
        Direction.output if message.role in OUTPUT_ROLES else Direction.input)
    return mapping.detection(SOURCE, [hit.detector_type], hit.detector_type, evidence=evidence, direction=direction)


def detections(item: Any, path: str) -> list[Detection]:
    """The detected breakdown entries of a bare response (LiteLLM embeds one in its guardrail results)."""
    response = mapping.parse(GuardResponse, item, path, "a Lakera Guard response")
    return [_detection(hit, response, GuardRequest()) for hit in response.breakdown if hit.detected]


def normalize(item: Any, path: str) -> Alert:
    """One alert per flagged screening, classified by its most severe detected detector.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    if isinstance(item, dict) and "request" in item and "response" in item:
        pair = mapping.parse(Pair, item, path, "a Lakera Guard request/response pair")
        request, response = pair.request, pair.response
    else:
        response, request = mapping.parse(GuardResponse, item, path, "a Lakera Guard response"), GuardRequest()
    if not response.flagged:
        raise Ignored("telemetry: Lakera Guard did not flag the content")
    found = [_detection(hit, response, request) for hit in response.breakdown if hit.detected]
    if not found:  # flagged, but the caller did not ask for the breakdown
        found = [mapping.detection(SOURCE, [p.detector_type for p in response.payload if p.detector_type], "flagged")]
    meta = request.metadata
    return mapping.build_alert(
        SOURCE, path, item, found, actor=mapping.actor_fields(user=meta.user_id, session=meta.session_id,
                                                              ip=meta.ip_address),
        vendor_id=response.metadata.request_uuid)
