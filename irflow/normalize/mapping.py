"""The detector mapping table (irflow/data/detectors.yaml) and the one way a normalizer turns it into an Alert.

Normalizers only parse their vendor's body and say *what fired* (candidate detector keys, a confidence,
an evidence excerpt); which category, OWASP id, ATLAS techniques and severity that means is decided
here, from the table, so the classification is reviewable data rather than `if`s spread over nine
modules, and every alert records the id of the row that classified it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from irflow.models import OWASP_IDS, Actor, Alert, Category, Direction, Severity
from irflow.normalize.errors import NormalizationError
from irflow.redaction import find_secrets
from irflow.taxonomy import atlas_techniques

FALLBACK = "*"
EVIDENCE_MAX = 500
"""Evidence is an excerpt for a responder, not the whole prompt: the full body stays in `raw`."""
LABEL_MAX = 64
KEY_MAX = 256
"""Longer detector keys are not matched against patterns (they come from vendor bodies)."""
MAX_EPOCH = 253402300799.0
MIN_EPOCH = -62135596800.0
"""0001-01-01 .. 9999-12-31T23:59:59Z: what `datetime` can represent, so epoch fields are bounded by it."""

_SEVERITIES = (Severity.low, Severity.medium, Severity.high, Severity.critical)
_LABEL_DROP = re.compile(r"[^A-Za-z0-9 _./:@+#-]+")
_JSON_TYPES = {"dict": "object", "list": "array", "str": "string", "int": "number", "float": "number",
               "bool": "boolean", "NoneType": "null"}


class Row(BaseModel):
    """One row of the table: what one detector of one source means for a responder."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=120)
    source: str
    detector: str = Field(min_length=1)
    category: Category
    owasp: str | None
    atlas: tuple[str, ...]
    severity: Severity
    title: str = Field(min_length=1, max_length=80)

    @field_validator("owasp")
    @classmethod
    def _owasp_2025(cls, value: str | None) -> str | None:
        if value is not None and value not in OWASP_IDS:
            raise ValueError(f"must be an OWASP LLM Top 10 (2025) id LLM01..LLM10, got {value!r}")
        return value

    @field_validator("atlas")
    @classmethod
    def _atlas_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a not in atlas_techniques()]
        if unknown:
            raise ValueError(f"not MITRE ATLAS technique ids: {', '.join(unknown)}")
        return value


class Band(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float = Field(ge=0.0, le=1.0)
    max: float = Field(ge=0.0, le=1.0)
    shift: int = Field(ge=-3, le=3)


class SourceInfo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    keys: str


class ConfidenceRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    binary: float = Field(ge=0.0, le=1.0)
    levels: dict[str, dict[str, float]]


class Table(BaseModel):
    """The whole file, validated so a typo in a row fails the test suite, not an alert at 3 a.m."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    severity_bands: tuple[Band, ...]
    confidence: ConfidenceRules
    sources: dict[str, SourceInfo]
    rows: tuple[Row, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Table:
        ids = [r.id for r in self.rows]
        keys = [(r.source, r.detector) for r in self.rows]
        problems = [f"duplicate row id {i!r}" for i in {i for i in ids if ids.count(i) > 1}]
        problems += [f"duplicate detector {k!r}" for k in {k for k in keys if keys.count(k) > 1}]
        problems += [f"row {r.id!r}: unknown source {r.source!r}" for r in self.rows if r.source not in self.sources]
        problems += [f"source {s!r} has no '*' fallback row" for s in self.sources if (s, FALLBACK) not in keys]
        edges = [(b.min, b.max) for b in self.severity_bands]
        if not edges or edges[0][0] != 0.0 or edges[-1][1] != 1.0 or any(
                a[1] != b[0] for a, b in pairwise(edges)):
            problems.append("severity_bands must cover 0..1 without gaps, in order")
        if problems:
            raise ValueError("; ".join(sorted(problems)))
        return self


@dataclass(frozen=True)
class _Index:
    exact: dict[tuple[str, str], Row]
    patterns: dict[str, tuple[tuple[re.Pattern[str], Row], ...]]
    fallback: dict[str, Row]


@cache
def table() -> Table:
    """The shipped table, loaded and validated once per process."""
    text = resources.files("irflow.data").joinpath("detectors.yaml").read_text(encoding="utf-8")
    return Table.model_validate(yaml.safe_load(text))


def _pattern(detector: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in detector.split("*")), re.DOTALL)


@cache
def _index() -> _Index:
    rows = table().rows
    globbed = sorted((r for r in rows if "*" in r.detector and r.detector != FALLBACK),
                     key=lambda r: -len(r.detector.replace("*", "")))
    patterns: dict[str, list[tuple[re.Pattern[str], Row]]] = {}
    for row in globbed:
        patterns.setdefault(row.source, []).append((_pattern(row.detector), row))
    return _Index(
        exact={(r.source, r.detector): r for r in rows if "*" not in r.detector},
        patterns={s: tuple(p) for s, p in patterns.items()},
        fallback={r.source: r for r in rows if r.detector == FALLBACK},
    )


def lookup(source: str, keys: Iterable[str]) -> Row | None:
    """The row for the first key that has one (exact match, then best pattern); None if no key has one."""
    index = _index()
    for key in keys:
        row = index.exact.get((source, key))
        if row is not None:
            return row
        if len(key) <= KEY_MAX:
            for rx, row in index.patterns.get(source, ()):
                if rx.fullmatch(key):
                    return row
    return None


def classify(source: str, keys: Iterable[str]) -> Row:
    """Like `lookup`, but an unknown detector is still classified: by the source's `*` row."""
    return lookup(source, keys) or _index().fallback[source]


# --- confidence and severity -------------------------------------------------------------------


def binary_confidence() -> float:
    """Confidence of a yes/no verdict: the vendor's own threshold was crossed."""
    return table().confidence.binary


def level_confidence(scale: str, level: str | None) -> float:
    """A vendor's named confidence level (Bedrock HIGH, Model Armor MEDIUM_AND_ABOVE, ...) as 0-1."""
    if level is None:
        return binary_confidence()
    return table().confidence.levels[scale].get(level, binary_confidence())


def risk_confidence(risk: float) -> float:
    """LLM Guard's risk score in [-1, 1] (0 = at the scanner's threshold) as a 0-1 confidence."""
    return min(1.0, max(0.0, (risk + 1.0) / 2.0))


def severity_for(row: Row, confidence: float) -> Severity:
    """The row's base severity moved by the confidence band (see severity_bands in the table)."""
    bands = table().severity_bands
    band = next((b for b in bands if b.min <= confidence < b.max), bands[-1])
    rank = _SEVERITIES.index(row.severity) + band.shift
    return _SEVERITIES[min(len(_SEVERITIES) - 1, max(0, rank))]


# --- detections -> alert -----------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    """One thing a vendor flagged in an item, already classified by its row."""

    row: Row
    label: str
    confidence: float
    evidence: str | None = None
    direction: Direction = Direction.unknown


def detection(source: str, keys: Iterable[str], label: str, confidence: float | None = None,
              evidence: str | None = None, direction: Direction = Direction.unknown) -> Detection:
    """Classify what fired; `confidence` None means a yes/no verdict."""
    conf = binary_confidence() if confidence is None else min(1.0, max(0.0, confidence))
    return Detection(classify(source, keys), label, conf, evidence, direction)


def primary(found: Sequence[Detection]) -> Detection:
    """The detection an item is classified by: the most severe, then the most confident, then the first."""
    return max(found, key=lambda d: (severity_for(d.row, d.confidence).rank, d.confidence))


def safe_label(text: str) -> str:
    """A vendor's detector name, fit for a title: plain characters, short, and never a secret."""
    label = " ".join(_LABEL_DROP.sub(" ", text).split())[:LABEL_MAX].strip()
    return "" if label and find_secrets(label) else label


def title(source: str, top: Detection, others: int) -> str:
    """A concise title built from the row and the detector's name: never from matched text."""
    name = table().sources[source].name
    label = safe_label(top.label)
    text = f"{name}: {top.row.title}" + (f" ({label})" if label else "")
    if others:
        text += f" and {others} more detection{'s' if others > 1 else ''}"
    return text


def excerpt(text: object) -> str | None:
    """A short excerpt of offending text (attacker-controlled: redacted later, at egress)."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    return text if len(text) <= EVIDENCE_MAX else text[: EVIDENCE_MAX - 1] + "\u2026"


def from_epoch(seconds: float | None) -> datetime | None:
    """Epoch seconds (bounded by the vendor models) as an aware datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


def build_alert(source: str, path: str, item: Any, found: Sequence[Detection], *,
                actor: Mapping[str, str | None] | None = None, vendor_id: str | None = None,
                time: datetime | None = None, direction: Direction = Direction.unknown,
                app: str | None = None, model: str | None = None, evidence: str | None = None) -> Alert:
    """One alert for one item, classified by its primary detection.

    Raises:
        NormalizationError: the values do not fit the alert model (named at `path`).
    """
    top = primary(found)
    when: dict[str, Any] = {"time": time} if time is not None else {}  # absent: Alert's default, now
    try:
        return Alert(
            **when,
            source=source, vendor_id=vendor_id or None, title=title(source, top, len(found) - 1),
            category=top.row.category, severity=severity_for(top.row, top.confidence),
            confidence=top.confidence, owasp=top.row.owasp, atlas=list(top.row.atlas),
            direction=top.direction if top.direction is not Direction.unknown else direction,
            actor=Actor(**(actor or {})), app=app or None, model=model or None,
            evidence=excerpt(top.evidence) or excerpt(evidence), detector=top.row.id, raw=item,
        )
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None


# --- vendor body validation --------------------------------------------------------------------


class VendorModel(BaseModel):
    """Base of every vendor body model: vendors add fields over time, so unknown ones are kept, not refused.

    Strict: a vendor that sends `"1"` where its schema says a number has changed its schema, and the
    alert should say so rather than guess. NaN and infinities are refused (they are no confidence).
    """

    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


def json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value).__name__, type(value).__name__)


def parse(model: type[M], data: Any, path: str, what: str) -> M:
    """Validate a vendor body, naming the JSON path of the first problem.

    Raises:
        NormalizationError: not an object, or not the vendor's shape.
    """
    if not isinstance(data, dict):
        raise NormalizationError(path, f"{what} is a JSON object, got {json_type(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise NormalizationError.from_validation(path, exc) from None


def actor_fields(user: str | None = None, api_key: str | None = None, team: str | None = None,
                 session: str | None = None, ip: str | None = None) -> dict[str, str | None]:
    """The actor as a plain mapping; placeholders (`default_user_id`, "") become None in `Actor`."""
    return {"user": user, "api_key": api_key, "team": team, "session": session, "ip": ip}
