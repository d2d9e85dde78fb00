"""Normalizers: one per source product, each turning a vendor body into `Alert`s.

`normalize_item` picks the normalizer (explicit source, or detected from the body's shape), then
`finish` computes the keys every alert carries: fingerprint, dedup_key, group_key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from irflow.correlation import group_key
from irflow.models import Alert, canonical_json, sha256_hex
from irflow.normalize import native
from irflow.normalize.errors import NormalizationError, UnknownSource

Normalizer = Callable[[Any, str], Alert]

NORMALIZERS: dict[str, Normalizer] = {native.SOURCE: native.normalize}


def detect(item: Any) -> str | None:
    if isinstance(item, dict) and native.looks_native(item):
        return native.SOURCE
    return None


def normalize_item(item: Any, path: str, source: str | None = None) -> Alert:
    name = source or detect(item)
    if name is None:
        raise UnknownSource(path, f"not an alert of any known source; known sources: {', '.join(sorted(NORMALIZERS))}")
    if name not in NORMALIZERS:
        raise UnknownSource(path, f"unknown source {name!r}; known sources: {', '.join(sorted(NORMALIZERS))}")
    return finish(NORMALIZERS[name](item, path))


def finish(alert: Alert) -> Alert:
    """Fingerprint = what the alert says (not when it arrived); dedup_key = this delivery's identity."""
    alert.fingerprint = sha256_hex(canonical_json(alert.raw))
    alert.dedup_key = f"id:{alert.source}:{alert.vendor_id}" if alert.vendor_id else f"fp:{alert.source}:{alert.fingerprint}"
    alert.group_key = group_key(alert)
    return alert


__all__ = ["NORMALIZERS", "NormalizationError", "UnknownSource", "finish", "normalize_item"]
