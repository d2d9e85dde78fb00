"""Remembering what Slack sent within a window, so that a resend is recognised and handled only once."""

from __future__ import annotations

import threading


class SeenWithin:
    """Keys (request signatures, Socket Mode envelope ids) first seen within the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self._window, self._seen, self._lock = window, dict[str, float](), threading.Lock()

    def first_use(self, key: str, now: float) -> bool:
        """True the first time `key` is offered within the window; False for a repeat."""
        with self._lock:
            self._seen = {seen: at for seen, at in self._seen.items() if now - at <= self._window}
            if key in self._seen:
                return False
            self._seen[key] = now
            return True
