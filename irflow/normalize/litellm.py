"""LiteLLM proxy: the `generic_api` callback's StandardLoggingPayload, and the proxy's guardrail 400 body.

The callback posts every call, successful ones included, so most items are telemetry: only guardrail
interventions and failed calls whose error class has a row in detectors.yaml become alerts; the rest
raise `Ignored("telemetry: ...")`. Field names: litellm/types/utils.py (StandardLoggingPayload,
StandardLoggingGuardrailInformation, StandardLoggingMetadata) and litellm/proxy/_types.py (ProxyException).

Identity: LiteLLM fills what it does not know with placeholders (`default_user_id`, an empty
`session_id`, the master key's hash). Those are never an actor; see `is_master_key`.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from pydantic import Field, ValidationError

from irflow.models import Actor, Alert, Direction, Usage, utcnow
from irflow.normalize import bedrock, lakera, mapping
from irflow.normalize.errors import Ignored, NormalizationError
from irflow.normalize.mapping import Detection, VendorModel

SOURCE = "litellm"

MASTER_KEY_USER_ID = "default_user_id"
"""What LiteLLM logs as the user of the proxy's master key (it has no owner)."""
MASTER_KEY_HASH_LITERAL = "litellm_proxy_master_key"
"""What recent LiteLLM versions log as `user_api_key_hash` for the master key instead of its hash."""
INTERVENED = frozenset({"guardrail_intervened", "failure"})
"""Guardrail statuses that mean a block: `failure` is the pre-GuardrailStatus vocabulary for the same."""
INPUT_MODES = frozenset({"pre_call", "during_call", "pre_mcp_call", "during_mcp_call"})
OUTPUT_MODES = frozenset({"post_call", "post_mcp_call", "logging_only"})
ERROR_MESSAGE_MAX = 20_000
"""Longer proxy error messages are not parsed as Python literals (a cost bound, not a shape rule)."""
_STATUS_PREFIX = re.compile(r"^\s*\d{3}:\s*")
EMBEDDED: dict[str, Callable[[Any, str], list[Detection]]] = {"bedrock": bedrock.detections,
                                                              "lakera_v2": lakera.detections}
"""Guardrail providers whose own response LiteLLM passes through: classified by that vendor's rows."""
EMBEDDED_ERROR_KEYS = {"bedrock_guardrail_response": "bedrock", "lakera_ai_response": "lakera_v2"}


class Metadata(VendorModel):
    user_api_key_hash: str | None = None
    user_api_key_alias: str | None = None
    user_api_key_user_id: str | None = None
    user_api_key_team_id: str | None = None
    user_api_key_end_user_id: str | None = None
    requester_ip_address: str | None = None
    requester_metadata: dict[str, Any] | None = None


class GuardrailInformation(VendorModel):
    guardrail_name: str | None = None
    guardrail_provider: str | None = None
    guardrail_mode: str | list[str] | dict[str, Any] | None = None
    guardrail_status: str | None = None
    guardrail_response: dict[str, Any] | str | list[Any] | None = None
    detection_method: str | None = None
    confidence_score: float | None = None
    risk_score: float | None = None
    match_details: list[dict[str, Any]] | None = None
    violation_categories: list[str] | None = None


class StatusFields(VendorModel):
    llm_api_status: str | None = None
    guardrail_status: str | None = None


class ErrorInformation(VendorModel):
    error_code: str | None = None
    error_class: str | None = None


class LoggingPayload(VendorModel):
    id: str = Field(min_length=1, max_length=255)
    trace_id: str | None = Field(default=None, max_length=255)
    call_type: str
    status: str
    status_fields: StatusFields | None = None
    startTime: float | None = Field(default=None, ge=0, le=mapping.MAX_EPOCH)
    model: str | None = None
    model_group: str | None = None
    end_user: str | None = None
    session_id: str | None = None
    requester_ip_address: str | None = None
    metadata: Metadata = Field(default_factory=Metadata)
    messages: Any = None
    response: Any = None
    error_information: ErrorInformation | None = None
    guardrail_information: list[GuardrailInformation] | GuardrailInformation | None = None
    total_tokens: Any = None
    response_cost: Any = None
    """Typed loosely on purpose: they only feed usage counters, and a garbled count must not reject a call."""


class ProxyError(VendorModel):
    message: str | dict[str, Any]
    code: str | int | None = None
    provider_specific_fields: dict[str, Any] | None = None


class ErrorBody(VendorModel):
    error: ProxyError


def looks_like(item: dict[str, Any]) -> bool:
    """A logging payload has `call_type` + `status`; a proxy error is `{"error": {"message", "code"}}` alone."""
    if "call_type" in item and "status" in item:
        return True
    error = item.get("error")
    return set(item) == {"error"} and isinstance(error, dict) and "message" in error and "code" in error


def is_master_key(meta: Metadata) -> bool:
    """Whether the call was made with the proxy's master key, which is no actor: every admin shares it.

    The rule: the key has no alias AND LiteLLM logged its user as `default_user_id` (the master key
    has no row in the key table, so no alias and no owner), or the hash is the literal LiteLLM now
    logs for the master key. A virtual key always has an owner or an alias worth keeping.
    """
    if meta.user_api_key_hash == MASTER_KEY_HASH_LITERAL:
        return True
    return not meta.user_api_key_alias and meta.user_api_key_user_id == MASTER_KEY_USER_ID


def _actor(body: LoggingPayload) -> dict[str, str | None]:
    meta = body.metadata
    key = None if is_master_key(meta) else (meta.user_api_key_hash or meta.user_api_key_alias)
    return mapping.actor_fields(
        user=body.end_user or meta.user_api_key_end_user_id, api_key=key, team=meta.user_api_key_team_id,
        session=body.session_id or _caller_session(meta), ip=body.requester_ip_address or meta.requester_ip_address)


def _caller_session(meta: Metadata) -> str | None:
    """With LiteLLM's defaults `session_id` is logged empty and the caller's session id (request
    `metadata.session_id` or the `x-litellm-session-id` header) survives only in requester_metadata;
    `trace_id` is no help, being a generated UUID otherwise. Seen on a real 1.106.4 proxy."""
    value = (meta.requester_metadata or {}).get("session_id")
    return value if isinstance(value, str) and value.strip() else None


def _direction(mode: object) -> Direction:
    """pre/during-call guardrails see the prompt, post-call ones the response; a mix says neither."""
    listed = mode if isinstance(mode, list) else [mode]
    modes = {m for m in listed if isinstance(m, str)}
    if modes and modes <= INPUT_MODES:
        return Direction.input
    if modes and modes <= OUTPUT_MODES:
        return Direction.output
    return Direction.unknown


def _matches(info: GuardrailInformation) -> list[dict[str, Any]]:
    response = info.guardrail_response if isinstance(info.guardrail_response, list) else []
    return [m for m in [*(info.match_details or []), *response] if isinstance(m, dict)]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _keys(info: GuardrailInformation) -> list[str]:
    provider = info.guardrail_provider or ""
    keys = [f"guardrail/{info.guardrail_name}"] if info.guardrail_name else []
    for match in _matches(info):
        kind, sub = _text(match.get("type")), _text(match.get("pattern_name")) or _text(match.get("category"))
        keys += [f"{provider}/{kind}/{sub}"] if kind and sub else []
        keys += [f"{provider}/{kind}"] if kind else []
    keys += [f"{provider}/category/{c}" for c in info.violation_categories or []]
    return keys + ([provider] if provider else [])


def _last_user_text(messages: object) -> str | None:
    if isinstance(messages, str):
        return messages
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return None


def _embedded(provider: str | None, response: object, path: str, direction: Direction) -> list[Detection]:
    """The provider's own verdict, when LiteLLM passed it through; [] when absent or not the vendor's shape.

    A passed-through body that does not parse is no reason to refuse LiteLLM's item: the guardrail
    still intervened, and the provider's row in the litellm section classifies it instead.
    """
    parse = EMBEDDED.get(provider or "")
    if parse is None or not isinstance(response, dict):
        return []
    try:
        found = parse(response, path)
    except NormalizationError:
        return []
    return [d if d.direction is not Direction.unknown else dataclasses.replace(d, direction=direction) for d in found]


def _guardrail_detections(info: GuardrailInformation, body: LoggingPayload, path: str) -> list[Detection]:
    direction = _direction(info.guardrail_mode)
    embedded = _embedded(info.guardrail_provider, info.guardrail_response, f"{path}.guardrail_response", direction)
    if embedded:
        return embedded
    snippets = [_text(m.get("snippet")) for m in _matches(info)]
    fallback = _last_user_text(body.messages) if direction is not Direction.output else None
    named = [_text(m.get("pattern_name")) or _text(m.get("category")) or _text(m.get("type")) for m in _matches(info)]
    kind = max(named, key=lambda k: k is not None and k not in {"pattern", "category_keyword"}, default=None)
    label = ": ".join(p for p in (info.guardrail_name or info.guardrail_provider, kind) if p)
    score = info.confidence_score
    return [mapping.detection(SOURCE, _keys(info), label, score if score is not None and 0 <= score <= 1 else None,
                              next((s for s in snippets if s), None) or fallback, direction)]


def _detections(body: LoggingPayload, path: str) -> list[Detection]:
    infos = body.guardrail_information
    listed = [(f"{path}.guardrail_information", infos)] if isinstance(infos, GuardrailInformation) else [
        (f"{path}.guardrail_information[{i}]", info) for i, info in enumerate(infos or [])]
    found = [d for where, info in listed if info.guardrail_status in INTERVENED
             for d in _guardrail_detections(info, body, where)]
    if found:
        return found
    if body.status_fields is not None and body.status_fields.guardrail_status in INTERVENED:
        return [mapping.detection(SOURCE, [], "guardrail", evidence=_last_user_text(body.messages))]
    error_class = body.error_information.error_class if body.error_information else None
    row = mapping.lookup(SOURCE, [f"error/{error_class}"]) if body.status == "failure" and error_class else None
    if row is None:
        reason = f"failed call without a security reason ({error_class})" if body.status == "failure" else "call not flagged by any guardrail"
        raise Ignored(f"telemetry: {reason}")
    return [Detection(row, error_class or "", mapping.binary_confidence())]


def _normalize_payload(item: dict[str, Any], path: str) -> Alert:
    body = mapping.parse(LoggingPayload, item, path, "a LiteLLM logging payload")
    actor = _actor(body)
    try:
        detections = _detections(body, path)
    except Ignored as telemetry:
        raise Ignored(telemetry.reason, _usage(body, actor)) from None
    return mapping.build_alert(
        SOURCE, path, item, detections, actor=actor, vendor_id=body.id or body.trace_id,
        time=mapping.from_epoch(body.startTime), model=body.model_group or body.model)


def _usage(body: LoggingPayload, actor: dict[str, str | None]) -> Usage | None:
    """What an unflagged call counts towards: its key and end user (placeholders are no one), tokens, cost."""
    try:
        known = Actor.model_validate(actor)  # drops LiteLLM's placeholders, as an alert's actor would
    except ValidationError:
        return None
    key, user = known.api_key, known.user
    if not key and not user:
        return None
    at = mapping.from_epoch(body.startTime) or utcnow()
    return Usage(SOURCE, at, api_key=key, user=user, tokens=_count(body.total_tokens, int),
                 cost=_count(body.response_cost, float))


def _count(value: object, kind: type[int] | type[float]) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return kind(0)
    return kind(value)


# --- the proxy's error body --------------------------------------------------------------------


def _error_details(error: ProxyError) -> dict[str, Any]:
    """The guardrail's detail dict: LiteLLM puts it in `message` as a dict, or as its Python repr."""
    details: dict[str, Any] = dict(error.provider_specific_fields or {})
    if isinstance(error.message, dict):
        return details | error.message
    text = _STATUS_PREFIX.sub("", error.message, count=1).strip()
    if text.startswith("{") and len(text) <= ERROR_MESSAGE_MAX:
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            return details | {str(k): v for k, v in parsed.items()}
    return details | {"error": error.message}


def _is_guardrail_block(details: dict[str, Any]) -> bool:
    """A guardrail raised it: its detail names a guardrail, or carries a vendor's `*_response`."""
    if any("guardrail" in key or key.endswith("_ai_response") for key in details):
        return True
    return "guardrail" in str(details.get("error", "")).lower()


def _error_keys(details: dict[str, Any]) -> list[str]:
    name, pattern, category = (_text(details.get(k)) for k in ("guardrail_name", "pattern", "category"))
    keys = [f"guardrail/{name}"] if name else []
    keys += [f"litellm_content_filter/pattern/{pattern}"] if pattern else []
    keys += [f"litellm_content_filter/category_keyword/{category}"] if category else []
    keys += ["litellm_content_filter/blocked_word"] if _text(details.get("keyword")) else []
    return keys + (["lakera_v2"] if "lakera_ai_response" in details else [])


def _normalize_error(item: dict[str, Any], path: str) -> Alert:
    body = mapping.parse(ErrorBody, item, path, "a LiteLLM proxy error")
    details = _error_details(body.error)
    if not _is_guardrail_block(details):
        raise Ignored("telemetry: proxy error without a guardrail block")
    name = _text(details.get("guardrail_name")) or "guardrail"
    direction = _direction(details.get("guardrail_mode"))
    found = [d for key, provider in EMBEDDED_ERROR_KEYS.items()
             for d in _embedded(provider, details.get(key), f"{path}.error.message.{key}", direction)]
    found = found or [mapping.detection(SOURCE, _error_keys(details), name, evidence=_text(details.get("keyword")),
                                        direction=direction)]
    return mapping.build_alert(SOURCE, path, item, found)


def normalize(item: Any, path: str) -> Alert:
    """A logging payload or a proxy error body -> one alert, or Ignored for telemetry.

    Raises:
        NormalizationError: not the vendor's shape (the path names where).
        Ignored: the item is telemetry, not an alert.
    """
    if isinstance(item, dict) and "call_type" not in item and "error" in item:
        return _normalize_error(item, path)
    return _normalize_payload(item, path)
