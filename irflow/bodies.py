"""Turning a submitted body into items: one JSON object, a JSON array, or JSON lines (NDJSON).

The framing is detected from the body, not the Content-Type: LiteLLM's callback sends NDJSON as
application/json. Limits are checked here so the HTTP app and the CLI refuse the same things.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64


class BodyError(ValueError):
    """The body as a whole is unusable. `status` is the HTTP status the intake answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Item:
    """One element of the body: parsed JSON, or the reason that line did not parse."""

    value: Any = None
    error: str | None = None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth, iteratively (a hostile body must not blow the stack)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BodyError(f"body is not UTF-8 (byte {exc.start}: {exc.reason})", status=415) from None


def _loads(text: str, where: str) -> Any:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BodyError(f"{where}malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise BodyError(f"{where}nesting deeper than {MAX_DEPTH}") from None
    # Each level of nesting opens with a bracket, so a text with few of them cannot be deep: the walk
    # below (Python, per node) is only needed for the rare body with more brackets than MAX_DEPTH.
    if text.count("{") + text.count("[") > MAX_DEPTH and _depth(value, MAX_DEPTH) > MAX_DEPTH:
        raise BodyError(f"{where}nesting deeper than {MAX_DEPTH}")
    return value


def split(raw: bytes, *, max_bytes: int, max_item_bytes: int | None = None) -> list[Item]:
    """Items of the body. A whole-body problem raises BodyError; a bad NDJSON line or an item over
    `max_item_bytes` becomes a bad Item, so one bad entry never costs the rest of a batch."""
    if len(raw) > max_bytes:
        raise BodyError(f"body is {len(raw)} bytes, over the limit of {max_bytes}", status=413)
    item_limit = max_item_bytes or max_bytes
    text = _decode(raw).strip()
    if not text:
        raise BodyError("body is empty")
    lines = [line for line in text.splitlines() if line.strip()]
    if text[0] == "{" and len(lines) > 1 and _is_complete_json(lines[0]):
        return [_line_item(line, n, item_limit) for n, line in enumerate(lines, start=1)]
    value = _loads(text, "")
    if isinstance(value, list):
        if len(raw) <= item_limit:
            return [Item(value=v) for v in value]
        return [_sized(v, item_limit) for v in value]
    if len(raw) > item_limit:
        raise BodyError(f"a single alert of {len(raw)} bytes is over the limit of {item_limit}", status=413)
    return [Item(value=value)]


def _sized(value: Any, limit: int) -> Item:
    size = len(json.dumps(value, ensure_ascii=False).encode())
    if size > limit:
        return Item(error=f"item of {size} bytes is over the per-alert limit of {limit}")
    return Item(value=value)


def _is_complete_json(line: str) -> bool:
    """NDJSON's first line is a whole object; a pretty-printed object's first line is not."""
    try:
        json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return False
    return True


def _line_item(line: str, lineno: int, limit: int) -> Item:
    if len(line) > limit:
        return Item(error=f"line {lineno}: {len(line)} characters, over the per-alert limit of {limit} bytes")
    try:
        return Item(value=_loads(line, f"line {lineno}: "))
    except BodyError as exc:
        return Item(error=str(exc))
