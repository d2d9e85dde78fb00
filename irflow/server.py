"""`irflow serve`: HTTP intake and read API (FastAPI), plus the worker that responds to new incidents.

Intake commits before it answers 202; the response (Prefect flow run per incident) and the outbox
(Slack/Jira) run on a worker thread, so intake never waits on Prefect, Slack or Jira.

Intake's writes go through one `IntakeWriter` thread (group commit): the event loop only reads, checks
and splits bodies; the writer takes every submission that arrived meanwhile, normalizes them and commits
them in one transaction (one fsync), then answers each request. A request is answered 202 only after the
commit that holds its alerts, so durability is that of the database's commit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import queue
import secrets
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from irflow import incidents, intake, orchestrate, outbox, spool, workspace
from irflow.bodies import BodyError, Item, split
from irflow.connectors.errors import ConnectorError
from irflow.runtime import Runtime
from irflow.settings import IrflowSettings
from irflow.store.engine import Database

REPLAY_WINDOW_S = 300
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


class _IntakeFastPath:
    """`POST /v1/alerts[/{source}]` answered straight from ASGI, ahead of FastAPI's routing, request and
    response objects (the same `accept` as the FastAPI route, which still serves anything else, e.g. a
    trailing-slash redirect). At a thousand single-alert POSTs a second, the framework was a third of the
    event loop's time."""

    PREFIX = "/v1/alerts"

    def __init__(self, app: Any, accept: Callable[..., Any], limit: Callable[[], int]) -> None:
        self.app, self.accept, self.limit = app, accept, limit

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        path = scope.get("path", "") if scope["type"] == "http" and scope.get("method") == "POST" else ""
        rest = path[len(self.PREFIX):] if path.startswith(self.PREFIX) else None  # "" or "/{source}"
        if rest is None or (rest and (rest[0] != "/" or len(rest) == 1 or "/" in rest[1:])):
            await self.app(scope, receive, send)
            return
        source = rest[1:] or None
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in reversed(scope["headers"])}
        body = await self._read(headers, receive, self.limit())
        if body is False:
            return  # the client went away
        status, payload = await self.accept(headers, body, source)
        content = json.dumps(payload, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(content))]})
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    async def _read(headers: dict[str, str], receive: Callable[..., Any], limit: int) -> bytes | None | bool:
        """The body; None when over `limit` (checked on the declared length first); False on disconnect."""
        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            return None
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return False
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse([{"index": 0, "error": f"unauthorized: {reason}"}], status_code=401)


def check_auth(headers: Any, body: bytes, token: str | None, hmac_secret: str | None, now: float) -> str | None:
    """None when the request is authenticated, else why not. Both methods configured: both required."""
    if token is not None:
        given = headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return "missing or wrong bearer token"
    if hmac_secret is not None:
        ts, sig = headers.get("x-irflow-timestamp", ""), headers.get("x-irflow-signature", "")
        if not ts.isdigit() or abs(now - int(ts)) > REPLAY_WINDOW_S:
            return "timestamp missing or outside the 5-minute window"
        expected = "v1=" + hmac.new(hmac_secret.encode(), ts.encode() + b"." + body, sha256).hexdigest()
        if not hmac.compare_digest(sig.encode(), expected.encode()):
            return "bad signature"
    return None



def create_app(rt: Runtime, worker: Worker | None, token: str | None, hmac_secret: str | None) -> FastAPI:
    writer = IntakeWriter(rt.db, rt.settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(writer.stop)

    app = FastAPI(title="irflow", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.intake_writer = writer
    if worker is not None:
        worker.intake_busy = writer.busy

    async def authed(request: Request, body: bytes = b"") -> str | None:
        return check_auth(request.headers, body, token, hmac_secret, time.time())

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    registry = _metrics_registry(rt)

    @app.get("/metrics")
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    async def accept(headers: Any, body: bytes | None, source: str | None) -> tuple[int, Any]:
        """The intake endpoint: (status, JSON payload). Answers 202 only after the commit of the alerts."""
        limit = rt.settings.max_batch_bytes
        if body is None:
            return 413, [{"index": 0, "error": f"body over the limit of {limit} bytes"}]
        if (why := check_auth(headers, body, token, hmac_secret, time.time())) is not None:
            return 401, [{"index": 0, "error": f"unauthorized: {why}"}]
        try:
            items = split(body, max_bytes=limit, max_item_bytes=rt.settings.max_alert_bytes)
        except BodyError as exc:
            return exc.status, [{"index": 0, "error": str(exc)}]
        spooled = await asyncio.to_thread(spool.write, rt.settings.home, body, source) if len(items) > 1 else None
        report = await writer.ingest(items, source, "http")
        if spooled is not None:
            spool.done(spooled)
        if worker is not None and (report.new_incidents or report.grown_incidents):
            worker.notify(report.new_incidents + report.grown_incidents)
        status = 422 if report.accepted == 0 and report.rejected else 202
        return status, [r.as_json() for r in report.results]

    @app.post("/v1/alerts")
    @app.post("/v1/alerts/{source}")
    async def post_alerts(request: Request, source: str | None = None) -> JSONResponse:
        body = await _read_limited(request, rt.settings.max_batch_bytes)
        status, payload = await accept(request.headers, body, source)
        return JSONResponse(payload, status_code=status)

    app.add_middleware(_IntakeFastPath, accept=accept, limit=lambda: rt.settings.max_batch_bytes)

    @app.get("/v1/incidents")
    async def list_incidents(request: Request) -> JSONResponse:
        if (why := await authed(request)) is not None:
            return _unauthorized(why)
        with rt.db.tx() as s:
            return JSONResponse([incidents.incident_view(s, row) for row in incidents.list_incidents(s)])

    @app.get("/v1/incidents/{incident_id}")
    async def show_incident(request: Request, incident_id: str) -> JSONResponse:
        if (why := await authed(request)) is not None:
            return _unauthorized(why)
        with rt.db.tx() as s:
            try:
                return JSONResponse(incidents.incident_view(s, incidents.get(s, incident_id)))
            except incidents.IncidentNotFound as exc:
                return JSONResponse({"error": str(exc)}, status_code=404)

    for module in ("irflow.slack_app", "irflow.jira_app"):
        _include(app, module, rt, worker)
    return app


def _metrics_registry(rt: Runtime):  # type: ignore[no-untyped-def]
    """A registry of its own (not the process default), fed by the database on each scrape."""
    from prometheus_client import CollectorRegistry

    from irflow.metrics import PrometheusCollector

    registry = CollectorRegistry()
    registry.register(PrometheusCollector(rt.db))  # type: ignore[arg-type]
    return registry


def _include(app: FastAPI, module: str, rt: Runtime, worker: Worker | None) -> None:
    """Mount a chat/ticketing endpoint module's router (each owns its own authentication)."""
    import importlib

    build = getattr(importlib.import_module(module), "build_router")
    app.include_router(build(rt, worker))


async def _read_limited(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def intake_credentials(rt: Runtime) -> tuple[str | None, str | None]:
    """The configured token/secret; with neither, a random token kept in IRFLOW_HOME (never open intake)."""
    s = rt.settings
    token = s.intake_token.get_secret_value() if s.intake_token else None
    secret = s.intake_hmac_secret.get_secret_value() if s.intake_hmac_secret else None
    if token is None and secret is None:
        path = s.home / "intake-token"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        token = path.read_text().strip()
    return token, secret


def replay_spool(rt: Runtime) -> int:
    """Ingest what a crash left in the spool (deduplication makes a second ingest of a body harmless)."""
    replayed = 0
    for path, source in spool.pending(rt.settings.home):
        items = split(path.read_bytes(), max_bytes=rt.settings.max_batch_bytes,
                      max_item_bytes=rt.settings.max_alert_bytes)
        report = intake.ingest(rt.db, rt.settings, items, source=source, via="spool")
        log.warning("replayed spooled batch %s: %s accepted", path.name, report.accepted)
        spool.done(path)
        replayed += 1
    return replayed


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _tune_gc() -> None:
    """Move start-up's objects (Prefect, FastAPI, SQLAlchemy: ~200k) to the permanent generation, so the
    cyclic collector stops re-scanning them during an alert storm: a full pass over them costs ~0.1 s,
    and a storm's allocations trigger one every few batches (measured: 100 -> 75 us of CPU per alert)."""
    import gc

    gc.collect()
    gc.freeze()


def run_server(rt: Runtime, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then stop the worker and the Prefect server this process started."""
    import uvicorn

    # uvicorn re-raises the signal it caught after its graceful shutdown; with this handler that becomes
    # SystemExit, so the `finally` below runs and no Prefect server is left orphaned.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    from irflow import logs
    from irflow.prefect_server import ensure_prefect_server

    logs.configure(rt.settings.log_format)
    prefect = ensure_prefect_server(rt.settings)
    token, secret = intake_credentials(rt)
    if rt.settings.intake_token is None and secret is None:
        print(f"irflow: intake token is in {rt.settings.home / 'intake-token'} (set IRFLOW_INTAKE_TOKEN to choose one)")
    replay_spool(rt)
    from irflow.deployment import serve_in_background

    deployment = serve_in_background()
    worker = Worker(rt)
    worker.start()
    app = create_app(rt, worker, token, secret)
    from irflow import slack_socket

    socket_mode = slack_socket.start_if_configured(rt, worker.submit)
    _tune_gc()
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", log_config=None)
    finally:
        if socket_mode is not None:
            socket_mode.stop()
        worker.stop()
        deployment.stop()
        from irflow import events

        events.drain()
        if prefect is not None:
            prefect.stop()
