"""The vendor fixtures against the vendors' own machine-readable types (botocore's bedrock-runtime model,
google-cloud-modelarmor, LiteLLM's real capture and documented field names), so a fixture cannot simply agree
with the parser it tests."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import shared_path
from tests.unit.vendor_fixtures import FIXTURES, all_fixtures, load


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
