"""irflow.redaction: hostile alert text in, SafeText out. Every secret kind and PII value is found and
replaced by an inert hint.

The canaries are in redaction_cases.py; markup and truncation, SafeText itself, and the performance and
property tests are in the sibling test_redaction_*.py modules.
"""

from __future__ import annotations

import enum
import json

import pytest

from irflow import _secret_patterns
from irflow.redaction import SafeText, find_secrets, redact, redact_mapping, secret_hint
from tests.unit.redaction_cases import PEM_BODY, PII_CASES, SECRET_CASES, URLSAFE, rand


def _case_id(case: tuple[str, str, str]) -> str:
    return f"{case[0]}:{case[1][:18]}"


@pytest.mark.parametrize(("kind", "template", "canary"), SECRET_CASES, ids=_case_id)
def test_every_secret_kind_is_replaced_by_its_hint(kind: str, template: str, canary: str) -> None:
    text = template.format(c=canary)
    out = redact(text)
    assert canary not in out
    assert f"⁅REDACTED:{kind}" in out
    assert any(k == kind and s <= text.index(canary) < e for k, s, e in find_secrets(text))
    assert redact(out) == out


def test_url_password_keeps_the_user() -> None:
    assert redact("postgres://admin:Sup3rS3cretPw@db.internal:5432/app") == (
        "postgres://admin:⁅REDACTED:url_password⋯etPw⁆@db⁅.⁆internal:5432/app"
    )


def test_all_canaries_in_one_payload() -> None:
    text = "\n".join(t.format(c=c) for _, t, c in SECRET_CASES)
    out = redact(text, max_len=100_000)
    for _, _, canary in SECRET_CASES:
        assert canary not in out
    assert find_secrets(out) == []


def test_zero_width_inside_a_secret_does_not_hide_it() -> None:
    rest = "proj-" + rand(40, URLSAFE)
    out = redact(f"key: sk-\u200b{rest[:10]}\u2060{rest[10:]}")
    assert rest[10:] not in out and "⁅REDACTED:openai_key" in out


def test_unterminated_pem_redacts_to_the_end() -> None:
    out = redact(f"pre -----BEGIN PRIVATE KEY-----\n{PEM_BODY}\nmore {PEM_BODY[:9]}")
    assert out == "pre ⁅REDACTED:private_key⁆"


# --- PII ---------------------------------------------------------------------------------------

NOT_PII = [
    "4111111111111112",  # Luhn-invalid
    "4111 1111 1111 1112",
    "DE00370400440532013000",  # bad IBAN check digits
    "2024-01-15 12:30:45",
    "1700000000123",  # epoch millis
    "192.168.1.10",
    "v1.2.3",
    "01.02.2024",
    "order 12345",
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "550e8400-e29b-41d4-a716-446655440000",
    "anthropic/claude-3-5-sonnet-20241022",
    "/usr/local/lib/python3/site-packages",
    "getUserAccountInformationByIdentifier",
    "ThisIsACamelCaseIdentifierName",
]


@pytest.mark.parametrize(("kind", "value"), PII_CASES)
def test_pii_is_redacted(kind: str, value: str) -> None:
    out = redact(f"call {value} now")
    assert out == f"call ⁅REDACTED:{kind}⁆ now"
    assert "REDACTED" not in redact(f"call {value} now", pii=False)


@pytest.mark.parametrize("value", NOT_PII)
def test_lookalikes_of_pii_and_secrets_are_left_alone(value: str) -> None:
    assert redact(f"seen {value} here") == f"seen {value} here"


# --- hints, find_secrets, redact_mapping -------------------------------------------------------

KINDS = sorted({k for k, _, _ in SECRET_CASES} | {k for k, _ in PII_CASES} | {"high_entropy_secret"})


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("tail", ["", "⋯AKIA", "⋯sk-1", "⋯http", "⋯0000", "⋯+/=_"])
def test_hints_are_inert(kind: str, tail: str) -> None:
    hint = f"⁅REDACTED:{kind}{tail}⁆"
    text = f"password={hint} token: {hint}\nAuthorization: Bearer {hint} x{hint}y {hint}{hint}"
    assert find_secrets(text) == []
    assert _secret_patterns.find_pii(text) == []
    assert redact(text) == text


def test_secret_hint() -> None:
    key = "sk-" + "proj-" + rand(40, URLSAFE)
    assert secret_hint(key) == f"⁅REDACTED:openai_key⋯{key[-4:]}⁆"
    assert secret_hint("hunter2") == "⁅REDACTED:secret⁆"  # under 12 chars: no tail
    assert secret_hint("long password ending <!>") == "⁅REDACTED:secret⁆"  # unsafe tail: none
    assert key not in secret_hint(key) and redact(secret_hint(key)) == secret_hint(key)


def test_find_secrets_spans() -> None:
    key = "gh" + "p_" + rand(36)
    text = f"a {key} b"
    assert find_secrets(text) == [("github_token", 2, 2 + len(key))]
    assert find_secrets("nothing here, sha e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == []


def _strings(obj: object) -> list[object]:
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in [k, *_strings(v)]]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return [obj]


def test_redact_mapping() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    key = "sk-" + rand(30, URLSAFE)
    cyclic: list[object] = ["<!here>"]
    cyclic.append(cyclic)
    data = {"prompt": f"use {key}", key: ("<!channel>", b"\xff", 1.5, None, True, Level.HIGH),
            "nested": {"deep": [{"x": "http://evil.com"}]}, "cycle": cyclic, 7: "x"}
    out = redact_mapping(data)
    dumped = json.dumps(out, ensure_ascii=False)
    assert key not in dumped and "<" not in dumped and "http://" not in dumped
    assert all(type(s) in (SafeText, int, float, bool, type(None)) for s in _strings(out))
    assert out[7] == "x" and out["cycle"][1] == "⁅REDACTED:too_deep⁆"  # type: ignore[index]
    assert type(out[secret_hint(key)][5]) is int  # type: ignore[index]
