"""`irflow serve`: HTTP intake and read API (FastAPI), plus the worker that responds to new incidents.

Intake commits before it answers 202; the response (Prefect flow run per incident) and the outbox
(Slack/Jira) run on a worker thread, so intake never waits on Prefect, Slack or Jira.
"""

from __future__ import annotations

import hmac
import logging
import signal
import queue
import secrets
import threading
import time
from hashlib import sha256
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from irflow import incidents, intake, orchestrate, spool
from irflow.bodies import BodyError, split
from irflow.connectors.errors import ConnectorError
from irflow.runtime import Runtime

REPLAY_WINDOW_S = 300
log = logging.getLogger("irflow.server")


class Worker:
    """Runs playbooks for new incidents one at a time, and delivers the outbox between them."""

    def __init__(self, rt: Runtime, poll_s: float = 1.0) -> None:
        self.rt, self.poll_s = rt, poll_s
        self.queue: queue.Queue[str | Callable[[], None]] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="irflow-worker", daemon=True)

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

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.queue.get(timeout=self.poll_s)
            except queue.Empty:
                item = None
            try:
                if callable(item):
                    item()
                elif item is not None:
                    self._handle(item)
                orchestrate.tick(self.rt)
                orchestrate.deliver(self.rt)
            except ConnectorError as exc:
                log.warning("worker: %s (recorded on the action or outbox row)", exc)


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


def _body_error(exc: BodyError) -> JSONResponse:
    return JSONResponse([{"index": 0, "error": str(exc)}], status_code=exc.status)


def create_app(rt: Runtime, worker: Worker | None, token: str | None, hmac_secret: str | None) -> FastAPI:
    app = FastAPI(title="irflow", docs_url=None, redoc_url=None, openapi_url=None)

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

    @app.post("/v1/alerts")
    @app.post("/v1/alerts/{source}")
    async def post_alerts(request: Request, source: str | None = None) -> JSONResponse:
        limit = rt.settings.max_batch_bytes
        body = await _read_limited(request, limit)
        if body is None:
            return _body_error(BodyError(f"body over the limit of {limit} bytes", status=413))
        if (why := await authed(request, body)) is not None:
            return _unauthorized(why)
        try:
            items = split(body, max_bytes=limit, max_item_bytes=rt.settings.max_alert_bytes)
        except BodyError as exc:
            return _body_error(exc)
        spooled = spool.write(rt.settings.home, body, source) if len(items) > 1 else None
        report = intake.ingest(rt.db, rt.settings, items, source=source, via="http")
        if spooled is not None:
            spool.done(spooled)
        if worker is not None:
            for incident_id in report.new_incidents:
                worker.queue.put(incident_id)
            for incident_id in report.grown_incidents:
                worker.queue.put(incident_id)
        status = 422 if report.accepted == 0 and report.rejected else 202
        return JSONResponse([r.as_json() for r in report.results], status_code=status)

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


def run_server(rt: Runtime, host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then stop the worker and the Prefect server this process started."""
    import uvicorn

    # uvicorn re-raises the signal it caught after its graceful shutdown; with this handler that becomes
    # SystemExit, so the `finally` below runs and no Prefect server is left orphaned.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    from irflow.prefect_server import ensure_prefect_server

    from irflow import logs

    logs.configure(rt.settings.log_format)
    prefect = ensure_prefect_server(rt.settings)
    token, secret = intake_credentials(rt)
    if rt.settings.intake_token is None and secret is None:
        print(f"irflow: intake token is in {rt.settings.home / 'intake-token'} (set IRFLOW_INTAKE_TOKEN to choose one)")
    replay_spool(rt)
    worker = Worker(rt)
    worker.start()
    try:
        uvicorn.run(create_app(rt, worker, token, secret), host=host, port=port, log_level="warning", log_config=None)
    finally:
        worker.stop()
        if prefect is not None:
            prefect.stop()
