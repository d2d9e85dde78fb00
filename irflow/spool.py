"""The intake spool: a batch body is on disk (fsync'd) before irflow starts processing it, and removed once
its alerts are committed. A crash in between leaves the file, which the next `irflow serve` replays —
deduplication makes the replay idempotent. LiteLLM's callback drops a batch on any error and never
retries, so without this a crash mid-batch would lose up to 512 calls' worth of evidence."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def folder(home: Path) -> Path:
    path = home / "spool"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(home: Path, body: bytes, source: str | None) -> Path:
    directory = folder(home)
    name = f"{uuid.uuid4().hex}.{source or 'auto'}"
    tmp, final = directory / f".{name}.tmp", directory / f"{name}.body"
    with tmp.open("wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.rename(final)
    _fsync_dir(directory)
    return final


def done(path: Path) -> None:
    path.unlink(missing_ok=True)


def set_aside(path: Path) -> Path:
    """Keep a body that could not be replayed out of the replay (`*.failed`), for a person to look at."""
    kept = path.with_suffix(".failed")
    path.rename(kept)
    return kept


def pending(home: Path) -> list[tuple[Path, str | None]]:
    """Spooled bodies left by a crash, oldest first, with their source."""
    files = sorted(folder(home).glob("*.body"), key=lambda p: p.stat().st_mtime)
    return [(p, None if p.stem.split(".", 1)[1] == "auto" else p.stem.split(".", 1)[1]) for p in files]

