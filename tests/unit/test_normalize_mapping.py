"""The detector-to-category mapping table, severity and confidence rules, and OCSF out and back for every
vendor fixture and native example."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from irflow.models import Severity
from irflow.normalize import NORMALIZERS, mapping, normalize_item
from irflow.normalize.ocsf_export import to_ocsf
from irflow.redaction import redact
from irflow.taxonomy import atlas_techniques
from tests.unit.vendor_fixtures import CASES, EXAMPLES, load


# --- the mapping table -----------------------------------------------------------------------------


def test_mapping_table_rows_are_valid() -> None:
    table = mapping.table()
    known = atlas_techniques()
    assert {r.source for r in table.rows} == set(table.sources) == set(NORMALIZERS) - {"irflow"}
    for row in table.rows:
        assert all(a in known for a in row.atlas), row.id
        assert row.owasp is None or row.owasp.startswith("LLM"), row.id
        assert row.id.startswith(f"{row.source}."), row.id
    assert all(mapping.classify(s, ["no-such-detector"]).detector == "*" for s in table.sources)


def test_bad_table_is_a_readable_error() -> None:
    raw = mapping.table().model_dump(mode="json")
    raw["rows"][0]["atlas"] = ["AML.T9999"]
    raw["rows"].append(dict(raw["rows"][1]))
    with pytest.raises(ValueError, match="not MITRE ATLAS technique ids: AML.T9999"):
        mapping.Table.model_validate(raw)


@pytest.mark.parametrize(
    ("base", "confidence", "expected"),
    [(Severity.high, 1.0, Severity.high), (Severity.high, 0.5, Severity.high), (Severity.high, 0.49, Severity.medium),
     (Severity.low, 0.1, Severity.low), (Severity.critical, 0.0, Severity.high)],
)
def test_severity_rule(base: Severity, confidence: float, expected: Severity) -> None:
    row = mapping.table().rows[0].model_copy(update={"severity": base})
    assert mapping.severity_for(row, confidence) is expected


def test_confidence_mappings() -> None:
    assert [mapping.risk_confidence(r) for r in (-1.0, 0.0, 0.6, 1.0, 3.0)] == [0.0, 0.5, 0.8, 1.0, 1.0]
    assert mapping.level_confidence("bedrock", "HIGH") == 0.95 and mapping.level_confidence("bedrock", "LOW") == 0.4
    assert mapping.level_confidence("model-armor", "MEDIUM_AND_ABOVE") == 0.7
    low = load("llm-guard/prompt_injection") | {"scanners": {"PromptInjection": -0.2}}
    assert normalize_item(low, "$[0]").severity is Severity.medium  # weak verdict: one step below the row's high


# --- OCSF out and back -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_ocsf_round_trips(name: str) -> None:
    alert = normalize_item(load(name), "$[0]")
    back = normalize_item(to_ocsf(alert), "$[0]")
    keep = ("category", "severity", "owasp", "atlas", "title")
    assert {k: getattr(back, k) for k in keep} == {k: getattr(alert, k) for k in keep}
    # identifiers leave defanged (export is egress): the round trip holds for what was exported
    exported = {k: v if v is None or k == "api_key" else str(redact(v, max_len=500, pii=False))
                for k, v in alert.actor.model_dump().items()}
    assert back.actor.model_dump() == exported
    assert back.source == "ocsf" and back.vendor_id == (alert.vendor_id or alert.id)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_native_alerts_round_trip_and_raw_keys_do_not_leave(path: Path) -> None:
    alert = normalize_item(json.loads(path.read_text()), "$")
    finding = to_ocsf(alert)
    back = normalize_item(finding, "$")
    assert (back.category, back.severity, back.owasp, back.atlas, back.title) == (
        alert.category, alert.severity, alert.owasp, alert.atlas, alert.title)
    text = json.dumps(finding)
    assert "sk-litellm-batch-7Hq2Xw9Lp4Rt6Yz1" not in text and "sk-proj-ZmFrZU" not in text
    assert back.actor.model_dump(exclude={"api_key"}) == {
        k: v if v is None else str(redact(v, max_len=500, pii=False))
        for k, v in alert.actor.model_dump(exclude={"api_key"}).items()}


def test_to_ocsf_accepts_store_rows() -> None:
    alert = normalize_item(load("lakera/prompt_attack"), "$[0]")
    row = alert.model_dump(mode="python")
    row |= {"category": alert.category.value, "severity": alert.severity.value, "direction": alert.direction.value}
    assert to_ocsf(row) == to_ocsf(alert)


def _dropped(sent: Any, kept: Any, path: str = "") -> list[str]:
    if isinstance(sent, dict):
        kept = kept if isinstance(kept, dict) else {}
        return [p for k, v in sent.items() for p in ([f"{path}.{k}"] if k not in kept else _dropped(v, kept[k], f"{path}.{k}"))]
    if isinstance(sent, list):
        kept = kept if isinstance(kept, list) else []
        return [p for i, v in enumerate(sent) for p in _dropped(v, kept[i] if i < len(kept) else None, f"{path}[]")]
    return []


PY_OCSF_GAPS = {".evidences[].actor", ".evidences[].src_endpoint"}
"""Evidence Artifacts attributes of OCSF 1.1+ that py-ocsf-models 0.10 does not model (it drops them)."""


@pytest.mark.parametrize("name", ["ocsf/atlas_indirect_injection", "export:lakera/prompt_attack",
                                  "export:litellm/virtual_key_pattern_aws_access_key"])
def test_ocsf_bodies_match_py_ocsf_models(name: str) -> None:
    models = pytest.importorskip("py_ocsf_models.events.findings.detection_finding", reason="py-ocsf-models not installed")
    body = to_ocsf(normalize_item(load(name[7:]), "$[0]")) if name.startswith("export:") else load(name)
    parsed = models.DetectionFinding.model_validate(body)
    kept = json.loads(parsed.model_dump_json(exclude_unset=True))
    assert set(_dropped(body, kept)) <= PY_OCSF_GAPS
