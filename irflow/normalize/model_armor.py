"""Google Model Armor: a `sanitizeUserPrompt` / `sanitizeModelResponse` response.

`{"sanitizationResult": {"filterMatchState", "invocationResult", "filterResults": {name: FilterResult}}}`
where each FilterResult holds one of `piAndJailbreakFilterResult`, `raiFilterResult`, `sdpFilterResult`,
`maliciousUriFilterResult`, `csamFilterFilterResult`, `virusScanFilterResult`, each with `matchState`
(google.cloud.modelarmor_v1 types; the tests parse every fixture with them). `NO_MATCH_FOUND` is
telemetry. Enums arrive as names from the REST API and as numbers from proto-plus `to_json` defaults;
both are accepted.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from irflow.models import Alert
from irflow.normalize import mapping
from irflow.normalize.errors import Ignored
from irflow.normalize.mapping import Detection, VendorModel

SOURCE = "model-armor"
MATCH_FOUND = "MATCH_FOUND"
_MATCH_STATES = ("FILTER_MATCH_STATE_UNSPECIFIED", "NO_MATCH_FOUND", MATCH_FOUND)
_CONFIDENCE_LEVELS = ("DETECTION_CONFIDENCE_LEVEL_UNSPECIFIED", "LOW_AND_ABOVE", "MEDIUM_AND_ABOVE", "HIGH")


def _enum_name(value: object, names: tuple[str, ...]) -> object:
    """proto-plus writes enums as numbers unless told otherwise; the REST API writes names."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return names[value]
    return value


class Matched(VendorModel):
    matchState: str | None = None
    confidenceLevel: str | None = None

    @field_validator("matchState", mode="before")
    @classmethod
    def _match_name(cls, value: object) -> object:
        return _enum_name(value, _MATCH_STATES)

    @field_validator("confidenceLevel", mode="before")
    @classmethod
    def _confidence_name(cls, value: object) -> object:
        return _enum_name(value, _CONFIDENCE_LEVELS)

    def matched(self) -> bool:
        return self.matchState == MATCH_FOUND


class RaiResult(Matched):
    raiFilterTypeResults: dict[str, Matched] = Field(default_factory=dict)


class SdpFinding(VendorModel):
    infoType: str | None = None


class SdpInspect(Matched):
    findings: list[SdpFinding] = Field(default_factory=list)


class SdpDeidentify(Matched):
    infoTypes: list[str] = Field(default_factory=list)


class SdpResult(VendorModel):
    inspectResult: SdpInspect | None = None
    deidentifyResult: SdpDeidentify | None = None


class UriItem(VendorModel):
    uri: str | None = None


class UriResult(Matched):
    maliciousUriMatchedItems: list[UriItem] = Field(default_factory=list)


class FilterResult(VendorModel):
    piAndJailbreakFilterResult: Matched | None = None
    raiFilterResult: RaiResult | None = None
    sdpFilterResult: SdpResult | None = None
    maliciousUriFilterResult: UriResult | None = None
    csamFilterFilterResult: Matched | None = None
    virusScanFilterResult: Matched | None = None


class SanitizationResult(VendorModel):
    filterMatchState: str | None = None
    invocationResult: str | int | None = None
    filterResults: dict[str, FilterResult] = Field(default_factory=dict)

    @field_validator("filterMatchState", mode="before")
    @classmethod
    def _match_name(cls, value: object) -> object:
        return _enum_name(value, _MATCH_STATES)


class SanitizeResponse(VendorModel):
    sanitizationResult: SanitizationResult


def looks_like(item: dict[str, Any]) -> bool:
    return "sanitizationResult" in item


def _hit(key: str, label: str, result: Matched, evidence: str | None = None) -> Detection:
    level = mapping.level_confidence(SOURCE, result.confidenceLevel) if result.confidenceLevel else None
    return mapping.detection(SOURCE, [key], label, level, evidence)


def _rai(result: RaiResult) -> list[Detection]:
    hits = [_hit(f"rai/{name}", name, r) for name, r in result.raiFilterTypeResults.items() if r.matched()]
    return hits or [_hit("rai", "rai", result)]


def _sdp(result: SdpResult) -> list[Detection]:
    parts = [p for p in (result.inspectResult, result.deidentifyResult) if p is not None and p.matched()]
    if not parts:
        return []
    types = [f.infoType for f in result.inspectResult.findings if f.infoType] if result.inspectResult else []
    types += result.deidentifyResult.infoTypes if result.deidentifyResult else []
    return [mapping.detection(SOURCE, [*(f"sdp/{t}" for t in types[:1]), "sdp"], types[0] if types else "sdp")]


def _detections(filters: FilterResult) -> list[Detection]:
    found: list[Detection] = []
    if filters.piAndJailbreakFilterResult and filters.piAndJailbreakFilterResult.matched():
        found.append(_hit("pi_and_jailbreak", "pi_and_jailbreak", filters.piAndJailbreakFilterResult))
    if filters.raiFilterResult and filters.raiFilterResult.matched():
        found += _rai(filters.raiFilterResult)
    found += _sdp(filters.sdpFilterResult) if filters.sdpFilterResult else []
    uris = filters.maliciousUriFilterResult
    if uris and uris.matched():
        found.append(_hit("malicious_uris", "malicious_uris", uris,
                          next((u.uri for u in uris.maliciousUriMatchedItems if u.uri), None)))
    for key, other in (("csam", filters.csamFilterFilterResult), ("virus_scan", filters.virusScanFilterResult)):
        found += [_hit(key, key, other)] if other and other.matched() else []
    return found


def normalize(item: Any, path: str) -> Alert:
    """One alert per sanitization with a match; every matched filter is a detection.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    body = mapping.parse(SanitizeResponse, item, path, "a Model Armor sanitize response").sanitizationResult
    found = [d for filters in body.filterResults.values() for d in _detections(filters)]
    if body.filterMatchState != MATCH_FOUND and not found:
        raise Ignored(f"telemetry: Model Armor found no match ({body.filterMatchState or 'no match state'})")
    return mapping.build_alert(SOURCE, path, item, found or [mapping.detection(SOURCE, [], "match")])
