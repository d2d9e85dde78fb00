"""Helpers for tests that run irflow (or a service) as a real process: find the CLI, wait until a URL answers,
and prove afterwards that nothing was left running."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests

IRFLOW = str(Path(sys.executable).with_name("irflow"))
"""The `irflow` console script of the interpreter running the tests."""


def wait_http(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120,
              why: Callable[[], str] = lambda: "") -> None:
    """Poll `url` until it answers 2xx; fail early when `proc` exits first. `why()` (say, the tail of the
    process's log) is appended to the error, read only when there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process exited with {proc.returncode} before {url} answered{why()}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not come up{why()}")


def processes_with_env(entry: str) -> list[int]:
    """PIDs whose environment holds `entry` (Linux /proc): proof that nothing was left running."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found
