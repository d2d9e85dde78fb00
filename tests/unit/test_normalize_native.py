import json
from pathlib import Path

import pytest

from irflow.models import Category, Severity
from irflow.normalize import NormalizationError, UnknownSource, normalize_item

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "alerts"

MINIMAL = {"title": "t", "category": "prompt_injection", "severity": "high", "actor": {"user": "eve"}}


def test_minimal_native_alert_gets_taxonomy_defaults() -> None:
    alert = normalize_item(MINIMAL, "$[0]")
    assert alert.category is Category.prompt_injection and alert.severity is Severity.high
    assert alert.owasp == "LLM01" and alert.atlas == ["AML.T0051.000"]
    assert alert.source == "irflow" and alert.actor.user == "eve"
    assert alert.group_key == "manipulation|user:eve"
    assert alert.dedup_key.startswith("fp:irflow:")


def test_vendor_id_is_the_dedup_key() -> None:
    alert = normalize_item(MINIMAL | {"id": "abc"}, "$[0]")
    assert alert.dedup_key == "id:irflow:abc"


@pytest.mark.parametrize(
    ("patch", "path", "message"),
    [
        ({"category": "nope"}, "$[3].category", "Input should be"),
        ({"severity": 5}, "$[3].severity", "Input should be"),
        ({"actor": {"usr": "x"}}, "$[3].actor.usr", "Extra inputs are not permitted"),
        ({"atlas": ["AML.T9999"]}, "$[3].atlas", "not MITRE ATLAS technique ids: AML.T9999"),
        ({"owasp": "LLM11"}, "$[3].owasp", "LLM01..LLM10"),
        ({"time": "2026-01-01T00:00:00"}, "$[3].time", "needs a timezone"),
        ({"confidence": 2}, "$[3].confidence", "less than or equal to 1"),
    ],
)
def test_rejections_name_the_json_path(patch: dict, path: str, message: str) -> None:
    with pytest.raises(NormalizationError) as info:
        normalize_item(MINIMAL | patch, "$[3]")
    assert info.value.path == path and message in info.value.message


def test_missing_required_field_is_named() -> None:
    body = {k: v for k, v in MINIMAL.items() if k != "actor"}
    with pytest.raises(NormalizationError, match=r"\$\[0\]\.actor: Field required"):
        normalize_item(body, "$[0]")


def test_unknown_shapes_and_sources_are_refused() -> None:
    with pytest.raises(UnknownSource, match="not an alert of any known source"):
        normalize_item({"hello": 1}, "$[0]")
    with pytest.raises(UnknownSource, match="unknown source 'nope'"):
        normalize_item(MINIMAL, "$[0]", source="nope")
    with pytest.raises(NormalizationError, match="is a JSON object, got list"):
        normalize_item([1], "$[0]", source="irflow")


def test_key_shaped_categories_group_by_key() -> None:
    alert = normalize_item(MINIMAL | {"category": "leaked_api_key", "actor": {"user": "u", "api_key": "k1"}}, "$")
    assert alert.group_key == "credential|key:k1"


def test_no_known_actor_groups_by_source_app_category() -> None:
    alert = normalize_item(MINIMAL | {"actor": {"user": "default_user_id"}, "app": "bot"}, "$")
    assert alert.group_key == "manipulation|unknown|irflow|bot|prompt_injection"


def test_shipped_examples_normalize() -> None:
    files = sorted(EXAMPLES.glob("*.json"))
    assert files
    for path in files:
        alert = normalize_item(json.loads(path.read_text()), "$")
        assert alert.owasp and alert.atlas, path.name
