"""The worker thread of `irflow serve`: responds to new incidents and delivers the outbox between them.

Intake never waits on Prefect, Slack or Jira: it commits, answers, and notifies this worker; Slack and Jira
endpoints acknowledge within Slack's three seconds and hand their work here with `submit`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable

from irflow import incidents, orchestrate, outbox, workspace
from irflow.connectors.errors import ConnectorError
from irflow.runtime import Runtime

log = logging.getLogger("irflow.server")


class Worker:
    """Runs playbooks for new incidents one at a time, and delivers the outbox between them.

    Incident ids are coalesced: an id already waiting is not queued again (its turn sees every alert
    committed before it), and a grown incident is re-checked for a ladder rung at most once per
    `recheck_s` (a later notification waits, it is never dropped). So an alert storm costs the worker a
    few checks per second per incident instead of one per request, and leaves the CPU to intake.

    During an alert storm (`intake_busy()`), the worker takes at most `storm_share` of the time: after each
    round it pauses in proportion to the round's length, and delivers the outbox a few rows per round
    instead of draining it. Python runs one thread at a time, so without this a Prefect flow run or a
    backlog of `alerts.received` events would take the CPU from intake. Nothing is dropped: the outbox is
    durable and catches up when the storm ends.
    """

    def __init__(self, rt: Runtime, poll_s: float = 1.0, recheck_s: float = 1.0, storm_share: float = 0.25,
                 storm_deliveries: int = 2) -> None:
        self.rt, self.poll_s, self.recheck_s = rt, poll_s, recheck_s
        self.storm_share, self.storm_deliveries = storm_share, storm_deliveries
        self.intake_busy: Callable[[], bool] = lambda: False
        """Set by `create_app` to the intake writer's `busy`."""
        self.queue: queue.Queue[str | Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="irflow-worker", daemon=True)
        self._lock = threading.Lock()
        self._waiting: set[str] = set()
        """Ids queued or deferred, not yet handled: a new notification for one of them is redundant."""
        self._deferred: dict[str, float] = {}
        self._checked: dict[str, float] = {}
        self._last_tick = 0.0

    def notify(self, incident_ids: Iterable[str]) -> None:
        """New or grown incidents (from intake): queued once each until the worker gets to them."""
        with self._lock:
            for incident_id in incident_ids:
                if incident_id not in self._waiting:
                    self._waiting.add(incident_id)
                    self.queue.put(incident_id)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the worker thread: how Slack/Jira endpoints acknowledge fast and work afterwards."""
        self.queue.put(job)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _handle(self, incident_id: str) -> None:
        """A new incident runs its playbook; a grown one runs again only if it reached a ladder rung."""
        with self.rt.db.tx() as s:
            started = incidents.get(s, incident_id).playbook is not None
        if started:
            orchestrate.escalate(self.rt, [incident_id])
        else:
            orchestrate.respond(self.rt, incident_id)

    def _take(self, incident_id: str, now: float) -> bool:
        """Whether to handle `incident_id` now; if it was checked less than `recheck_s` ago, defer it."""
        with self._lock:
            checked = self._checked.get(incident_id)
            if checked is not None and now - checked < self.recheck_s:
                self._deferred.setdefault(incident_id, checked + self.recheck_s)
                return False
            self._waiting.discard(incident_id)
            self._deferred.pop(incident_id, None)
            self._checked[incident_id] = now
            if len(self._checked) > 10_000:
                self._checked = {k: v for k, v in self._checked.items() if now - v < self.recheck_s}
            return True

    def _due(self, now: float) -> list[str]:
        with self._lock:
            return [i for i, at in self._deferred.items() if at <= now]

    def _timeout(self, now: float) -> float:
        with self._lock:
            soonest = min(self._deferred.values(), default=now + self.poll_s)
        return max(0.0, min(self.poll_s, soonest - now))

    def _loop(self) -> None:
        backlog = False
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=0 if backlog else self._timeout(time.monotonic()))
            except queue.Empty:
                item = None
            now = time.monotonic()
            storm, backlog = self.intake_busy(), False
            try:
                if callable(item):
                    item()
                elif item is not None and self._take(item, now):
                    self._handle(item)
                for incident_id in self._due(now):
                    if self._take(incident_id, now):
                        self._handle(incident_id)
                if (item is None and not storm) or callable(item) or now - self._last_tick >= self.poll_s:
                    self._last_tick = now
                    orchestrate.tick(self.rt)
                if storm:
                    limit = self.storm_deliveries
                    backlog = outbox.deliver_pending(self.rt.db, self.rt.systems, workspace.HANDLERS, limit) >= limit
                else:
                    orchestrate.deliver(self.rt)
            except ConnectorError as exc:
                log.warning("worker: %s (recorded on the action or outbox row)", exc)
            if storm or self.intake_busy():
                spent = time.monotonic() - now
                self._stop.wait(min(5.0, spent * (1 - self.storm_share) / self.storm_share))
