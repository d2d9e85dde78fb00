from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from irflow.models import OWASP_IDS, Actor, Alert, Category, Severity


def test_category_is_the_closed_set_from_the_issue() -> None:
    assert {c.value for c in Category} == {
        "prompt_injection", "indirect_prompt_injection", "jailbreak", "system_prompt_leak", "sensitive_data_leak",
        "leaked_api_key", "model_extraction", "cost_abuse", "prompt_tampering", "excessive_agency", "shadow_ai",
        "harmful_content", "improper_output", "other",
    }


def test_owasp_ids_are_the_2025_edition() -> None:
    assert OWASP_IDS == tuple(f"LLM{n:02d}" for n in range(1, 11))
    with pytest.raises(ValidationError, match="LLM01..LLM10"):
        Alert(source="x", title="t", category=Category.other, severity=Severity.low, owasp="LLM11")


@pytest.mark.parametrize("placeholder", ["default_user_id", "", "  ", "None", "anonymous"])
def test_placeholder_identities_are_unknown(placeholder: str) -> None:
    actor = Actor(user=placeholder, session=placeholder, api_key="k")
    assert actor.user is None and actor.session is None and actor.api_key == "k"
    assert Actor(user=placeholder).is_empty()


def test_severity_order() -> None:
    assert Severity.highest(Severity.low, Severity.critical, Severity.medium) is Severity.critical
    assert Severity.high.rank > Severity.medium.rank


def test_alert_confidence_bounded() -> None:
    with pytest.raises(ValidationError):
        Alert(source="x", title="t", category=Category.other, severity=Severity.low, confidence=1.5)


def test_alert_times_are_aware() -> None:
    alert = Alert(source="x", title="t", category=Category.other, severity=Severity.low)
    assert alert.time.tzinfo is not None and alert.received_at <= datetime.now(UTC)
