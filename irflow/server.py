"""`irflow serve`: HTTP intake and read API (FastAPI), plus the worker that responds to new incidents.

Intake commits before it answers 202; the response (Prefect flow run per incident) and the outbox
(Slack/Jira) run on a worker thread, so intake never waits on Prefect, Slack or Jira.

Intake's writes go through one `IntakeWriter` thread (group commit, irflow/intake_writer.py); the worker
thread lives in irflow/worker.py. A request is answered 202 only after the commit that holds its alerts.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from hashlib import sha256
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError

from irflow import incidents, intake, spool
from irflow.bodies import BodyError, split
from irflow.intake_writer import IntakeWriter
from irflow.runtime import Runtime
from irflow.worker import Worker

__all__ = ["IntakeWriter", "Worker", "create_app", "intake_credentials", "replay_spool", "run_server"]

REPLAY_WINDOW_S = 300
log = logging.getLogger("irflow.server")


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
        try:
            items = split(path.read_bytes(), max_bytes=rt.settings.max_batch_bytes,
                          max_item_bytes=rt.settings.max_alert_bytes)
            report = intake.ingest(rt.db, rt.settings, items, source=source, via="spool")
        except (BodyError, SQLAlchemyError) as exc:
            # One body that cannot be stored must not keep `irflow serve` from starting: it is kept aside,
            # named in the log, for a person to look at.
            kept = spool.set_aside(path)
            log.error("spooled batch %s could not be replayed (%s); kept as %s", path.name, type(exc).__name__,
                      kept.name)
            continue
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
