"""Vendor normalizers, table-driven over tests/fixtures/<source>/*.json (citations in each SOURCES.md).

Where a vendor ships machine-readable types, the fixtures are checked against them (botocore's
bedrock-runtime model, google-cloud-modelarmor, py-ocsf-models; LiteLLM against a real capture), so
a fixture cannot simply agree with the parser it tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from irflow.redaction import redact

from irflow.models import Category, Direction, Severity
from irflow.normalize import (
    NORMALIZERS,
    Ignored,
    NormalizationError,
    UnknownSource,
    candidates,
    detect,
    mapping,
    normalize_item,
)
from irflow.normalize import litellm as litellm_module
from irflow.normalize.ocsf_export import to_ocsf
from irflow.redaction import find_secrets
from irflow.taxonomy import atlas_techniques
from tests.conftest import shared_path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"
VENDORS = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


@dataclass(frozen=True)
class Expect:
    category: str
    owasp: str | None
    atlas: list[str]
    detector: str
    severity: str
    direction: str = "unknown"
    actor: dict[str, str] = field(default_factory=dict)


PI, LEAK = ["AML.T0051.000"], ["AML.T0055", "AML.T0091.000"]
KEY_HASH = "5f0b7a2c9d4e81f36a0b2c4d6e8f10213243546576879809a1b2c3d4e5f60718"
VIRTUAL_KEY = {"user": "cust-7731", "api_key": KEY_HASH, "team": "team-support", "session": "sess-5e1f",
               "ip": "198.51.100.23"}

CASES: dict[str, Expect] = {
    # LiteLLM: the master key of the real capture is no actor; the end user and IP are.
    "litellm/guardrail_intervened_blocked_word": Expect("prompt_injection", "LLM01", PI, "litellm.guardrail.pi-filter",
                                                        "high", "input", {"user": "enduser-42", "ip": "127.0.0.1"}),
    "litellm/virtual_key_pattern_aws_access_key": Expect("leaked_api_key", "LLM02", LEAK, "litellm.content_filter.aws_key",
                                                         "critical", "input", VIRTUAL_KEY),
    "litellm/presidio_pii_masked": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "litellm.presidio", "high",
                                          "input", VIRTUAL_KEY),
    "litellm/lakera_v2_passthrough": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                            "lakera.prompt_attack", "high", "input", VIRTUAL_KEY),
    "litellm/budget_exceeded": Expect("cost_abuse", "LLM10", ["AML.T0034"], "litellm.budget_exceeded", "medium",
                                      actor={"api_key": KEY_HASH, "team": "team-support", "ip": "198.51.100.23"}),
    "litellm/error_body_guardrail_blocked": Expect("prompt_injection", "LLM01", PI, "litellm.guardrail.pi-filter",
                                                   "high", "input"),
    "litellm/error_body_bedrock_guardrail": Expect("other", None, [], "bedrock.denied_topic", "low"),
    "lakera/prompt_attack": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"], "lakera.prompt_attack",
                                   "high", "input",
                                   {"user": "mallory@example.net", "session": "sess-91ac", "ip": "203.0.113.77"}),
    "lakera/unknown_links": Expect("improper_output", "LLM05", ["AML.T0077"], "lakera.unknown_links", "medium", "output",
                                   {"user": "u-4410", "session": "sess-77b0"}),
    "lakera/moderated_content_hate": Expect("harmful_content", "LLM09", ["AML.T0048"], "lakera.moderated_content",
                                            "medium"),
    "lakera/pii_email": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "lakera.pii", "high", "input",
                               {"user": "u-2291", "session": "sess-0c1d", "ip": "192.0.2.10"}),
    "llm-guard/prompt_injection": Expect("prompt_injection", "LLM01", PI, "llm-guard.prompt_injection", "high", "input"),
    "llm-guard/secrets": Expect("leaked_api_key", "LLM02", LEAK, "llm-guard.secrets", "critical", "input"),
    "llm-guard/toxicity_output": Expect("harmful_content", "LLM09", ["AML.T0048"], "llm-guard.toxicity", "medium",
                                        "output"),
    "llm-guard/ban_topics": Expect("harmful_content", "LLM09", ["AML.T0048"], "llm-guard.ban_topics", "low", "input"),
    "llm-guard/anonymize": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "llm-guard.anonymize", "medium",
                                  "input"),
    "llm-guard/invisible_text": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0068"],
                                       "llm-guard.invisible_text", "high", "input"),
    "llm-guard/gibberish": Expect("other", None, ["AML.T0043"], "llm-guard.gibberish", "low", "input"),
    "nemo/self_check_input": Expect("prompt_injection", "LLM01", PI, "nemo.self_check_input", "high", "input"),
    "nemo/jailbreak_detection_heuristics": Expect("jailbreak", "LLM01", ["AML.T0054"], "nemo.jailbreak_heuristics",
                                                  "high", "input"),
    "nemo/sensitive_data_output": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "nemo.sensitive_data", "high",
                                         "output"),
    "nemo/content_safety_check_input": Expect("harmful_content", "LLM09", ["AML.T0048"], "nemo.content_safety",
                                              "medium", "input"),
    "bedrock/apply_prompt_attack": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                          "bedrock.prompt_attack", "high"),
    "bedrock/apply_hate_medium": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.content", "medium"),
    "bedrock/apply_denied_topic": Expect("other", None, [], "bedrock.denied_topic", "low"),
    "bedrock/apply_profanity": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.profanity", "low"),
    "bedrock/apply_aws_access_key": Expect("leaked_api_key", "LLM02", LEAK, "bedrock.aws_key", "critical"),
    "bedrock/converse_grounding_output": Expect("harmful_content", "LLM09", ["AML.T0048"], "bedrock.grounding", "low",
                                                "output"),
    "azure-prompt-shields/user_prompt_attack": Expect("jailbreak", "LLM01", ["AML.T0054", "AML.T0051.000"],
                                                      "azure-prompt-shields.user_prompt", "high", "input"),
    "azure-prompt-shields/document_attack": Expect("indirect_prompt_injection", "LLM01", ["AML.T0051.001"],
                                                   "azure-prompt-shields.document", "high", "input"),
    "model-armor/pi_and_jailbreak": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                           "model-armor.pi_and_jailbreak", "high"),
    "model-armor/pi_and_jailbreak_numeric_enums": Expect("prompt_injection", "LLM01", ["AML.T0051.000", "AML.T0054"],
                                                         "model-armor.pi_and_jailbreak", "high"),
    "model-armor/rai_hate_speech": Expect("harmful_content", "LLM09", ["AML.T0048"], "model-armor.rai", "medium"),
    "model-armor/sdp_aws_credentials": Expect("leaked_api_key", "LLM02", LEAK, "model-armor.sdp_credentials", "critical"),
    "model-armor/malicious_uris": Expect("other", None, ["AML.T0011.003"], "model-armor.malicious_uris", "high"),
    "prompt-security/prompt_injection_block": Expect("prompt_injection", "LLM01", PI, "prompt-security.prompt_injection",
                                                     "high", "input"),
    "prompt-security/secrets_block": Expect("leaked_api_key", "LLM02", LEAK, "prompt-security.secrets", "critical",
                                            "input"),
    "prompt-security/response_pii_block": Expect("sensitive_data_leak", "LLM02", ["AML.T0057"], "prompt-security.pii",
                                                 "high", "output"),
    "prompt-security/response_prompt_leak": Expect("system_prompt_leak", "LLM07", ["AML.T0056"],
                                                   "prompt-security.prompt_leak", "high", "output"),
    "prompt-security/response_modify": Expect("other", None, [], "prompt-security.fallback", "medium", "output"),
    "ocsf/atlas_indirect_injection": Expect("indirect_prompt_injection", "LLM01", ["AML.T0051.001"],
                                            "ocsf.atlas.indirect_injection", "high", "unknown",
                                            {"user": "dana@example.org", "session": "sess-c41d", "ip": "192.0.2.44"}),
}

IGNORED: dict[str, str] = {
    "litellm/ignored_success": "call not flagged by any guardrail",
    "litellm/ignored_rate_limited": "without a security reason (RateLimitError)",
    "litellm/ignored_error_body_auth": "without a guardrail block",
    "lakera/ignored_not_flagged": "did not flag",
    "llm-guard/ignored_valid": "found the text valid",
    "nemo/ignored_no_stop": "no NeMo Guardrails rail stopped",
    "bedrock/ignored_action_none": "did not intervene",
    "azure-prompt-shields/ignored_no_attack": "detected no attack",
    "model-armor/ignored_no_match": "NO_MATCH_FOUND",
    "prompt-security/ignored_allow": "no violation",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def all_fixtures() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in FIXTURES.glob("*/*.json"))


def test_every_fixture_has_an_expectation_and_a_citation() -> None:
    assert sorted(CASES.keys() | IGNORED.keys()) == all_fixtures()
    assert set(VENDORS) == set(NORMALIZERS) - {"irflow"}
    for vendor in VENDORS:
        assert (FIXTURES / vendor / "SOURCES.md").is_file(), vendor


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_normalizes_to_its_mapping(name: str) -> None:
    want, source = CASES[name], name.split("/")[0]
    alert = normalize_item(load(name), "$[0]")  # auto-detected
    got = {"source": alert.source, "category": alert.category.value, "owasp": alert.owasp, "atlas": alert.atlas,
           "detector": alert.detector, "severity": alert.severity.value, "direction": alert.direction.value,
           "actor": {k: v for k, v in alert.actor.model_dump().items() if v}}
    assert got == {"source": source, "category": want.category, "owasp": want.owasp, "atlas": want.atlas,
                   "detector": want.detector, "severity": want.severity, "direction": want.direction,
                   "actor": want.actor}
    assert 0.0 <= alert.confidence <= 1.0 and alert.title and alert.raw == load(name)
    assert normalize_item(load(name), "$[0]", source=source).detector == want.detector
    assert alert.dedup_key.startswith(f"id:{source}:" if alert.vendor_id else f"fp:{source}:")


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_telemetry_is_ignored_with_a_reason(name: str) -> None:
    with pytest.raises(Ignored) as info:
        normalize_item(load(name), "$[0]")
    assert info.value.reason.startswith("telemetry: ") and IGNORED[name] in info.value.reason


@pytest.mark.parametrize("name", all_fixtures())
def test_every_fixture_detects_as_its_own_source(name: str) -> None:
    assert candidates(load(name)) == [name.split("/")[0]]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_native_examples_detect_as_irflow(path: Path) -> None:
    assert detect(json.loads(path.read_text())) == "irflow"


def test_ambiguous_and_unknown_bodies_are_refused() -> None:
    both = load("azure-prompt-shields/user_prompt_attack") | load("llm-guard/secrets")
    assert detect(both) is None
    with pytest.raises(UnknownSource, match="ambiguous: looks like llm-guard and azure-prompt-shields"):
        normalize_item(both, "$[4]")
    with pytest.raises(UnknownSource, match="not an alert of any known source"):
        normalize_item({"flag": True}, "$[4]")


# --- titles, evidence, secrets -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_titles_never_carry_matched_text(name: str) -> None:
    alert = normalize_item(load(name), "$[0]")
    assert not find_secrets(alert.title) and len(alert.title) <= 160
    if alert.evidence:
        assert alert.evidence not in alert.title


def test_bedrock_match_reaches_evidence_only_redacted() -> None:
    alert = normalize_item(load("bedrock/apply_aws_access_key"), "$[0]")
    assert "AKIAIOSFODNN7EXAMPLE" not in alert.title and "AKIAIOSFODNN7EXAMPLE" not in (alert.evidence or "")
    assert alert.evidence and "REDACTED" in alert.evidence and alert.title.endswith("(AWS_ACCESS_KEY)")


def test_secret_shaped_labels_are_dropped_from_titles() -> None:
    body = {"result": {"prompt": {"action": "block", "violations": ["sk-proj-ZmFrZUtleUZvckRlbW9Pbmx5MTIzNDU2Nzg5"]}}}
    alert = normalize_item(body, "$[0]")
    assert "sk-proj" not in alert.title and not find_secrets(alert.title)


# --- LiteLLM identity rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("meta", "master"),
    [
        ({"user_api_key_hash": "ab12", "user_api_key_user_id": "default_user_id"}, True),
        ({"user_api_key_hash": "litellm_proxy_master_key", "user_api_key_alias": "x", "user_api_key_user_id": "u1"}, True),
        ({"user_api_key_hash": "ab12", "user_api_key_alias": "bot-prod", "user_api_key_user_id": "default_user_id"}, False),
        ({"user_api_key_hash": "ab12", "user_api_key_user_id": "u-17"}, False),
        ({"user_api_key_hash": "ab12"}, False),
    ],
)
def test_master_key_rule(meta: dict[str, str], master: bool) -> None:
    assert litellm_module.is_master_key(litellm_module.Metadata.model_validate(meta)) is master
    body = load("litellm/virtual_key_pattern_aws_access_key")
    body["metadata"] = meta
    assert (normalize_item(body, "$[0]").actor.api_key is None) is master


def test_litellm_placeholders_are_never_an_actor() -> None:
    body = load("litellm/virtual_key_pattern_aws_access_key")
    body |= {"end_user": "default_user_id", "session_id": "", "requester_ip_address": None}
    body["metadata"] |= {"user_api_key_end_user_id": None, "requester_ip_address": "", "user_api_key_team_id": None}
    actor = normalize_item(body, "$[0]").actor
    assert actor.user is None and actor.session is None and actor.ip is None and actor.api_key == KEY_HASH


def test_litellm_vendor_id_is_the_call_id() -> None:
    alert = normalize_item(load("litellm/guardrail_intervened_blocked_word"), "$[0]")
    assert alert.vendor_id == "0b5c3a52-0000-4000-8000-00000000a001"


def test_real_capture_normalizes(tmp_path: Path) -> None:
    capture = json.loads(shared_path("samples", "litellm", "generic_api_guardrail_intervened.json").read_text())
    alert = normalize_item(capture[0], "$[0]")
    assert alert.category is Category.prompt_injection and alert.actor.api_key is None
    assert alert.actor.user == "enduser-42" and alert.direction is Direction.input


# --- envelope --------------------------------------------------------------------------------------


def test_envelope_context_fills_and_overrides_the_actor() -> None:
    item = {"source": "lakera", "context": {"user": "eve", "api_key": "k-support", "team": "support", "app": "bot",
                                            "model": "gpt-4o"},
            "payload": load("lakera/prompt_attack")}
    alert = normalize_item(item, "$[0]")
    assert alert.actor.model_dump() == {"user": "eve", "api_key": "k-support", "team": "support",
                                        "session": "sess-91ac", "ip": "203.0.113.77"}
    assert (alert.app, alert.model, alert.raw) == ("bot", "gpt-4o", item)


def test_envelope_placeholders_never_erase_the_vendor_actor() -> None:
    item = {"context": {"user": "default_user_id", "session": ""}, "payload": load("lakera/prompt_attack")}
    assert normalize_item(item, "$[0]").actor.user == "mallory@example.net"


def test_envelope_errors_name_the_path_inside_the_payload() -> None:
    body = load("lakera/prompt_attack")
    body["response"]["breakdown"][0]["detector_type"] = 7
    with pytest.raises(NormalizationError) as info:
        normalize_item({"source": "lakera", "payload": body}, "$[2]")
    assert info.value.path == "$[2].payload.response.breakdown[0].detector_type"
    with pytest.raises(NormalizationError) as info:
        normalize_item({"payload": load("lakera/prompt_attack"), "context": {"usr": "x"}}, "$[2]")
    assert info.value.path == "$[2].context.usr"
    with pytest.raises(NormalizationError, match="envelope says 'bedrock' but the source given is 'lakera'"):
        normalize_item({"source": "bedrock", "payload": {}}, "$[2]", source="lakera")


@pytest.mark.parametrize(
    ("name", "mutate", "path"),
    [
        ("bedrock/apply_prompt_attack", lambda b: b["assessments"][0]["contentPolicy"]["filters"][0].update(detected="yes"),
         "$[3].assessments[0].contentPolicy.filters[0].detected"),
        ("llm-guard/secrets", lambda b: b["scanners"].update(Secrets="1.0"), "$[3].scanners.Secrets"),
        ("nemo/self_check_input", lambda b: b["log"]["activated_rails"][0].pop("name"), "$[3].log.activated_rails[0].name"),
        ("ocsf/atlas_indirect_injection",
         lambda b: b["finding_info"]["attacks"][0]["sub_technique"].update(uid="AML.T9999.001"),
         "$[3].finding_info.attacks[0].sub_technique.uid"),
    ],
)
def test_rejections_name_the_json_path(name: str, mutate: Any, path: str) -> None:
    body = load(name)
    mutate(body)
    with pytest.raises(NormalizationError) as info:
        normalize_item(body, "$[3]")
    assert info.value.path == path


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


# --- machine-readable vendor types -----------------------------------------------------------------


def _check_shape(shape: Any, value: Any, path: str) -> list[str]:
    """Problems of `value` against a botocore shape: unknown members, wrong types, unknown enum values."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object"]
        problems = [f"{path}.{k}: not in {shape.name}" for k in value if k not in shape.members]
        return problems + [p for k, v in value.items() if k in shape.members
                           for p in _check_shape(shape.members[k], v, f"{path}.{k}")]
    if kind == "list":
        return [f"{path}: expected array"] if not isinstance(value, list) else [
            p for i, v in enumerate(value) for p in _check_shape(shape.member, v, f"{path}[{i}]")]
    if kind == "map":
        return [f"{path}: expected object"] if not isinstance(value, dict) else [
            p for k, v in value.items() for p in _check_shape(shape.value, v, f"{path}.{k}")]
    if kind == "string":
        ok = isinstance(value, str) and (not shape.enum or value in shape.enum)
        return [] if ok else [f"{path}: {value!r} is not a {shape.name}"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: expected boolean"]
    if kind in {"integer", "long", "double", "float"}:
        return [] if isinstance(value, int | float) and not isinstance(value, bool) else [f"{path}: expected number"]
    return []


@pytest.mark.parametrize("name", [n for n in all_fixtures() if n.startswith("bedrock/")])
def test_bedrock_fixtures_match_botocore_service_model(name: str) -> None:
    botocore_session = pytest.importorskip("botocore.session", reason="botocore not installed")
    model = botocore_session.get_session().get_service_model("bedrock-runtime")
    body = {k: v for k, v in load(name).items() if k != "ResponseMetadata"}  # boto3 adds it to every response
    operation = "Converse" if "trace" in body else "ApplyGuardrail"
    assert _check_shape(model.operation_model(operation).output_shape, body, "$") == []


def test_litellm_embedded_bedrock_response_matches_botocore() -> None:
    botocore_session = pytest.importorskip("botocore.session", reason="botocore not installed")
    shape = botocore_session.get_session().get_service_model("bedrock-runtime").shape_for("GuardrailAssessment")
    embedded = load("litellm/error_body_bedrock_guardrail")["error"]["message"]["bedrock_guardrail_response"]
    assert _check_shape(shape, embedded["assessments"][0], "$") == []


@pytest.mark.parametrize("name", [n for n in all_fixtures() if n.startswith("model-armor/")])
def test_model_armor_fixtures_parse_with_google_types(name: str) -> None:
    modelarmor = pytest.importorskip("google.cloud.modelarmor_v1", reason="google-cloud-modelarmor not installed")
    text = (FIXTURES / f"{name}.json").read_text()
    parsed = modelarmor.SanitizeUserPromptResponse.from_json(text, ignore_unknown_fields=False)
    assert parsed.sanitization_result.filter_results


STANDARD_LOGGING_GUARDRAIL_INFORMATION = {
    "guardrail_name", "guardrail_provider", "guardrail_mode", "guardrail_request", "guardrail_response",
    "guardrail_status", "start_time", "end_time", "duration", "masked_entity_count", "guardrail_id",
    "policy_template", "detection_method", "confidence_score", "classification", "match_details",
    "patterns_checked", "alert_recipients", "risk_score", "violation_categories", "guardrail_action"}
"""StandardLoggingGuardrailInformation's keys (litellm/types/utils.py); litellm itself is too heavy a test dep."""


@pytest.mark.parametrize("name", [n for n in all_fixtures() if n.startswith("litellm/") and "error_body" not in n])
def test_litellm_fixtures_use_only_fields_of_the_real_capture(name: str) -> None:
    capture = json.loads(shared_path("samples", "litellm", "generic_api_guardrail_intervened.json").read_text())[0]
    body = load(name)
    assert set(body) <= set(capture)
    assert set(body["metadata"]) <= set(capture["metadata"])
    assert set(body["status_fields"]) <= set(capture["status_fields"])
    for info in body["guardrail_information"] or []:
        assert set(info) <= STANDARD_LOGGING_GUARDRAIL_INFORMATION


DOCUMENTED: dict[str, tuple[set[str], dict[str, set[str]]]] = {
    # source: (top-level keys, {nested object: its keys}) as the vendor documents them (see SOURCES.md)
    "llm-guard": ({"is_valid", "scanners", "sanitized_prompt", "sanitized_output"}, {}),
    "azure-prompt-shields": ({"userPromptAnalysis", "documentsAnalysis"}, {"userPromptAnalysis": {"attackDetected"}}),
    "prompt-security": ({"result"}, {"result": {"prompt", "response"}}),
    "lakera": ({"request", "response", "flagged", "metadata", "breakdown", "payload", "dev_info"},
               {"request": {"messages", "project_id", "payload", "breakdown", "metadata", "dev_info"},
                "response": {"flagged", "metadata", "breakdown", "payload", "dev_info"}}),
    "nemo": ({"response", "llm_output", "output_data", "log", "state"},
             {"log": {"activated_rails", "stats", "llm_calls", "internal_events", "colang_history"}}),
}


@pytest.mark.parametrize("name", [n for n in all_fixtures() if n.split("/")[0] in DOCUMENTED])
def test_fixtures_use_documented_field_names(name: str) -> None:
    top, nested = DOCUMENTED[name.split("/")[0]]
    body = load(name)
    assert set(body) <= top
    for key, allowed in nested.items():
        if isinstance(body.get(key), dict):
            assert set(body[key]) <= allowed, key


def test_litellm_session_falls_back_to_the_callers_metadata() -> None:
    """A real 1.106.4 proxy logs `session_id: ""` unless request_correlation_in_logs is on; the caller's
    session id is in metadata.requester_metadata."""
    body = load("litellm/guardrail_intervened_blocked_word")
    body = body | {"session_id": "", "metadata": body["metadata"] | {"requester_metadata": {"session_id": "conv-77"}}}
    assert normalize_item(body, "$[0]").actor.session == "conv-77"
    body["metadata"]["requester_metadata"] = {"session_id": "  "}
    assert normalize_item(body, "$[0]").actor.session is None
