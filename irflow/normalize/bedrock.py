"""Amazon Bedrock Guardrails: an ApplyGuardrail response, or a Converse response's `trace.guardrail`.

Shapes: botocore's `bedrock-runtime` service model (ApplyGuardrailResponse, GuardrailAssessment,
ConverseResponse, GuardrailTraceAssessment); the tests validate every fixture against it. `action:
NONE` (or a Converse call that no guardrail stopped) is telemetry. A policy entry counts when it was
acted on (`BLOCKED`, `ANONYMIZED`) or, in detect mode, `detected: true`.

`match` holds the matched text itself (an AWS secret key, a password): it never reaches the title, and
reaches `evidence` only through irflow.redaction.redact.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from irflow.models import Alert, Direction
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import Detection, VendorModel
from irflow.redaction import redact

SOURCE = "bedrock"
ACTED = frozenset({"BLOCKED", "ANONYMIZED"})


class Entry(VendorModel):
    """One policy entry; the policies share these fields (botocore: GuardrailContentFilter, GuardrailTopic, ...)."""

    type: str | None = None
    name: str | None = None
    match: str | None = None
    action: str | None = None
    detected: bool | None = None
    confidence: str | None = None

    def fired(self) -> bool:
        return self.action in ACTED or self.detected is True


class Filters(VendorModel):
    filters: list[Entry] = Field(default_factory=list)


class Topics(VendorModel):
    topics: list[Entry] = Field(default_factory=list)


class Words(VendorModel):
    customWords: list[Entry] = Field(default_factory=list)
    managedWordLists: list[Entry] = Field(default_factory=list)


class SensitiveInformation(VendorModel):
    piiEntities: list[Entry] = Field(default_factory=list)
    regexes: list[Entry] = Field(default_factory=list)


class Assessment(VendorModel):
    topicPolicy: Topics | None = None
    contentPolicy: Filters | None = None
    wordPolicy: Words | None = None
    sensitiveInformationPolicy: SensitiveInformation | None = None
    contextualGroundingPolicy: Filters | None = None


class BotoMetadata(VendorModel):
    """What boto3 adds to every response; its RequestId is the vendor id."""

    RequestId: str | None = Field(default=None, max_length=255)


class ApplyGuardrailResponse(VendorModel):
    action: str
    actionReason: str | None = None
    assessments: list[Assessment] = Field(default_factory=list)
    ResponseMetadata: BotoMetadata | None = None


class TraceAssessment(VendorModel):
    inputAssessment: dict[str, Assessment] = Field(default_factory=dict)
    outputAssessments: dict[str, list[Assessment]] = Field(default_factory=dict)
    actionReason: str | None = None


class Trace(VendorModel):
    guardrail: TraceAssessment


class ConverseResponse(VendorModel):
    stopReason: str | None = None
    trace: Trace
    ResponseMetadata: BotoMetadata | None = None


def looks_like(item: dict[str, Any]) -> bool:
    """ApplyGuardrail: `action` + `assessments`; Converse: a `trace` with a `guardrail` assessment."""
    trace = item.get("trace")
    return ("action" in item and "assessments" in item) or (isinstance(trace, dict) and "guardrail" in trace)


def _entries(a: Assessment) -> list[tuple[str, Entry, str]]:
    """(detector key, entry, label) for every entry of every policy, in the order the service lists them."""
    found = [(f"content/{e.type}", e, e.type or "") for e in (a.contentPolicy.filters if a.contentPolicy else [])]
    found += [(f"topic/{e.name}", e, e.name or "") for e in (a.topicPolicy.topics if a.topicPolicy else [])]
    if a.wordPolicy:
        found += [("word/custom", e, "custom word") for e in a.wordPolicy.customWords]
        found += [(f"word/{e.type}", e, e.type or "") for e in a.wordPolicy.managedWordLists]
    if a.sensitiveInformationPolicy:
        found += [(f"pii/{e.type}", e, e.type or "") for e in a.sensitiveInformationPolicy.piiEntities]
        found += [(f"regex/{e.name}", e, e.name or "") for e in a.sensitiveInformationPolicy.regexes]
    grounding = a.contextualGroundingPolicy.filters if a.contextualGroundingPolicy else []
    return found + [(f"grounding/{e.type}", e, e.type or "") for e in grounding]


def _detections(assessments: list[Assessment], direction: Direction) -> list[Detection]:
    found = []
    for assessment in assessments:
        for key, entry, label in _entries(assessment):
            if not entry.fired():
                continue
            confidence = mapping.level_confidence(SOURCE, entry.confidence) if entry.confidence else None
            evidence = str(redact(entry.match, max_len=mapping.EVIDENCE_MAX)) if entry.match else None
            found.append(mapping.detection(SOURCE, [key], label, confidence, evidence, direction))
    return found


def detections(item: Any, path: str) -> list[Detection]:
    """The fired entries of an ApplyGuardrail-shaped body (LiteLLM embeds one in its guardrail results)."""
    body = mapping.parse(ApplyGuardrailResponse, item, path, "a Bedrock ApplyGuardrail response")
    return _detections(body.assessments, Direction.unknown)


def _converse(item: dict[str, Any], path: str) -> tuple[list[Detection], bool, str | None]:
    body = mapping.parse(ConverseResponse, item, path, "a Bedrock Converse response")
    trace = body.trace.guardrail
    found = _detections(list(trace.inputAssessment.values()), Direction.input)
    found += _detections([a for lst in trace.outputAssessments.values() for a in lst], Direction.output)
    stopped = body.stopReason == "guardrail_intervened" or (body.stopReason is None and bool(found))
    return found, stopped, body.ResponseMetadata.RequestId if body.ResponseMetadata else None


def _apply(item: dict[str, Any], path: str) -> tuple[list[Detection], bool, str | None]:
    body = mapping.parse(ApplyGuardrailResponse, item, path, "a Bedrock ApplyGuardrail response")
    found = _detections(body.assessments, Direction.unknown)
    return found, body.action == "GUARDRAIL_INTERVENED", body.ResponseMetadata.RequestId if body.ResponseMetadata else None


def normalize(item: Any, path: str) -> Alert:
    """One alert per intervention; every acted-on policy entry is a detection.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    converse = isinstance(item, dict) and "trace" in item and "assessments" not in item
    found, intervened, request_id = (_converse if converse else _apply)(item, path)
    if not intervened:
        raise Ignored("telemetry: the Bedrock guardrail did not intervene")
    if not found:  # intervened, but the assessment trace was not enabled
        found = [mapping.detection(SOURCE, [], "intervened")]
    return mapping.build_alert(SOURCE, path, item, found, vendor_id=request_id)
