"""Vendor normalizers, table-driven over tests/fixtures/<source>/*.json (citations in each SOURCES.md).

Where a vendor ships machine-readable types, the fixtures are checked against them (botocore's
bedrock-runtime model, google-cloud-modelarmor, py-ocsf-models; LiteLLM against a real capture), so
a fixture cannot simply agree with the parser it tests: see test_normalize_vendor_types.py. The mapping
table and OCSF out and back are in test_normalize_mapping.py; the fixtures' expectations in vendor_fixtures.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from irflow.models import Category, Direction
from irflow.normalize import (
    NORMALIZERS,
    Ignored,
    NormalizationError,
    UnknownSource,
    candidates,
    detect,
    normalize_item,
)
from irflow.normalize import litellm as litellm_module
from irflow.redaction import find_secrets
from tests.conftest import shared_path
from tests.unit.vendor_fixtures import CASES, EXAMPLES, FIXTURES, IGNORED, KEY_HASH, VENDORS, all_fixtures, load


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


def test_litellm_session_falls_back_to_the_callers_metadata() -> None:
    """A real 1.106.4 proxy logs `session_id: ""` unless request_correlation_in_logs is on; the caller's
    session id is in metadata.requester_metadata."""
    body = load("litellm/guardrail_intervened_blocked_word")
    body = body | {"session_id": "", "metadata": body["metadata"] | {"requester_metadata": {"session_id": "conv-77"}}}
    assert normalize_item(body, "$[0]").actor.session == "conv-77"
    body["metadata"]["requester_metadata"] = {"session_id": "  "}
    assert normalize_item(body, "$[0]").actor.session is None


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
