"""OCSF Detection Finding (class_uid 2004) in: from a SIEM, a security data lake, or irflow's own export.

The finding already states its title and severity, so both are kept. The category comes from
`unmapped.irflow.category` when irflow wrote the finding, else from the ATLAS techniques in
`finding_info.attacks[]` through the `ocsf` rows of detectors.yaml. ATLAS ids are the attacks' `AML.`
technique / sub-technique uids (other frameworks' ids, e.g. ATT&CK's, are ignored); an `AML.` id that
MITRE ATLAS does not have is refused, as for native alerts. The actor is read from
`evidences[].actor` / `src_endpoint` (Evidence Artifacts) or the class-level `actor` / `src_endpoint`
that the Host profile adds. Field names: OCSF 1.3 schema (schema.ocsf.io); the tests validate the
fixtures and `to_ocsf` output with py-ocsf-models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError

from irflow.models import OWASP_IDS, Actor, Alert, Category, Direction, Severity
from irflow.normalize import mapping
from irflow.normalize.errors import NormalizationError
from irflow.normalize.mapping import Row, VendorModel
from irflow.taxonomy import atlas_techniques

SOURCE = "ocsf"
SEVERITY_BY_ID = {1: Severity.low, 2: Severity.low, 3: Severity.medium, 4: Severity.high, 5: Severity.critical,
                  6: Severity.critical}
"""OCSF severity_id -> irflow severity; Informational is still worth a look, Fatal is Critical. 0/99 use the row."""


class Technique(VendorModel):
    uid: str | None = None
    name: str | None = None


class Attack(VendorModel):
    technique: Technique | None = None
    sub_technique: Technique | None = None


class Analytic(VendorModel):
    uid: str | None = None
    name: str | None = None


class FindingInfo(VendorModel):
    uid: str = Field(min_length=1, max_length=255)
    title: str = Field(min_length=1, max_length=4000)
    types: list[str] = Field(default_factory=list)
    attacks: list[Attack] = Field(default_factory=list)
    analytic: Analytic | None = None


class Group(VendorModel):
    name: str | None = None


class User(VendorModel):
    name: str | None = None
    uid: str | None = None
    credential_uid: str | None = None
    groups: list[Group] = Field(default_factory=list)


class Session(VendorModel):
    uid: str | None = None


class OcsfActor(VendorModel):
    user: User | None = None
    session: Session | None = None


class Endpoint(VendorModel):
    ip: str | None = None


class Evidence(VendorModel):
    actor: OcsfActor | None = None
    src_endpoint: Endpoint | None = None
    data: dict[str, Any] | None = None


class IrflowFields(VendorModel):
    category: str | None = None
    owasp: str | None = None
    direction: str | None = None
    app: str | None = Field(default=None, max_length=255)
    model: str | None = Field(default=None, max_length=255)


class Unmapped(VendorModel):
    irflow: IrflowFields | None = None


class DetectionFinding(VendorModel):
    class_uid: Literal[2004]
    time: int | None = Field(default=None, ge=int(mapping.MIN_EPOCH * 1000), le=int(mapping.MAX_EPOCH * 1000))
    severity_id: int = Field(ge=0, le=99)
    confidence_score: int | None = Field(default=None, ge=0, le=100)
    finding_info: FindingInfo
    actor: OcsfActor | None = None
    src_endpoint: Endpoint | None = None
    evidences: list[Evidence] = Field(default_factory=list)
    unmapped: Unmapped | None = None


def looks_like(item: dict[str, Any]) -> bool:
    return "class_uid" in item and "finding_info" in item


def _atlas(info: FindingInfo, path: str) -> list[str]:
    ids: list[str] = []
    for i, attack in enumerate(info.attacks):
        for part, technique in (("sub_technique", attack.sub_technique), ("technique", attack.technique)):
            uid = technique.uid if technique else None
            if uid is None or not uid.startswith("AML."):
                continue
            if uid not in atlas_techniques():
                raise NormalizationError(f"{path}.finding_info.attacks[{i}].{part}.uid", f"not a MITRE ATLAS technique id: {uid}")
            if uid not in ids:
                ids.append(uid)
            break  # a sub-technique says all its technique does
    return ids


def _actor(body: DetectionFinding) -> Actor:
    actors = [e.actor for e in body.evidences if e.actor] + ([body.actor] if body.actor else [])
    endpoints = [e.src_endpoint for e in body.evidences if e.src_endpoint] + ([body.src_endpoint] if body.src_endpoint else [])
    users = [a.user for a in actors if a.user]
    sessions = [a.session.uid for a in actors if a.session and a.session.uid]
    return Actor(
        user=next((u.name or u.uid for u in users if u.name or u.uid), None),
        api_key=next((u.credential_uid for u in users if u.credential_uid), None),
        team=next((g.name for u in users for g in u.groups if g.name), None),
        session=next(iter(sessions), None), ip=next((e.ip for e in endpoints if e.ip), None))


def _row(extra: IrflowFields | None, atlas: list[str]) -> Row:
    category = extra.category if extra and extra.category in Category.__members__ else None
    return mapping.classify(SOURCE, [f"category/{category}"] if category else atlas)


def _owasp(extra: IrflowFields | None, row: Row) -> str | None:
    if extra is not None and "owasp" in extra.model_fields_set and (extra.owasp is None or extra.owasp in OWASP_IDS):
        return extra.owasp
    return row.owasp


def normalize(item: Any, path: str) -> Alert:
    """One alert per finding, keeping the producer's title and severity.

    Raises:
        NormalizationError: not a Detection Finding, or an unknown ATLAS id (the path names where).
    """
    body = mapping.parse(DetectionFinding, item, path, "an OCSF Detection Finding")
    extra = body.unmapped.irflow if body.unmapped else None
    atlas = _atlas(body.finding_info, path)
    row = _row(extra, atlas)
    confidence = body.confidence_score / 100 if body.confidence_score is not None else mapping.binary_confidence()
    named = extra.direction if extra else None
    direction = Direction(named) if named is not None and named in Direction.__members__ else Direction.unknown
    evidence = next((e.data.get("evidence") for e in body.evidences if e.data), None)
    when: dict[str, Any] = {"time": mapping.from_epoch(body.time / 1000)} if body.time is not None else {}
    try:
        return Alert(
            **when,
            source=SOURCE, vendor_id=body.finding_info.uid, title=body.finding_info.title, category=row.category,
            severity=SEVERITY_BY_ID.get(body.severity_id) or mapping.severity_for(row, confidence),
            confidence=confidence, owasp=_owasp(extra, row), atlas=atlas or list(row.atlas),
            direction=direction, actor=_actor(body), app=extra.app if extra else None,
            model=extra.model if extra else None, evidence=mapping.excerpt(evidence), detector=row.id, raw=item)
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None
