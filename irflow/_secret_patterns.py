"""Secret and PII detectors behind :mod:`irflow.redaction` (private; import the public API there).

Kept apart so ``redaction.py`` reads as policy (what happens to alert text, in which order) and this
file as mechanism (what a secret looks like). Three rules keep the detectors safe on hostile input:

* **Linear time.** Token patterns start with a literal or at a run boundary (look-behind) and use
  bounded or possessive quantifiers, so a 1 MB payload of ``sk-sk-…`` or ``eyJeyJ…`` cannot cause
  quadratic or catastrophic backtracking. A cheap substring pre-check skips detectors whose
  anchor does not occur at all.
* **Hints are opaque.** No class matches ``⁅`` or ``⁆`` (the delimiters of redaction hints) and
  hint bodies are too short for any pattern, so a detection never overlaps a hint and a second
  pass over redacted text finds nothing new. That is what makes redaction idempotent.
* **Defang-transparent.** Classes are ASCII (``re.ASCII``), so the look-alike characters that
  defanging substitutes behave like the ASCII punctuation they replace: defanging never creates
  a match that was not there before.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

HINT_OPEN = "\u2045"  # ⁅  also what defang turns "[" into, so hints and defanged text agree
HINT_CLOSE = "\u2046"  # ⁆
# Defang look-alikes that Python's Unicode regex treats as word characters. The only
# Unicode-aware pattern (e-mail) must exclude them explicitly; see _WORD below.
WORDLIKE_LOOKALIKES = "\u01c0\u01c3\u02cb"  # ǀ ǃ ˋ

MIN_GENERIC_LEN = 24
MIN_ENTROPY_BITS = 4.0


class Span(NamedTuple):
    """One detection: ``kind`` names the hint, ``[start, end)`` is what gets replaced."""

    kind: str
    start: int
    end: int


Detector = Callable[[str], Iterable[Span]]
# (anchors, detector): the detector only runs when one lower-case anchor occurs in the lower-cased
# text, a substring test that costs next to nothing on a 1 MB payload. () means "always run".
Guarded = tuple[tuple[str, ...], Detector]


def _scan(rx: re.Pattern[str], text: str, judge: Callable[[re.Match[str]], Span | None]) -> Iterator[Span]:
    """Matches of ``rx`` that ``judge`` turns into spans.

    A rejected candidate (say, a Luhn-invalid run of digits) may hide a real one that starts inside
    it, so scanning resumes one character later instead of after the candidate.
    """
    pos = 0
    while m := rx.search(text, pos):
        span = judge(m)
        if span is not None:
            yield span
        pos = max(span.end, m.start() + 1) if span is not None else m.start() + 1


def _regex(kind: str, pattern: str, *, group: str | int = 0, flags: int = re.ASCII,
           accept: Callable[[str], bool] | None = None) -> Detector:
    """Build a detector from one pattern; ``group`` is the part to redact (e.g. only the password)."""
    rx = re.compile(pattern, flags)

    def judge(m: re.Match[str]) -> Span | None:
        ok = accept is None or accept(m.group(group))
        return Span(kind, m.start(group), m.end(group)) if ok else None

    return lambda text: _scan(rx, text, judge)


# --- secrets ---------------------------------------------------------------------------------

_URLSAFE = r"A-Za-z0-9_\-"
_VALUE = r"[^\s\"'\u2045\u2046]++"  # an unquoted credential: up to whitespace, quote or hint
_PEM_BEGIN = re.compile(r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_AWS_SECRET_RUN = re.compile(r"[A-Za-z0-9/+](?<![A-Za-z0-9/+]{2})[A-Za-z0-9/+]{39}(?![A-Za-z0-9/+=])")
_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?P<key>passw(?:or)?d|passphrase|pwd|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|secret(?:[_-]?access)?(?:[_-]?key)?|token|credentials?)"
    r"[\"']?[ \t]{0,8}+(?::=|=>|[:=])[ \t]{0,8}+"
    r"(?:\"(?P<dq>[^\"\n\u2045\u2046]++)|'(?P<sq>[^'\n\u2045\u2046]++)|(?P<bare>" + _VALUE + "))",
    re.ASCII,
)


def _pem_blocks(text: str) -> Iterator[Span]:
    """A private key block, or from an unterminated BEGIN line to the end: nothing after it is safe."""
    pos = 0
    while begin := _PEM_BEGIN.search(text, pos):
        end = _PEM_END.search(text, begin.end())
        pos = end.end() if end else len(text)
        yield Span("private_key", begin.start(), pos)


def _aws_secret_keys(text: str) -> Iterator[Span]:
    """40-char base64 near the word "secret" on the same line; elsewhere the entropy rule applies."""
    for m in _AWS_SECRET_RUN.finditer(text):
        lo = max(0, m.start() - 80)
        lo = max(lo, text.rfind("\n", lo, m.start()) + 1)
        if "secret" in text[lo:m.start()].lower() and char_classes(m.group()) >= 2:
            yield Span("aws_secret_access_key", m.start(), m.end())


def _assignments(text: str) -> Iterator[Span]:
    """``password=…``, ``"api_key": "…"``, ``token: …``; the hint kind follows the key name."""
    for m in _ASSIGNMENT.finditer(text):
        group = "dq" if m.group("dq") is not None else "sq" if m.group("sq") is not None else "bare"
        key = m.group("key").lower()
        kind = ("password" if "pass" in key or key == "pwd" else "token" if key == "token"
                else "private_key" if "private" in key
                else "secret" if "secret" in key or "cred" in key else "api_key")
        yield Span(kind, m.start(group), m.end(group))


def _bearer_ok(token: str) -> bool:
    """Skip prose ("bearer instrument"): real tokens are long or carry digits/punctuation."""
    return len(token) >= 16 or re.search(r"[0-9._~+/=-]", token) is not None


# Order is priority: when two detections cover the same span the earlier kind names the hint.
SECRET_DETECTORS: tuple[Guarded, ...] = (
    (("-----begin",), _pem_blocks),
    (("sk-ant-",), _regex("anthropic_key", rf"sk-(?<![A-Za-z0-9_]sk-)ant-[{_URLSAFE}]{{16,}}+")),
    (("sk-",), _regex(
        "openai_key", rf"sk-(?<![A-Za-z0-9_]sk-)(?:(?:proj|svcacct|admin)-[{_URLSAFE}]{{16,}}+"
        rf"|[A-Za-z0-9]{{20}}T3BlbkFJ[A-Za-z0-9]{{20}}(?![{_URLSAFE}]))")),
    (("sk-",), _regex("litellm_key", rf"sk-(?<![A-Za-z0-9_]sk-)[{_URLSAFE}]{{16,}}+")),
    (("akia", "asia"), _regex(
        "aws_access_key_id", r"A(?<![A-Za-z0-9]A)(?:KIA|SIA)[A-Z0-9]{16}(?![A-Za-z0-9])")),
    (("secret",), _aws_secret_keys),
    (("xox", "xapp-"), _regex(
        "slack_token", r"x(?<![A-Za-z0-9]x)(?:ox[abposr]|app)-[A-Za-z0-9-]{10,}+")),
    (("hooks.slack.com",), _regex(
        "slack_webhook", r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9/_-]{8,}+)",
        group="s")),
    (("gh", "github_pat_"), _regex(
        "github_token", r"g(?<![A-Za-z0-9_]g)(?:h[pousr]_[A-Za-z0-9]{20,}+|ithub_pat_[A-Za-z0-9_]{20,}+)")),
    (("aiza",), _regex("google_api_key", rf"AIza(?<![{_URLSAFE}]AIza)[{_URLSAFE}]{{35,}}+")),
    (("eyj",), _regex(
        "jwt", rf"eyJ(?<![{_URLSAFE}]eyJ)[{_URLSAFE}]{{8,}}+\.[{_URLSAFE}]{{8,}}+\.[{_URLSAFE}]*+")),
    (("bearer",), _regex(
        "bearer_token", r"(?i)(?<![A-Za-z0-9])bearer[ \t]{1,8}+(?P<s>[A-Za-z0-9._~+/=-]{8,}+)",
        group="s", accept=_bearer_ok)),
    (("authorization",), _regex(
        "auth_header",
        r"(?i)(?<![A-Za-z0-9])(?:proxy-)?authorization[\"']?[ \t]{0,8}+[:=][ \t]{0,8}+[\"']?"
        r"(?:(?:bearer|basic|token|digest|negotiate|ntlm|apikey)[ \t]{1,8}+)?+(?P<s>" + _VALUE + ")",
        group="s")),
    (("://",), _regex(
        "url_password", r"://[^\s/:@\u2045\u2046]{0,256}+:(?P<s>[^\s/\u2045\u2046]{1,1024})@", group="s")),
    (("pass", "pwd", "key", "secret", "token", "credential"), _assignments),
)

_RUN = re.compile(r"[A-Za-z0-9+/_=-](?<![A-Za-z0-9+/_=-]{2})[A-Za-z0-9+/_=-]{%d,}+" % (MIN_GENERIC_LEN - 1), re.ASCII)
_HEXISH = re.compile(r"[0-9a-fA-F-]+")  # hashes (alert fingerprints) and UUIDs are not secrets
_CLASSES = (re.compile("[a-z]"), re.compile("[A-Z]"), re.compile("[0-9]"))
_PIECE_SEPARATORS = re.compile(r"[+/_=-]+")
# Shapes of the pieces of paths, identifiers and model names: words, camelCase, versions (python3,
# 70B, 4o), numbers, hash fragments. Random tokens rarely split into such pieces.
_PLAIN_PIECE = re.compile(
    r"[0-9]+[A-Za-z]{1,2}|(?:[a-z]+|[A-Z]+|[A-Z]?[a-z]+(?:[A-Z][a-z]+)*)[0-9]*|[0-9]+|[0-9a-f]{6,}|[0-9A-F]{6,}"
)


def char_classes(s: str) -> int:
    """How many of lower/upper/digit occur: random tokens mix them, words and numbers do not."""
    return sum(rx.search(s) is not None for rx in _CLASSES)


def shannon_entropy(s: str) -> float:
    """Bits per character of ``s`` under its own symbol frequencies."""
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values()) if n else 0.0


def _mostly_plain(s: str) -> bool:
    """True for ``anthropic/claude-3-5-sonnet-20241022`` or ``getUserAccountById``: entropy alone
    flags those (>= 4 bits/char), but at least half of the text is in word/number-shaped pieces."""
    odd = sum(len(p) for p in _PIECE_SEPARATORS.split(s) if p and not _PLAIN_PIECE.fullmatch(p))
    return odd * 2 < len(s)


def looks_random(s: str) -> bool:
    """The generic rule: long, mixed character classes, high entropy, not a hash/UUID or identifier."""
    return (len(s) >= MIN_GENERIC_LEN and _HEXISH.fullmatch(s) is None and char_classes(s) >= 2
            and shannon_entropy(s) >= MIN_ENTROPY_BITS and not _mostly_plain(s))


def _outside(start: int, end: int, taken: list[Span], starts: list[int]) -> Iterator[tuple[int, int]]:
    """Pieces of ``[start, end)`` not covered by ``taken`` (sorted, disjoint)."""
    pos = start
    for i in range(max(bisect_right(starts, start) - 1, 0), len(taken)):
        span = taken[i]
        if span.start >= end:
            break
        if span.end > pos:
            if span.start > pos:
                yield pos, span.start
            pos = span.end
    if pos < end:
        yield pos, end


def _generic(text: str, taken: list[Span]) -> Iterator[Span]:
    """High-entropy runs, judged on what the specific detectors left, as after their hints."""
    starts = [s.start for s in taken]
    for m in _RUN.finditer(text):
        for a, b in _outside(m.start(), m.end(), taken, starts):
            if looks_random(text[a:b]):
                yield Span("high_entropy_secret", a, b)


def merge(spans: Iterable[tuple[int, Span]]) -> list[Span]:
    """Resolve overlaps by taking their union (never expose a piece) named by the best detection."""
    out: list[Span] = []
    for _, span in sorted(spans, key=lambda ps: (ps[1].start, -ps[1].end, ps[0])):
        if out and span.start < out[-1].end:
            if span.end > out[-1].end:
                out[-1] = out[-1]._replace(end=span.end)
        else:
            out.append(span)
    return out


def find_secrets(text: str) -> list[Span]:
    """Specific detectors first, then the entropy rule on the remainder; sorted, disjoint."""
    specific = _run(SECRET_DETECTORS, text)
    return sorted(specific + list(_generic(text, specific)), key=lambda s: s.start)


# --- PII -------------------------------------------------------------------------------------

_IBAN_LENGTHS = dict(
    (entry[:2], int(entry[2:])) for entry in (
        "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BI27 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 DJ27 "
        "DK18 DO28 EE20 EG29 ES24 FI18 FK18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 IE22 "
        "IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 LY25 MC27 MD24 ME22 MK19 "
        "MN20 MR27 MT31 MU30 NI28 NL18 NO15 OM23 PK24 PL28 PS29 PT25 QA29 RO24 RS22 RU33 SA24 SC31 "
        "SD18 SE24 SI19 SK24 SM27 SO23 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20").split()
)
_IBAN = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}(?: ?[A-Z0-9]){11,30}+", re.ASCII)
_IBAN_DIGITS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number carries."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _card_ok(candidate: str) -> bool:
    """Luhn plus a real issuer prefix, so timestamps and epoch millis are not taken for cards."""
    digits = candidate.replace(" ", "").replace("-", "")
    iin_ok = digits[0] in "3456" or 2221 <= int(digits[:4]) <= 2720
    return 13 <= len(digits) <= 19 and iin_ok and luhn_ok(digits)


def _phone_ok(candidate: str) -> bool:
    """E.164 allows at most 15 digits; fewer than 9 are extensions, dates and counters."""
    return 9 <= sum(ch.isdigit() for ch in candidate) <= 15


def _iban(m: re.Match[str]) -> Span | None:
    """Country-specific length (when known) and the ISO 13616 mod-97 check."""
    compact = m.group().replace(" ", "")
    size = _IBAN_LENGTHS.get(compact[:2], 99)  # unknown country: not an IBAN
    compact = compact[:size]
    if len(compact) < size or int((compact[4:] + compact[:4]).translate(_IBAN_DIGITS)) % 97 != 1:
        return None
    end, seen = m.start(), 0
    while seen < size:
        seen += m.string[end] != " "
        end += 1
    return Span("iban", m.start(), end)


_WORD = rf"[^\W{WORDLIKE_LOOKALIKES}]"  # Unicode letters/digits/_ minus defang look-alikes
_NUM_END = r"(?![A-Za-z0-9]|[./-][0-9])"

_NATIONAL_PHONE = re.compile(  # trunk prefix 0, digits grouped with one consistent separator
    r"0(?<![A-Za-z0-9+./-]0)(?:[0-9]{8,14}+(?![A-Za-z0-9])"
    r"|[0-9]{1,4}+(?P<sep>[ /.-])[0-9]{2,8}+(?:(?P=sep)[0-9]{2,8}+){0,7}+)",
    re.ASCII,
)
_NUMBER_GOES_ON = re.compile(r"[A-Za-z0-9]|[./-][0-9]", re.ASCII)


def _national_phone(m: re.Match[str]) -> Span | None:
    """``030 12345678``, ``06 12 34 56 78``; trailing groups beyond 15 digits are not the number."""
    sep = m.group("sep") or ""
    groups = m.group().split(sep) if sep else [m.group()]
    if _NUMBER_GOES_ON.match(m.string, m.end()):
        groups.pop()  # the last group runs on into other text: not part of the number
    keep = digits = 0
    while keep < len(groups) and digits + len(groups[keep]) <= 15:
        digits += len(groups[keep])
        keep += 1
    return Span("phone", m.start(), m.start() + len(sep.join(groups[:keep]))) if digits >= 9 else None


_DIGITS = tuple("0123456789")  # numeric detectors are skipped outright on digit-free text

PII_DETECTORS: tuple[Guarded, ...] = (
    (_DIGITS, _regex("credit_card", r"[0-9](?<![A-Za-z0-9.-][0-9])(?:[0-9]{3}[ -]?(?:[0-9]{4}[ -]?){2}"
                     r"[0-9]{1,7}|[0-9]{3}[ -]?[0-9]{6}[ -]?[0-9]{5})" + _NUM_END, accept=_card_ok)),
    (_DIGITS, _regex("ssn", r"[0-9](?<![A-Za-z0-9-][0-9])[0-9]{2}-[0-9]{2}-[0-9]{4}" + _NUM_END)),
    (_DIGITS, lambda text: _scan(_IBAN, text, _iban)),
    (("+",), _regex("phone", r"\+(?<![A-Za-z0-9+]\+)[1-9](?:[ .()-]{0,2}[0-9]){8,14}(?![0-9])",
                    accept=_phone_ok)),
    (_DIGITS, _regex("phone", r"(?<![A-Za-z0-9+.-])(?:1[ .-])?(?:\([0-9]{3}\)[ .-]?|[0-9]{3}[ .-])"
                     r"[0-9]{3}[ .-][0-9]{4}" + _NUM_END)),
    (("0",), lambda text: _scan(_NATIONAL_PHONE, text, _national_phone)),
    (("@",), _regex("email", rf"(?<!{_WORD})(?<![.%+-])(?:{_WORD}|[.%+-])++@(?:(?:{_WORD}|-){{1,63}}+\.)"
                    rf"{{1,8}}[A-Za-z]{{2,24}}(?![\w-])", flags=0)),
)


def _run(detectors: tuple[Guarded, ...], text: str) -> list[Span]:
    """Run the detectors whose anchors occur and merge what they find."""
    low = text.lower()
    return merge(
        (prio, span)
        for prio, (anchors, detect) in enumerate(detectors)
        if not anchors or any(a in low for a in anchors)
        for span in detect(text)
    )


def find_pii(text: str) -> list[Span]:
    """E-mail, phone, payment card, SSN and IBAN detections; sorted, disjoint."""
    return _run(PII_DETECTORS, text)
