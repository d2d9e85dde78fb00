"""irflow.redaction under load and under hypothesis: a megabyte is fast, and no generated hostile text gets a
secret, PII or live markup past the redactor."""

from __future__ import annotations

import base64
import random
import re
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irflow.redaction import TRUNCATION_MARKER, SafeText, find_secrets, redact
from tests.unit.redaction_cases import B64, PII_CASES, SECRET_CASES


# --- performance -------------------------------------------------------------------------------

MEGABYTE_CASES = {
    "a": "a" * 1_000_000,
    "<": "<" * 1_000_000,
    "sk-": "sk-" * 333_334,
    "base64": base64.b64encode(random.Random(1).randbytes(750_000)).decode(),
    "eyJ": "eyJ" * 333_334,
    "http": "http://a." * 111_112,
    "pem": "-----BEGIN PRIVATE KEY-----" * 37_038,
    "mixed": "".join(map(chr, range(32, 127))) * 10_527,
}


@pytest.mark.parametrize("name", MEGABYTE_CASES)
def test_one_megabyte_is_fast(name: str) -> None:
    start = time.perf_counter()
    out = redact(MEGABYTE_CASES[name])
    assert time.perf_counter() - start < 2.5
    assert len(out) <= 2000 + len(TRUNCATION_MARKER)


# --- properties --------------------------------------------------------------------------------

FRAGMENTS = [
    "<!channel>", "<@U1>", "<", ">", "[", "](", "|", "!", "`", "{code}", "&lt;", "@", "here", "channel",
    "http://", "https://", "ftp://", "www.", ".com", ".", "evil", "-", "_", "=", ":", "/", " ", "\n", "0",
    "\u200b", "\u202e", "\x1b[31m", "\x1b]8;;", "\x07", "＜", "ｈｔｔｐ", "e\u0301", "\u0338", "\ud800",
    "sk-", "proj-", "ant-", "AKIA", "ghp_", "xoxb-", "eyJ", "AIza", "Bearer ", "Authorization: ",
    "password=", "token: ", "secret=", "://u:p@h", "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----",
    "4111 1111 1111 1111", "+1 415 555 2671", "123-45-6789", "DE89370400440532013000", "bob@example.com",
    "⁅", "⁆", "⋯", "ǃ", "‹", "⁅REDACTED:email⁆", TRUNCATION_MARKER,
]
tokens = st.text(alphabet=B64 + "-_=", min_size=8, max_size=48)
hostile_text = st.lists(st.one_of(st.sampled_from(FRAGMENTS), tokens, st.text(max_size=8)), max_size=14).map("".join)
PROPS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(text=hostile_text, max_len=st.integers(0, 300), pii=st.booleans())
def test_properties(text: str, max_len: int, pii: bool) -> None:
    out = redact(text, max_len=max_len, pii=pii)
    assert type(out) is SafeText
    assert redact(out, max_len=max_len, pii=pii) == out
    assert find_secrets(out) == []
    assert len(out) <= max_len + len(TRUNCATION_MARKER)
    assert unicodedata.is_normalized("NFKC", out)
    assert not set(out) & set("<>&[]{}|!`\x1b\u200b\u202e\r\x00")
    for scheme in ("http://", "https://", "ftp://"):
        assert scheme not in out.lower()


@PROPS
@given(data=st.binary(max_size=200))
def test_any_bytes(data: bytes) -> None:
    out = redact(data)
    assert type(out) is SafeText and redact(out) == out


ESCAPES = re.compile("[\x1b\x80-\x9f]")
CANARIES = [c for k, t, c in SECRET_CASES if t.startswith(("OPENAI", "legacy", "claude", "virtual", "id=", "bot",
                                                            "gh ", "maps", "cookie", "blob"))]


@PROPS
@given(prefix=hostile_text, canary=st.sampled_from(CANARIES), suffix=hostile_text)
def test_canary_never_survives_surrounding_text(prefix: str, canary: str, suffix: str) -> None:
    text = f"{prefix} {canary} {suffix}"
    assume(not ESCAPES.search(text))  # an escape sequence may swallow the separating space
    assert canary not in redact(text, max_len=10_000)


@PROPS
@given(prefix=hostile_text, value=st.sampled_from([v for _, v in PII_CASES]), suffix=hostile_text)
def test_pii_never_survives_surrounding_text(prefix: str, value: str, suffix: str) -> None:
    text = f"{prefix} {value} {suffix}"
    assume(text.count(value) == 1)  # the fragments include PII; a glued copy is not a delimited value
    assume(not ESCAPES.search(text))  # an escape sequence may swallow the separating space
    assert value not in redact(text, max_len=10_000)
