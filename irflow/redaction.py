"""Make attacker-controlled alert text safe for Slack, Jira, logs and Prefect artifacts.

Alert text is hostile by assumption: prompt-injection payloads, exfiltration links and images,
chat-ops mentions, invisible characters and leaked credentials. Everything alert-derived goes
through :func:`redact`, which returns :class:`SafeText`; renderers accept only ``SafeText``, so
forgetting to redact is a type error instead of an incident. ``SafeText`` is minted only here:
:func:`redact` (alert text), :func:`trusted` (irflow's own literals), :func:`compose` (trusted
template + safe parts).

``redact`` runs: NFKC → strip controls → secrets → PII → defang → secrets again (defanging can
split a token, exposing a shorter one) → repeat until nothing changes → truncate. The repetition
makes ``redact(redact(x)) == redact(x)`` hold by construction rather than by careful reasoning;
it takes a second pass only when the first one changed something, and fails closed.

Choices, and why:

* **Hints** look like ``⁅REDACTED:openai_key⋯x9Qz⁆`` (kind + last 4 chars when the secret has at
  least 12) or ``⁅REDACTED:email⁆``. ``⁅ ⁆`` are what defang turns ``[ ]`` into, contain no
  space (one token, never split by truncation) and match no detector, so re-redaction keeps them.
* **Defang look-alikes** (:data:`DEFANG_CHARS`) are all NFKC-stable, so neither our own NFKC
  step nor a downstream one folds them back into markup: ``< > & [ ] { } | ! ` `` become
  ``‹ › ⅋ ⁅ ⁆ ❴ ❵ ǀ ǃ ˋ``, everywhere. Markup-aware escaping would need one parser per target
  (Slack mrkdwn, Jira wiki, Markdown, HTML); replacing the characters kills every construct in all
  of them at once: ``<!channel>``, ``<@U…>``, ``<url|label>``, ``&lt;``, ``[x](url)``,
  ``![x](url)``, ``[text|url]``, ``!img.png!``, ``{code}``, ``[~user]`` and code fences.
* **Links**: ``http``/``https``/``ftp`` become ``hxxp``/``hxxps``/``fxp`` and dots in URL hosts,
  ``www.`` names and bare names under common TLDs become ``⁅.⁆``. Bare ``@channel``, ``@here``
  and ``@everyone`` become ``(at)channel``…; a zero-width break is not an option because
  zero-width characters are themselves stripped as smuggling vectors.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, Final, LiteralString

from irflow import _secret_patterns as _p

__all__ = ["DEFANG_CHARS", "TRUNCATION_MARKER", "SafeText", "compose", "find_secrets", "redact", "redact_mapping",
           "secret_hint", "trusted"]

_MINT_TOKEN: Final = object()  # module-private: only code in this module can mint SafeText


class SafeText(str):
    """Text that is safe to render: redacted, defanged alert text or irflow's own literals.

    Constructing it directly raises ``TypeError``; use :func:`redact`, :func:`trusted` or
    :func:`compose`. Every ``str`` operation (``+``, ``format``, slicing, ``upper`` …) returns a
    plain ``str``: mixing safe text with anything loses the guarantee, so it loses the type too.
    """

    __slots__ = ()

    def __new__(cls, value: str = "", /, *, _token: object = None) -> SafeText:
        if _token is not _MINT_TOKEN:
            raise TypeError("SafeText is only produced by irflow.redaction: redact(), trusted(), compose()")
        return super().__new__(cls, value)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        raise TypeError("SafeText cannot be subclassed: a subclass could mint unsafe instances")

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickle/copy (Prefect results, caches) would call SafeText(value) and hit the guard.
        return (_mint, (str(self),))

    def __repr__(self) -> str:
        return f"SafeText({str.__repr__(self)})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Pydantic fields typed ``SafeText`` accept only SafeText instances, never plain str."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls, serialization=core_schema.to_string_ser_schema())

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, str]:
        return {"type": "string"}


def _mint(value: str) -> SafeText:
    return SafeText(value, _token=_MINT_TOKEN)


# --- constants -------------------------------------------------------------------------------

DEFANG_CHARS: Final[Mapping[str, str]] = MappingProxyType({
    "<": "\u2039",  # ‹  Slack <!channel> <@U…> <#C…> <url|label>, HTML tags, Markdown autolinks
    ">": "\u203a",  # ›
    "&": "\u214b",  # ⅋  no HTML entity (&lt;) survives to be decoded into markup downstream
    "[": _p.HINT_OPEN,  # ⁅  Markdown links/images, Jira [text|url] and [~user] mentions
    "]": _p.HINT_CLOSE,  # ⁆
    "{": "\u2774",  # ❴  Jira macros: {code} {noformat} {html} {panel} …
    "}": "\u2775",  # ❵
    "|": "\u01c0",  # ǀ  Slack link labels, Jira link targets, tables
    "!": "\u01c3",  # ǃ  Jira !image! embeds, Markdown ![image](…), Slack <!…>
    "`": "\u02cb",  # ˋ  so renderers can wrap alert text in a ``` block it cannot close
})
_DEFANG_TABLE: Final = str.maketrans(dict(DEFANG_CHARS))
_DOT: Final = f"{_p.HINT_OPEN}.{_p.HINT_CLOSE}"
_ELLIPSIS: Final = "\u22ef"  # ⋯  "…" would be folded to "..." by NFKC
TRUNCATION_MARKER: Final = f" {_ELLIPSIS}{_p.HINT_OPEN}truncated{_p.HINT_CLOSE}"
_UNSTABLE: Final = f"{_p.HINT_OPEN}REDACTED:unstable{_p.HINT_CLOSE}"
_NO_TAIL_KINDS: Final = frozenset({"private_key"})
_MAX_PASSES: Final = 6
_MAX_DEPTH: Final = 32

_TAIL_OK: Final = re.compile(r"[A-Za-z0-9+/=_-]{4}", re.ASCII)
_HINT: Final = re.compile(
    rf"{_p.HINT_OPEN}REDACTED:[a-z_]{{1,32}}(?:{_ELLIPSIS}[A-Za-z0-9+/=_-]{{4}})?{_p.HINT_CLOSE}"
)
_HINT_MAX_LEN: Final = 64

# --- normalize and strip ---------------------------------------------------------------------

_SURROGATES: Final = re.compile("[\ud800-\udfff]")
_ANSI: Final = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*+[ -/]*+[@-~]?"  # CSI: colours, cursor movement, erase
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c\n]*+(?:\x07|\x1b\\|\x9c)?"  # OSC: titles, OSC 8 hyperlinks
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c\n]*+(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|\x1b[ -/]*+[0-~]?"  # any other escape
)
_ESCAPE_START: Final = re.compile("[\x1b\x90\x98\x9b\x9d\x9e\x9f]")
# Control (Cc) and format (Cf) characters except \t and \n: bidi overrides, zero-width joiners,
# BOM, Unicode tag characters (ASCII smuggling), plus other invisibles used to hide payloads:
# Hangul fillers, variation selectors, the combining grapheme joiner.
_INVISIBLE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)


def _clean(text: str) -> str:
    """NFKC first so fullwidth ＜!channel＞ folds before matching; again after stripping."""
    text = unicodedata.normalize("NFKC", _SURROGATES.sub("\ufffd", text))
    if _ESCAPE_START.search(text):
        text = _ANSI.sub("", text)
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))


# --- defang ----------------------------------------------------------------------------------

_SCHEME: Final = re.compile(r"(?i)(?:htt|ft)ps?://")
_T_TO_X: Final = str.maketrans("tT", "xX")
_AUTHORITY: Final = re.compile("://([^\\s/?#\\\\|<>\"'\u2039\u203a\u01c0]*+)")
_HOST_DOT: Final = re.compile(rf"(?<!{_p.HINT_OPEN})\.(?!{_p.HINT_CLOSE})")
_DOMAIN: Final = re.compile(r"(?<![A-Za-z0-9_.-])[A-Za-z0-9-]{1,63}+(?:\.[A-Za-z0-9-]{1,63}+)++", re.ASCII)
_MENTION: Final = re.compile(r"(?i)@(?=(?:channel|here|everyone)(?![A-Za-z0-9_]))", re.ASCII)
# Bare names under these TLDs are linkified by chat clients; "file.py" and "notes.md" are not.
_TLDS: Final = frozenset(
    "com net org edu gov mil int info biz io ai co app dev xyz me ly top site online link click "
    "zip mov ru cn su tk ml ga cf gq pw ws us uk eu de fr nl".split()
)


def _defang_authority(m: re.Match[str]) -> str:
    """Break the host (after any userinfo) so no client resolves or previews it."""
    userinfo, at, host = m.group(1).rpartition("@")
    return f"://{userinfo}{at}{_HOST_DOT.sub(_DOT, host)}"


def _defang_domain(m: re.Match[str]) -> str:
    labels = m.group().lower().split(".")
    linkish = labels[0] == "www" or labels[-1] in _TLDS
    return m.group().replace(".", _DOT) if linkish else m.group()


def _defang(text: str) -> str:
    """Neutralize links, mentions and markup; each step is idempotent and creates no earlier input.

    The substring guards only skip work: a step whose anchor is absent would change nothing.
    """
    if "://" in text:
        text = _AUTHORITY.sub(_defang_authority, _SCHEME.sub(lambda m: m.group().translate(_T_TO_X), text))
    if "." in text:
        text = _DOMAIN.sub(_defang_domain, text)
    if "@" in text:
        text = _MENTION.sub("(at)", text)
    return text.translate(_DEFANG_TABLE)


# --- redact ----------------------------------------------------------------------------------


def _hint(kind: str, secret: str, *, tail: bool = True) -> str:
    """Kind plus the last 4 characters (never for secrets under 12), enough to rotate the right key."""
    end = secret[-4:]
    if tail and kind not in _NO_TAIL_KINDS and len(secret) >= 12 and _TAIL_OK.fullmatch(end):
        return f"{_p.HINT_OPEN}REDACTED:{kind}{_ELLIPSIS}{end}{_p.HINT_CLOSE}"
    return f"{_p.HINT_OPEN}REDACTED:{kind}{_p.HINT_CLOSE}"


def _replace(text: str, spans: list[_p.Span], *, tail: bool) -> str:
    if not spans:
        return text
    pieces: list[str] = []
    pos = 0
    for span in spans:
        pieces += (text[pos:span.start], _hint(span.kind, text[span.start:span.end], tail=tail))
        pos = span.end
    pieces.append(text[pos:])
    return "".join(pieces)


def _stages(text: str, pii: bool) -> str:
    """One pass of the pipeline, everything but truncation."""
    text = _clean(text)
    text = _replace(text, _p.find_secrets(text), tail=True)
    if pii:
        text = _replace(text, _p.find_pii(text), tail=False)
    text = _defang(text)
    return _replace(text, _p.find_secrets(text), tail=True)


def _settle(text: str, pii: bool) -> str:
    """Repeat until a pass changes nothing; fail closed if hostile input never settles."""
    for _ in range(_MAX_PASSES):
        settled = _stages(text, pii)
        if settled == text:
            return text
        text = settled
    return _UNSTABLE


def _hint_safe(text: str, cut: int) -> int:
    """Move ``cut`` to the start of a hint it would split: a half hint reads like a leak."""
    lo = max(0, cut - _HINT_MAX_LEN)
    for m in _HINT.finditer(text, lo, cut + _HINT_MAX_LEN):
        if m.start() < cut < m.end():
            return m.start()
    return cut


def _cut_points(text: str, limit: int) -> Iterator[int]:
    """Where to try cutting: at the limit, then at earlier whitespace, then halving down to 0."""
    cut = _hint_safe(text, limit)
    yield cut
    for _ in range(4):
        cut = max(text.rfind(" ", 0, cut), text.rfind("\n", 0, cut))
        if cut <= 0:
            break
        yield cut
    while cut > 0:
        cut = _hint_safe(text, cut // 2)
        yield cut


def _truncate(text: str, max_len: int, pii: bool) -> str:
    """Cut last, where the result is itself a fixed point; otherwise re-redaction would change it.

    A cut can turn an innocent token into a detectable one (a Luhn-invalid number whose prefix is
    valid, a token whose new end satisfies a boundary), so each candidate is checked.
    """
    body = text.removesuffix(TRUNCATION_MARKER)  # an earlier cut: within the limit if body fits
    if len(text) <= max_len or (len(body) < len(text) and len(body) <= max_len):
        return text
    for cut in _cut_points(text, max_len):
        candidate = text[:cut] + TRUNCATION_MARKER
        if _stages(candidate, pii) == candidate:
            return candidate
    return TRUNCATION_MARKER


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return str.__str__(value)  # a plain copy: ignore a subclass's __str__
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    try:
        return str(value)
    except Exception:  # hostile or broken __str__: still produce something renderable
        return f"<unprintable {type(value).__name__}>"


def redact(text: object, *, max_len: int = 2000, pii: bool = True) -> SafeText:
    """The only way alert-derived text becomes :class:`SafeText`.

    Accepts anything: ``None`` → ``""``, bytes are decoded as UTF-8 with replacement, other objects
    go through ``str()``. Idempotent for the same ``max_len``/``pii``; output never contains a
    secret :func:`find_secrets` detects; ``len(result) <= max_len + len(TRUNCATION_MARKER)``.
    """
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0:
        raise ValueError(f"max_len must be a non-negative int, got {max_len!r}")
    return _mint(_truncate(_settle(_as_text(text), pii), max_len, pii))


def trusted(text: LiteralString) -> SafeText:
    """Wrap one of irflow's own string literals as-is; markup in it (``<!here>``) stays live.

    Only literals may be passed (``LiteralString`` for type checkers; an AST test checks callers):
    never alert data, never a formatted string. Nothing is escaped.
    """
    if not isinstance(text, str):
        raise TypeError(f"trusted() takes a string literal, got {type(text).__name__}")
    return _mint(str.__str__(text))


_FORMATTER: Final = string.Formatter()


def _check_template(template: str) -> None:
    """Simple named fields only, never two fields back to back.

    Attribute/index lookups and conversions (``{a.b}``, ``{a!r}``) would compute new text; adjacent
    fields could join two harmless parts into something live (``@`` + ``channel``).
    """
    after_field = False
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        if field is None:
            continue
        if not field.isidentifier() or conversion is not None or "{" in (spec or ""):
            raise ValueError(f"compose() supports plain named fields like {{name}}, got {{{field}}}")
        if after_field and not literal:
            raise ValueError("compose() fields must be separated by template text")
        after_field = True


def _part(name: str, value: object) -> object:
    if isinstance(value, (SafeText, bool)):
        return value
    if isinstance(value, (int, float)):  # a subclass could carry a custom __format__
        return int(value) if isinstance(value, int) else float(value)
    raise TypeError(f"compose() part {name!r} must be SafeText, int or float, not {type(value).__name__}; "
                    "pass alert text through redact()")


def compose(template: LiteralString, /, **parts: SafeText | int | float) -> SafeText:
    """Fill an irflow template (a literal, see :func:`trusted`) with safe parts: ``{name}`` fields."""
    if not isinstance(template, str):
        raise TypeError(f"compose() template must be a string literal, got {type(template).__name__}")
    _check_template(template)
    return _mint(template.format_map({name: _part(name, value) for name, value in parts.items()}))


def secret_hint(secret: str) -> SafeText:
    """The hint that replaces ``secret``: ``⁅REDACTED:<kind>⋯<last 4>⁆``; the tail only from 12 chars.

    The kind is detected (``secret`` when nothing specific matches the whole value).
    """
    value = _as_text(secret)
    spans = _p.find_secrets(value)
    whole = len(spans) == 1 and spans[0].start == 0 and spans[0].end == len(value)
    return _mint(_hint(spans[0].kind if whole else "secret", value))


def find_secrets(text: str) -> list[tuple[str, int, int]]:
    """``(kind, start, end)`` of every secret in ``text`` as given (not normalized); sorted, disjoint."""
    return list(_p.find_secrets(_as_text(text)))


def redact_mapping(obj: object, *, max_len: int = 2000) -> object:
    """Redact every string (keys too) in nested dicts/lists for logs and JSON output.

    Returns plain JSON-able data: dicts, lists, bool/int/float/None and SafeText. Tuples and sets
    become lists, other objects are redacted via ``str()``. Cycles and nesting deeper than
    32 levels become a hint instead of a RecursionError. Keys that redact to the same text
    collide; the last one wins.
    """
    return _redact_tree(obj, max_len, set(), 0)


def _plain_scalar(obj: object) -> tuple[bool, object]:
    """``(True, value)`` for None/bool/int/float, subclasses (enums) turned into the plain type."""
    if obj is None or isinstance(obj, bool):
        return True, obj
    if isinstance(obj, (int, float)):
        return True, int(obj) if isinstance(obj, int) else float(obj)
    return False, None


def _redact_tree(obj: object, max_len: int, seen: set[int], depth: int) -> object:
    scalar, value = _plain_scalar(obj)
    if scalar:
        return value
    if not isinstance(obj, (Mapping, list, tuple, set, frozenset)):
        return redact(obj, max_len=max_len)
    if depth >= _MAX_DEPTH or id(obj) in seen:
        return _mint(f"{_p.HINT_OPEN}REDACTED:too_deep{_p.HINT_CLOSE}")
    seen.add(id(obj))
    try:
        if isinstance(obj, Mapping):
            return {_redact_key(k, max_len): _redact_tree(v, max_len, seen, depth + 1) for k, v in obj.items()}
        return [_redact_tree(v, max_len, seen, depth + 1) for v in obj]
    finally:
        seen.discard(id(obj))


def _redact_key(key: object, max_len: int) -> object:
    scalar, value = _plain_scalar(key)  # json.dumps accepts these as keys
    return value if scalar else redact(key, max_len=max_len)
