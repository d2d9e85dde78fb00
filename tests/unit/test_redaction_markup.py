"""irflow.redaction: hostile markup is defanged, invisible and control characters are removed, and truncation
never splits a hint or leaves a secret behind."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest

from irflow import _secret_patterns
from irflow.redaction import DEFANG_CHARS, TRUNCATION_MARKER, redact, secret_hint
from tests.unit.redaction_cases import CUT_KEY

HINT_RE = re.compile(r"⁅REDACTED:[a-z_]+(?:⋯[A-Za-z0-9+/=_-]{4})?⁆")


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
