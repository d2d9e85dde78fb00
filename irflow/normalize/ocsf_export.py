"""Alert -> OCSF Detection Finding (class_uid 2004), for `irflow alerts export --format ocsf`.

What goes where (OCSF 1.3 names): title -> `finding_info.title`; category -> `finding_info.types[0]`;
ATLAS ids -> `finding_info.attacks[]` (technique, and sub_technique for `AML.Txxxx.yyy`); the mapping
row -> `finding_info.analytic`; severity -> `severity_id`; confidence -> `confidence_score` (0-100);
actor -> `evidences[0].actor.user` (name, `credential_uid` = API key, `groups` = team),
`evidences[0].actor.session.uid` and `evidences[0].src_endpoint.ip`; what OCSF has no name for
(irflow category, OWASP id, direction, app, model) -> `unmapped.irflow`. `normalize_item(to_ocsf(a),
"$", "ocsf")` gives back the same category, severity, OWASP, ATLAS, actor and title.

This is egress: attacker-controlled text is redacted here, by construction. Evidence is redacted
fully; the title and a raw API key (never a LiteLLM key hash) are redacted of secrets only, so an
e-mail address that names the user stays usable by the SIEM.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from irflow.models import Actor
from irflow.redaction import redact
from irflow.taxonomy import atlas_techniques

OCSF_VERSION = "1.3.0"
ATLAS_VERSION = "MITRE ATLAS 5.6.0"
SEVERITY_IDS = {"low": 2, "medium": 3, "high": 4, "critical": 5}
SEVERITY_NAMES = {2: "Low", 3: "Medium", 4: "High", 5: "Critical"}
DETECTION_FINDING = 2004
FINDINGS_CATEGORY = 2
CREATE = 1


def _get(row: object, name: str) -> Any:
    """A field of an `Alert`, an `AlertRow` or a plain mapping: whichever the caller has."""
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _millis(value: object) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value) if isinstance(value, int | float) else 0


def _actor(value: object) -> dict[str, str | None]:
    """Identifiers leave irflow defanged and with secrets redacted (PII kept: a SIEM needs the user), like
    every other egress path; the API key is handled by `_safe_key`."""
    raw = value.model_dump() if isinstance(value, Actor) else (
        {k: _text(value.get(k)) for k in Actor.model_fields} if isinstance(value, Mapping) else {})
    return {k: (v if v is None or k == "api_key" else str(redact(v, max_len=500, pii=False))) for k, v in raw.items()}


def _parent(atlas_id: str) -> str:
    """`AML.T0051.000` is a sub-technique of `AML.T0051`; a technique is its own parent."""
    parts = atlas_id.split(".")
    return ".".join(parts[:2]) if len(parts) == 3 else atlas_id


def _attack(atlas_id: str) -> dict[str, Any]:
    names, parent = atlas_techniques(), _parent(atlas_id)
    attack: dict[str, Any] = {"technique": {"uid": parent, "name": names.get(parent, parent)}, "version": ATLAS_VERSION}
    if parent != atlas_id:
        attack["sub_technique"] = {"uid": atlas_id, "name": names.get(atlas_id, atlas_id)}
    return attack


def _evidences(actor: dict[str, str | None], evidence: object) -> list[dict[str, Any]]:
    user: dict[str, Any] = {}
    if actor.get("user"):
        user["name"] = actor["user"]
    if actor.get("api_key"):
        user["credential_uid"] = _safe_key(actor["api_key"])
    if actor.get("team"):
        user["groups"] = [{"name": actor["team"]}]
    who: dict[str, Any] = {"user": user} if user else {}
    if actor.get("session"):
        who["session"] = {"uid": actor["session"]}
    item: dict[str, Any] = {"actor": who} if who else {}
    if actor.get("ip"):
        item["src_endpoint"] = {"ip": actor["ip"]}
    if evidence:
        item["data"] = {"evidence": str(redact(evidence))}
    return [item] if item else []


def _safe_key(key: str | None) -> str | None:
    """A raw API key never leaves irflow; its hint does. Hashes and aliases pass unchanged."""
    return None if key is None else str(redact(key, pii=False))


def to_ocsf(alert: object) -> dict[str, Any]:
    """One stored or normalized alert as an OCSF Detection Finding (a plain, JSON-ready dict).

    Args:
        alert: an `irflow.models.Alert`, an `irflow.store.tables.AlertRow`, or a mapping with the same fields.
    """
    severity = str(_get(alert, "severity"))
    severity_id = SEVERITY_IDS.get(severity, 0)
    category = _text(_get(alert, "category"))
    detector = _text(_get(alert, "detector"))
    confidence = _get(alert, "confidence")
    finding: dict[str, Any] = {"uid": _text(_get(alert, "vendor_id")) or _text(_get(alert, "id")),
                               "title": str(redact(_get(alert, "title"), pii=False)) or "(untitled)",
                               "types": [category]}
    if detector:
        finding["analytic"] = {"uid": detector, "name": detector, "type_id": 1, "type": "Rule"}
    atlas = list(_get(alert, "atlas") or [])
    if atlas:
        finding["attacks"] = [_attack(a) for a in atlas]
    out: dict[str, Any] = {
        "class_uid": DETECTION_FINDING, "class_name": "Detection Finding",
        "category_uid": FINDINGS_CATEGORY, "category_name": "Findings",
        "activity_id": CREATE, "activity_name": "Create",
        "type_uid": DETECTION_FINDING * 100 + CREATE, "type_name": "Detection Finding: Create",
        "time": _millis(_get(alert, "time")),
        "severity_id": severity_id, "severity": SEVERITY_NAMES.get(severity_id, "Unknown"),
        "status_id": 1, "status": "New",
        "metadata": {"version": OCSF_VERSION, "uid": _text(_get(alert, "id")),
                     "product": {"name": "irflow", "vendor_name": "irflow"},
                     "labels": [f"source:{_get(alert, 'source')}"]},
        "finding_info": finding,
        "evidences": _evidences(_actor(_get(alert, "actor")), _get(alert, "evidence")),
        "unmapped": {"irflow": {"category": category, "owasp": _text(_get(alert, "owasp")),
                                "direction": _text(_get(alert, "direction")), "source": _text(_get(alert, "source")),
                                "app": _text(_get(alert, "app")), "model": _text(_get(alert, "model"))}},
    }
    if isinstance(confidence, int | float):
        out["confidence_score"] = round(float(confidence) * 100)
    return out
