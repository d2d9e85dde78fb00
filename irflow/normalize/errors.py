"""Typed normalization errors: every rejection names the JSON path of what was wrong."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError

from irflow.models import Usage


def json_path(base: str, loc: Sequence[str | int]) -> str:
    path = base
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class NormalizationError(ValueError):
    """One alert item could not be normalized; `path` points into the submitted JSON."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    @classmethod
    def from_validation(cls, base: str, exc: ValidationError) -> NormalizationError:
        first = exc.errors()[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        return cls(json_path(base, first["loc"]), f"{first['msg']}{suffix}")


class UnknownSource(NormalizationError):
    """The body matches no known product and names no known source."""


class Ignored(Exception):
    """Not an error: the item is telemetry, not an alert (e.g. a LiteLLM call no guardrail flagged).

    `usage` carries what the call cost, when the source says, for irflow.usage's volume detectors.
    """

    def __init__(self, reason: str, usage: Usage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage
