"""Intake's group commit: one thread stores every submission that arrived meanwhile in one transaction.

The event loop only reads, checks and splits bodies; the writer takes every submission that arrived while
it was committing the previous group, normalizes them and commits them in one transaction (one fsync),
then answers each request. A request is answered 202 only after the commit that holds its alerts, so
durability is that of the database's commit.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from irflow import intake
from irflow.bodies import Item
from irflow.settings import IrflowSettings
from irflow.store.engine import Database

log = logging.getLogger("irflow.server")


@dataclass
class _Submission:
    items: list[Item]
    source: str | None
    via: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[intake.IngestReport]


def _settle(outcomes: list[tuple[asyncio.Future[intake.IngestReport], intake.IngestReport | None,
                                 BaseException | None]]) -> None:
    """On the event loop: answer every request of a committed group (one wake-up per group)."""
    for future, report, error in outcomes:
        if future.cancelled():
            continue
        if error is None:
            future.set_result(report)  # type: ignore[arg-type]
        else:
            future.set_exception(error)


class IntakeWriter:
    """Group commit for intake: one thread takes every submission that arrived while it was committing the
    previous group, normalizes them and stores them in one transaction (one fsync), then answers them all.
    A failed group is retried one submission per transaction (`intake.commit_each`), so a submission at
    fault fails alone. At most `max_alerts` alerts go into one transaction (a single bigger submission
    still goes in whole: its items commit together or not at all)."""

    def __init__(self, db: Database, settings: IrflowSettings, max_alerts: int = 5000,
                 gather_s: float = 0.0003) -> None:
        self.db, self.settings, self.max_alerts, self.gather_s = db, settings, max_alerts, gather_s
        self._queue: queue.SimpleQueue[_Submission | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._carry: _Submission | None = None
        self._last_group = 0
        self.last_commit = 0.0
        self.groups = self.submissions = 0
        """Transactions committed and submissions they held (submissions / groups: the grouping achieved)."""

    async def ingest(self, items: list[Item], source: str | None, via: str = "http") -> intake.IngestReport:
        """Store a submission; returns once the transaction holding it has committed (or raises its error)."""
        loop = asyncio.get_running_loop()
        submission = _Submission(items, source, via, loop, loop.create_future())
        self._ensure_started()
        self._queue.put(submission)
        return await submission.future

    def busy(self, within_s: float = 0.5) -> bool:
        """Intake is committing (or has within `within_s`): the worker should leave it the CPU."""
        return not self._queue.empty() or time.monotonic() - self.last_commit < within_s

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="irflow-intake-writer", daemon=True)
                    self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Commit what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=timeout)

    def _group(self, first: _Submission) -> tuple[list[_Submission], bool]:
        """`first` and whatever else is queued. When the previous group held several submissions (clients
        are posting concurrently), an empty queue gets one `gather_s` pause to fill: the event loop is
        usually parsing the next requests right then, and one transaction for more of them costs less."""
        group, size = [first], len(first.items)
        waited = self.gather_s <= 0 or self._last_group < 2
        while size < self.max_alerts:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                if waited:
                    break
                waited = True
                time.sleep(self.gather_s)
                continue
            if nxt is None:
                return group, True
            if size + len(nxt.items) > self.max_alerts:
                self._carry = nxt
                break
            group.append(nxt)
            size += len(nxt.items)
        return group, False

    def _loop(self) -> None:
        while True:
            first, self._carry = (self._carry, None) if self._carry is not None else (self._queue.get(), None)
            if first is None:
                return
            group, stopping = self._group(first)
            self._last_group = len(group)
            try:
                self._answer(group, self._commit(group))
            except BaseException as exc:  # answer every request, whatever happened; the thread goes on
                log.exception("intake: committing a group of %s submissions failed", len(group))
                self._answer(group, [(None, exc)] * len(group))
            if stopping:
                return

    def _commit(self, group: list[_Submission]) -> list[tuple[intake.IngestReport | None, BaseException | None]]:
        self.groups += 1
        self.submissions += len(group)
        outcomes: list[tuple[intake.IngestReport | None, BaseException | None]] = [(None, None)] * len(group)
        prepared: list[tuple[int, intake.Prepared]] = []
        for index, sub in enumerate(group):
            try:
                prepared.append((index, intake.prepare(sub.items, sub.source, sub.via)))
            except Exception as exc:  # a bug in a normalizer: this submission fails, the others go on
                log.exception("intake: normalizing a submission failed")
                outcomes[index] = (None, exc)
        if prepared:
            errors = intake.commit_each(self.db, self.settings, [p for _, p in prepared])
            self.last_commit = time.monotonic()
            for (index, p), error in zip(prepared, errors, strict=True):
                if error is not None:
                    log.error("intake: a submission of %s items was not stored: %s", len(p.items), error)
                outcomes[index] = (p.report if error is None else None, error)
        return outcomes

    @staticmethod
    def _answer(group: list[_Submission],
                outcomes: list[tuple[intake.IngestReport | None, BaseException | None]]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for sub, (report, error) in zip(group, outcomes, strict=True):
            by_loop.setdefault(sub.loop, []).append((sub.future, report, error))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, answers)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                pass
