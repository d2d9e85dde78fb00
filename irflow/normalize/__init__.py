"""Normalizers: one per source product, each turning a vendor body into one `Alert` (or `Ignored`).

`normalize_item` unwraps the optional envelope, picks the normalizer (explicit source, or detected from
the body's distinctive keys), fills the actor from the envelope's context, then `finish` computes the
keys every alert carries: fingerprint, dedup_key, group_key.

The envelope exists because vendor bodies rarely say who was behind a request:
`{"source": "lakera", "context": {"user": ..., "api_key": ..., "team": ..., "session": ..., "ip": ...,
"app": ..., "model": ...}, "payload": {...vendor body...}}`. Context values override the vendor's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irflow.correlation import group_key
from irflow.models import Actor, Alert, canonical_json, sha256_hex
from irflow.normalize import (
    azure_prompt_shields,
    bedrock,
    lakera,
    litellm,
    llm_guard,
    model_armor,
    native,
    nemo,
    ocsf,
    prompt_security,
)
from irflow.normalize.errors import Ignored, NormalizationError, UnknownSource

Normalizer = Callable[[Any, str], Alert]
Detector = Callable[[dict[str, Any]], bool]

_VENDORS = (litellm, lakera, llm_guard, nemo, bedrock, azure_prompt_shields, model_armor, prompt_security, ocsf)

NORMALIZERS: dict[str, Normalizer] = {native.SOURCE: native.normalize} | {m.SOURCE: m.normalize for m in _VENDORS}
DETECTORS: dict[str, Detector] = {native.SOURCE: native.looks_native} | {m.SOURCE: m.looks_like for m in _VENDORS}
"""Each source's test of a body's distinctive keys; `detect` requires exactly one to say yes."""

ENVELOPE_KEYS = frozenset({"source", "context", "payload"})


class Context(BaseModel):
    """Identity the sender knows and the vendor did not record. Unknown keys are refused (typos)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    user: str | None = Field(default=None, max_length=1000)
    api_key: str | None = Field(default=None, max_length=1000)
    team: str | None = Field(default=None, max_length=1000)
    session: str | None = Field(default=None, max_length=1000)
    ip: str | None = Field(default=None, max_length=255)
    app: str | None = Field(default=None, max_length=255)
    model: str | None = Field(default=None, max_length=255)


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    source: str | None = Field(default=None, max_length=64)
    context: Context = Field(default_factory=Context)
    payload: Any


def is_envelope(item: Any) -> bool:
    return isinstance(item, dict) and "payload" in item and set(item) <= ENVELOPE_KEYS


def candidates(item: Any) -> list[str]:
    """Every source whose distinctive keys the body has (an unambiguous body has exactly one)."""
    if not isinstance(item, dict):
        return []
    return [name for name, looks_like in DETECTORS.items() if looks_like(item)]


def detect(item: Any) -> str | None:
    """The one source this body looks like, or None when it looks like none or several."""
    found = candidates(item)
    return found[0] if len(found) == 1 else None


def _pick(item: Any, path: str, source: str | None) -> str:
    if source is not None:
        if source not in NORMALIZERS:
            raise UnknownSource(path, f"unknown source {source!r}; known sources: {', '.join(sorted(NORMALIZERS))}")
        return source
    found = candidates(item)
    if len(found) > 1:
        raise UnknownSource(path, f"ambiguous: looks like {' and '.join(found)}; name the source")
    if not found:
        raise UnknownSource(path, f"not an alert of any known source; known sources: {', '.join(sorted(NORMALIZERS))}")
    return found[0]


def _open_envelope(item: Any, path: str, source: str | None) -> tuple[Envelope, str]:
    try:
        envelope = Envelope.model_validate(item)
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None
    if source is not None and envelope.source is not None and envelope.source != source:
        raise NormalizationError(f"{path}.source", f"envelope says {envelope.source!r} but the source given is {source!r}")
    return envelope, _pick(envelope.payload, f"{path}.payload", source or envelope.source)


def _with_context(alert: Alert, envelope: Envelope, item: Any) -> Alert:
    """Context fills and overrides the vendor's identity; a placeholder in the context never erases it."""
    ctx = envelope.context
    given = Actor(user=ctx.user, api_key=ctx.api_key, team=ctx.team, session=ctx.session, ip=ctx.ip)
    actor = alert.actor.model_copy(update={k: v for k, v in given.model_dump().items() if v is not None})
    return alert.model_copy(update={"actor": actor, "app": ctx.app or alert.app, "model": ctx.model or alert.model,
                                    "raw": item})


def normalize_item(item: Any, path: str, source: str | None = None) -> Alert:
    """One submitted item -> one alert.

    Raises:
        NormalizationError: the item is malformed (its `path` names where), or UnknownSource.
        Ignored: the item is telemetry, not an alert (e.g. a LiteLLM call no guardrail flagged).
    """
    if is_envelope(item):
        envelope, name = _open_envelope(item, path, source)
        alert = NORMALIZERS[name](envelope.payload, f"{path}.payload")
        return finish(_with_context(alert, envelope, item))
    name = _pick(item, path, source)
    return finish(NORMALIZERS[name](item, path))


def vendor_dedup_key(source: str, vendor_id: str) -> str:
    """The dedup key of a delivery its vendor gave an id: the same id from the same source is one delivery."""
    return f"id:{source}:{vendor_id}"


def finish(alert: Alert) -> Alert:
    """Fingerprint = what the alert says (not when it arrived); dedup_key = this delivery's identity."""
    alert.fingerprint = sha256_hex(canonical_json(alert.raw))
    alert.dedup_key = (vendor_dedup_key(alert.source, alert.vendor_id) if alert.vendor_id
                       else f"fp:{alert.source}:{alert.fingerprint}")
    alert.group_key = group_key(alert)
    return alert


__all__ = ["DETECTORS", "NORMALIZERS", "Ignored", "NormalizationError", "UnknownSource", "candidates", "detect",
           "finish", "normalize_item"]
