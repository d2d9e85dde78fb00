"""A loopback Slack Web API over real HTTP, so slack_sdk is tested against something that behaves like Slack.

Like Slack: Bearer auth failures as HTTP 200 + ``ok: false``, 404 ``unknown_method``, each method's documented
error codes, unique channel names, cursor pagination returning fewer rows than asked; switches for 429 +
Retry-After, 5xx, stalls and any ``ok: false``. Success bodies carry the keys of ../shared/specs/slack/samples
when present, else minimal built-in shapes. Members, threads, ephemeral messages, bookmarks, users (by email)
and user groups are modelled too: posting needs the bot in the channel, an invite fails as a whole when one
invitee does (listing per-user ``errors``), ephemeral messages go only to members. Use: ``with SlackServer() as slack: WebClient(token=slack.token,
base_url=slack.url)``.

The workspace model (channels, messages, body shapes) is in slack_server_model.py and the Web API methods in
slack_server_state.py; this module serves them over HTTP and re-exports their names.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.contract.slack_server_model import (
    ERROR_ONLY_KEYS,
    IDENTITY,
    NAME_CHARS,
    Args,
    Channel,
    Message,
    Shaper,
    SlackError,
    message_json,
)
from tests.contract.slack_server_state import SlackState
from tests.contract.slack_socket_server import SocketModeServer

__all__ = [
    "DEFAULT_APP_TOKEN", "DEFAULT_TOKEN", "ERROR_ONLY_KEYS", "IDENTITY", "NAME_CHARS", "SAMPLES_DIR", "SHARED",
    "Answer", "Args", "Channel", "Fault", "Message", "RecordedRequest", "Shaper", "SlackError", "SlackServer",
    "SlackState", "message_json",
]

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
SAMPLES_DIR = SHARED / "specs" / "slack" / "samples"
DEFAULT_TOKEN = "xoxb-loopback-1234567890-abcdefghij"
DEFAULT_APP_TOKEN = "xapp-1-A0LOOPBACK-1234567890-abcdef0123456789"
Answer = tuple[int, dict[str, str], bytes]


@dataclass(frozen=True)
class RecordedRequest:
    http_method: str
    api_method: str
    headers: dict[str, str]
    body: Args
    status: int
    error: str | None


@dataclass
class Fault:
    remaining: int
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    method: str | None = None


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


def _parse_body(content_type: str, raw: bytes) -> Args:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise SlackError("invalid_json") from None
        if not isinstance(parsed, dict):
            raise SlackError("invalid_json")
        return parsed
    if content_type.startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    raise SlackError("invalid_form_data")


class SlackServer:
    """The Slack Web API on 127.0.0.1:<random port>, in a background thread; use it as a context manager."""

    def __init__(
        self, token: str = DEFAULT_TOKEN, *, page_size: int = 2, samples_dir: Path | None = SAMPLES_DIR,
        socket: SocketModeServer | None = None, app_token: str = DEFAULT_APP_TOKEN,
    ) -> None:
        self.token, self.app_token, self.socket = token, app_token, socket
        self.shaper = Shaper(samples_dir)
        self.state = SlackState(self.shaper, page_size)
        self.requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/"

    def start(self) -> SlackServer:
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        # A short poll keeps stop() (which waits one poll) from adding half a second to every test.
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), name="slack-loopback", daemon=True).start()
        if self.socket is not None:
            self.socket.start()
        return self

    def stop(self) -> None:
        if self.socket is not None:
            self.socket.stop()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SlackServer:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def fail_next(self, n: int, *, status: int = 200, error: str | None = None, retry_after: int | None = None,
                  delay: float = 0.0, method: str | None = None) -> None:
        """Answer the next `n` calls (of `method`, or of any method) with this failure instead."""
        with self._lock:
            self._faults.append(Fault(n, status, error, retry_after, delay, method))

    def rate_limit_next(self, n: int, *, retry_after: int = 1, method: str | None = None) -> None:
        self.fail_next(n, status=429, error="ratelimited", retry_after=retry_after, method=method)

    def calls(self, api_method: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.api_method == api_method]

    def handle(self, http_method: str, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        """One HTTP exchange: returns status, extra headers and body; records the request."""
        url = urlsplit(path)
        method = url.path.removeprefix("/api/") if url.path.startswith("/api/") else ""
        body: Args = dict(parse_qsl(url.query, keep_blank_values=True))
        extra: dict[str, str] = {}
        try:
            status, extra, payload = self._answer(http_method, method, headers, body, raw)
        except SlackError as exc:
            status, payload = exc.status, {"ok": False, "error": exc.code, **exc.extra}
        with self._lock:
            error = payload.get("error") if isinstance(payload, dict) and not payload.get("ok") else None
            self.requests.append(RecordedRequest(http_method, method, headers, body, status, error))
        if isinstance(payload, bytes):
            return status, {"Content-Type": "text/html", **extra}, payload
        return status, {"Content-Type": "application/json; charset=utf-8", **extra}, json.dumps(payload).encode()

    def _answer(self, http_method: str, method: str, headers: dict[str, str], body: Args,
                raw: bytes) -> tuple[int, dict[str, str], Args | bytes]:
        if http_method == "POST":
            body.update(_parse_body(_header(headers, "Content-Type"), raw))
        with self._lock:
            fault = self._take_fault(method)
        if fault is not None:
            status, extra, payload = self._fault_answer(fault)
            if payload is not None:
                return status, extra, payload
        return 200, {}, self._dispatch(method, headers, body)

    def _dispatch(self, method: str, headers: dict[str, str], body: Args) -> Args:
        if method == "apps.connections.open" and self.socket is not None:
            return self._connections_open(headers, body)
        handler = self.state.routes().get(method)
        if handler is None:  # also every real method this server does not implement: add it when a client needs it
            raise SlackError("unknown_method", status=404)
        self._check_token(headers, body)
        with self._lock:
            return self.shaper.shape(method, handler(body))

    def _connections_open(self, headers: dict[str, str], body: Args) -> Args:
        """Socket Mode's handshake: only the app-level token may ask; a bot token is the wrong type."""
        assert self.socket is not None
        auth = _header(headers, "Authorization")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(body.pop("token", ""))
        if not token:
            raise SlackError("not_authed")
        if token == self.token:
            raise SlackError("not_allowed_token_type")
        if token != self.app_token:
            raise SlackError("invalid_auth")
        return {"ok": True, "url": self.socket.issue_url()}

    def _check_token(self, headers: dict[str, str], body: Args) -> None:
        auth = _header(headers, "Authorization")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else str(body.pop("token", ""))
        if not token:
            raise SlackError("not_authed")
        if token != self.token:
            raise SlackError("invalid_auth")

    def _take_fault(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.method in (None, method):
                fault.remaining -= 1
                return fault
        return None

    @staticmethod
    def _fault_answer(fault: Fault) -> tuple[int, dict[str, str], Args | bytes | None]:
        time.sleep(fault.delay)
        extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.status >= 500:
            return fault.status, extra, b"<html><body><h1>Slack is having trouble</h1></body></html>"
        if fault.error is None:
            return fault.status, extra, None  # a stall only: answer normally afterwards
        return fault.status, extra, {"ok": False, "error": fault.error}


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is part of what we test, not a server bug


def _handler_for(server: SlackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers, body = server.handle(self.command, self.path, dict(self.headers.items()), raw)
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
