"""irflow.redaction: hostile alert text in, SafeText out.

Canary secrets are generated at import time from a fixed seed rather than written out, so this file
never trips secret scanners (push protection) and every run uses the same values.
"""

from __future__ import annotations

import base64
import copy
import enum
import json
import pickle
import random
import re
import string
import sys
import time
import unicodedata

import pydantic
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from irflow import _secret_patterns
from irflow.redaction import (
    DEFANG_CHARS,
    TRUNCATION_MARKER,
    SafeText,
    compose,
    find_secrets,
    redact,
    redact_mapping,
    secret_hint,
    trusted,
)

_RNG = random.Random(20240611)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
HINT_RE = re.compile(r"⁅REDACTED:[a-z_]+(?:⋯[A-Za-z0-9+/=_-]{4})?⁆")


def rand(n: int, alphabet: str = ALNUM) -> str:
    return "".join(_RNG.choice(alphabet) for _ in range(n))


def b64url_json(obj: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def jwt() -> str:
    return f"{b64url_json({'alg': 'HS256', 'typ': 'JWT'})}.{b64url_json({'sub': rand(12)})}.{rand(43, URLSAFE)}"


PEM_BODY = "MII" + rand(60, B64)
SECRET_CASES: list[tuple[str, str, str]] = [  # (kind, text, canary that must vanish)
    ("openai_key", "OPENAI key {c} leaked", "sk-" + "proj-" + rand(48, URLSAFE)),
    ("openai_key", "legacy {c}", "sk-" + rand(20) + "T3Blbk" + "FJ" + rand(20)),
    ("anthropic_key", "claude key {c}", "sk-" + "ant-api03-" + rand(93, URLSAFE)),
    ("litellm_key", "virtual key {c} for team", "sk-" + rand(22, URLSAFE)),
    ("aws_access_key_id", "id={c}", "AKIA" + rand(16, string.ascii_uppercase + string.digits)),
    ("aws_access_key_id", "session {c}", "ASIA" + rand(16, string.ascii_uppercase + string.digits)),
    ("aws_secret_access_key", "aws_secret_access_key = {c}", rand(40, B64)),
    ("aws_secret_access_key", '{{"SecretAccessKey": "{c}"}}', rand(40, B64)),
    ("high_entropy_secret", "blob {c} end", rand(40, B64)),
    ("slack_token", "bot {c}", "xox" + "b-" + rand(12, string.digits) + "-" + rand(24)),
    ("slack_token", "user {c}", "xox" + "p-" + rand(12, string.digits) + "-" + rand(32)),
    ("slack_token", "app {c}", "xa" + "pp-1-" + rand(11) + "-" + rand(40, string.hexdigits)),
    ("slack_webhook", "post to https://hooks.slack.com/services/{c}", f"T{rand(8)}/B{rand(8)}/{rand(24)}"),
    ("github_token", "gh {c}", "gh" + "p_" + rand(36)),
    ("github_token", "oauth {c}", "gh" + "o_" + rand(36)),
    ("github_token", "u2s {c}", "gh" + "u_" + rand(36)),
    ("github_token", "s2s {c}", "gh" + "s_" + rand(36)),
    ("github_token", "refresh {c}", "gh" + "r_" + rand(36)),
    ("github_token", "fine-grained {c}", "github" + "_pat_" + rand(22) + "_" + rand(59)),
    ("google_api_key", "maps {c}", "AI" + "za" + rand(35, URLSAFE)),
    ("jwt", "cookie session={c}", jwt()),
    ("private_key", "-----BEGIN RSA PRIVATE KEY-----\n{c}\n-----END RSA PRIVATE KEY-----", PEM_BODY),
    ("private_key", "key: -----BEGIN OPENSSH PRIVATE KEY-----\n{c}\nand the rest is gone", PEM_BODY),
    ("bearer_token", "Authorization: Bearer {c}", rand(32, URLSAFE + ".")),
    ("bearer_token", "sent bearer {c} upstream", rand(20)),
    ("auth_header", "Authorization: Basic {c}", base64.b64encode(rand(20).encode()).decode()),
    ("url_password", "postgres://admin:{c}@db.internal:5432/app", rand(16)),
    ("url_password", "redis://:{c}@cache:6379", rand(12)),
    ("password", "password={c}", rand(10)),
    ("password", 'DB_PASSWORD: "{c}"', "correct horse " + rand(6)),
    ("api_key", "x-api-key: {c}", rand(20)),
    ("api_key", "OPENAI_API_KEY={c}", rand(30)),
    ("token", "?access_token={c}", rand(24)),
    ("secret", "client_secret: '{c}'", rand(16)),
]


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

PII_CASES = [
    ("email", "bob.smith+alerts@example.co.uk"),
    ("email", "josé@exämple.de"),
    ("phone", "+14155552671"),
    ("phone", "+1 (415) 555-2671"),
    ("phone", "(415) 555-2671"),
    ("phone", "415-555-2671"),
    ("phone", "415.555.2671"),
    ("phone", "+49 30 12345678"),
    ("phone", "+44 20 7946 0958"),
    ("phone", "06 12 34 56 78"),
    ("phone", "030 12345678"),
    ("credit_card", "4111 1111 1111 1111"),
    ("credit_card", "5555555555554444"),
    ("credit_card", "3782-822463-10005"),
    ("credit_card", "4012-8888-8888-1881"),
    ("ssn", "123-45-6789"),
    ("iban", "DE89370400440532013000"),
    ("iban", "GB82 WEST 1234 5698 7654 32"),
    ("iban", "FR1420041010050500013M02606"),
]
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


# --- defang ------------------------------------------------------------------------------------

DEFANG_CASES = [
    ("<!channel>", "‹ǃchannel›"),
    ("<!here> <!everyone>", "‹ǃhere› ‹ǃeveryone›"),
    ("<!subteam^S123ABC|@oncall>", "‹ǃsubteam^S123ABCǀ@oncall›"),
    ("<@U123ABC>", "‹@U123ABC›"),
    ("<#C123|general>", "‹#C123ǀgeneral›"),
    ("<https://evil.com|click>", "‹hxxps://evil⁅.⁆comǀclick›"),
    ("<mailto:x@evil.com|mail>", "‹mailto:⁅REDACTED:email⁆ǀmail›"),
    ("![x](https://evil.com/?q=secret)", "ǃ⁅x⁆(hxxps://evil⁅.⁆com/?q=secret)"),
    ("[x](http://evil.com)", "⁅x⁆(hxxp://evil⁅.⁆com)"),
    ("[click|https://evil.com]", "⁅clickǀhxxps://evil⁅.⁆com⁆"),
    ("!https://evil.com/a.png!", "ǃhxxps://evil⁅.⁆com/a.pngǃ"),
    ("{code}x{code} {noformat} {panel:title=y}", "❴code❵x❴code❵ ❴noformat❵ ❴panel:title=y❵"),
    ("{html}<script>alert(1)</script>{html}", "❴html❵‹script›alert(1)‹/script›❴html❵"),
    ("[~accountid:123] [~jsmith]", "⁅~accountid:123⁆ ⁅~jsmith⁆"),
    ("&lt;!channel&gt; AT&T", "⅋lt;ǃchannel⅋gt; AT⅋T"),
    ("```\n@channel```", "ˋˋˋ\n(at)channelˋˋˋ"),
    ("@channel @Here @everyone @channels", "(at)channel (at)Here (at)everyone @channels"),
    ("www.evil.com", "www⁅.⁆evil⁅.⁆com"),
    ("see evil.com or evil.example/path", "see evil⁅.⁆com or evil.example/path"),
    ("ftp://files.evil.com/x sftp://a.b", "fxp://files⁅.⁆evil⁅.⁆com/x sfxp://a⁅.⁆b"),
    ("HTTPS://EVIL.COM/X", "HXXPS://EVIL⁅.⁆COM/X"),
    ("http://10.0.0.1:8080/x", "hxxp://10⁅.⁆0⁅.⁆0⁅.⁆1:8080/x"),
    ("edit main.py and notes.md", "edit main.py and notes.md"),
]


@pytest.mark.parametrize(("text", "expected"), DEFANG_CASES)
def test_defang(text: str, expected: str) -> None:
    assert redact(text) == expected


FORBIDDEN = ["<", ">", "&", "[", "]", "{", "}", "|", "!", "`", "http://", "https://", "ftp://",
             "](http", "@channel", "@here", "@everyone", "evil.com", "\x1b"]
HOSTILE = [
    "<!channel> <!here> <@U123ABC> <#C123|general> <https://evil.com|click>",
    "![x](https://evil.com/?q=secret) [click|https://evil.com] !https://evil.com/a.png!",
    "{code}rm -rf /{code} [~accountid:123] <mailto:a@evil.com|x> &#60;!channel&#62;",
    "<!chan\u200bnel> <\u2060!here> ＜!everyone＞ ｈｔｔｐｓ://evil．com",
    "\u202egnp.exe \u2066evil.com\u2069 \U000e0041\U000e0042 hi\ufeff",
    "\x1b[31mred\x1b[0m \x1b]8;;https://evil.com\x07click\x1b]8;;\x07 \x1b]0;title\x07",
    "```\n```python\nprint(1)\n```\n``` ~~~ @channel",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markup_never_survives(text: str) -> None:
    out = redact(text)
    for bad in FORBIDDEN:
        assert bad not in out.lower(), bad
    assert redact(out) == out


def test_invisible_and_control_characters_are_removed() -> None:
    assert redact("<!chan\u200bnel>") == "‹ǃchannel›"
    assert redact("\x1b[31mred\x1b[0m \x1b]8;;http://x.com\x07click\x1b]8;;\x07") == "red click"
    assert redact("tab\tnew\nline\r\x00\x07") == "tab\tnew\nline"
    every = "".join(chr(c) for c in range(sys.maxunicode + 1)
                    if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) in ("Cc", "Cf"))
    assert redact(every, max_len=10_000) == "\t\n"


def test_nfkc_never_reintroduces_stripped_characters() -> None:
    """_clean strips between two NFKC passes; that is idempotent only if NFKC never emits those."""
    from irflow.redaction import _INVISIBLE

    for c in map(chr, range(sys.maxunicode + 1)):
        if unicodedata.decomposition(c) and not _INVISIBLE.match(c):
            assert not _INVISIBLE.search(unicodedata.normalize("NFKC", c)), hex(ord(c))


def test_replacement_characters_are_nfkc_stable() -> None:
    produced = "".join(DEFANG_CHARS.values()) + TRUNCATION_MARKER + "⋯⁅.⁆(at)" + secret_hint("x" * 20)
    for ch in produced:
        assert unicodedata.normalize("NFKC", ch) == ch, hex(ord(ch))
    wordlike = {ch for ch in DEFANG_CHARS.values() if re.match(r"\w", ch)}
    assert wordlike <= set(_secret_patterns.WORDLIKE_LOOKALIKES)


def test_invalid_utf8_and_lone_surrogates_do_not_crash() -> None:
    assert redact(b"\xff\xfe<!channel>\xc3") == "\ufffd\ufffd‹ǃchannel›\ufffd"
    assert redact("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert redact(None) == "" and redact(42) == "42" and redact(bytearray(b"ok")) == "ok"

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError("boom")

    assert redact(Hostile()) == "‹unprintable Hostile›"


# --- truncation --------------------------------------------------------------------------------


def test_truncation_marks_and_bounds() -> None:
    out = redact("word " * 1000, max_len=100)
    assert out.endswith(TRUNCATION_MARKER) and len(out) <= 100 + len(TRUNCATION_MARKER)
    assert redact(out, max_len=100) == out
    assert redact("abc", max_len=0) == TRUNCATION_MARKER
    assert redact("", max_len=0) == ""
    with pytest.raises(ValueError):
        redact("x", max_len=-1)


CUT_KEY = "sk-" + "proj-" + rand(40, URLSAFE)


@pytest.mark.parametrize("max_len", range(45, 85))  # the hint spans characters 51..79
def test_truncation_never_splits_a_hint(max_len: int) -> None:
    out = redact("a" * 50 + " " + CUT_KEY + " tail", max_len=max_len)
    assert "⁅" not in HINT_RE.sub("", out.removesuffix(TRUNCATION_MARKER))
    assert CUT_KEY not in out and CUT_KEY[8:20] not in out
    assert redact(out, max_len=max_len) == out


def test_truncation_cut_that_would_create_a_card_number_backs_off() -> None:
    """Cutting the last digit off a Luhn-invalid number can leave a valid card number."""
    prefix = next(f"4{n:014d}" for n in range(10**13, 10**13 + 10) if _secret_patterns.luhn_ok(f"4{n:014d}"))
    invalid16 = prefix + next(d for d in "0123456789" if not _secret_patterns.luhn_ok(prefix + d))
    text = "x" * 20 + " " + invalid16
    out = redact(text, max_len=len(text) - 1)
    assert redact(out, max_len=len(text) - 1) == out
    assert prefix not in out


# --- SafeText, trusted, compose ----------------------------------------------------------------


def test_safetext_cannot_be_constructed_or_subclassed() -> None:
    with pytest.raises(TypeError):
        SafeText("<!channel>")
    with pytest.raises(TypeError):
        SafeText()
    with pytest.raises(TypeError):
        type("Evil", (SafeText,), {})


def test_mixing_loses_the_type() -> None:
    safe = redact("hello")
    assert type(safe) is SafeText
    for derived in (safe + "x", "x" + safe, safe.upper(), safe[:2], f"{safe}", "{}".format(safe),
                    safe * 2, safe.strip(), "%s" % safe, str(safe)):
        assert type(derived) is str


def test_safetext_survives_pickle_and_copy() -> None:
    safe = redact("x <!here>")
    for clone in (pickle.loads(pickle.dumps(safe)), copy.copy(safe), copy.deepcopy(safe)):
        assert type(clone) is SafeText and clone == safe


def test_pydantic_fields_accept_only_safetext() -> None:
    class Msg(pydantic.BaseModel):
        text: SafeText

    assert Msg(text=redact("<!here>")).model_dump_json() == '{"text":"‹ǃhere›"}'
    with pytest.raises(pydantic.ValidationError):
        Msg(text="<!here>")  # type: ignore[arg-type]


def test_trusted_wraps_literals_as_is() -> None:
    assert trusted("<!here> irflow") == "<!here> irflow"
    assert type(trusted("x")) is SafeText
    with pytest.raises(TypeError):
        trusted(b"x")  # type: ignore[arg-type]


def test_compose_accepts_only_safe_parts() -> None:
    out = compose("*{title}* score {score:.1f} n={n}", title=redact("<!channel>"), score=0.75, n=3)
    assert out == "*‹ǃchannel›* score 0.8 n=3" and type(out) is SafeText
    with pytest.raises(TypeError):
        compose("{a}", a="<!channel>")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        compose("{a}", a=b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize("template", ["{}", "{0}", "{a.upper}", "{a[0]}", "{a!r}", "{a}{b}", "{a:{b}}"])
def test_compose_rejects_computing_or_adjacent_fields(template: str) -> None:
    with pytest.raises((ValueError, KeyError, IndexError)):
        compose(template, a=redact("@"), b=redact("channel"))


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
