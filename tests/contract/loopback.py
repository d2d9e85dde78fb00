"""What every loopback vendor server in tests/contract shares, so that each vendor's file holds only what
makes that vendor itself: its routes, error bodies, pagination style and auth scheme.

The contract tests drive real client libraries over real HTTP; these pieces are the parts of "a vendor on
127.0.0.1" that do not depend on the vendor:

- `LoopbackServer`: a ThreadingHTTPServer on 127.0.0.1 in a daemon thread, `with server:` or
  `start()` / `stop()` (a restart binds the same port again: the vendor back after an outage), a request
  log, and fault injection (`fail_next`, `delay_next`) that a vendor answers in its own error shape.
- `Request` (one request as it arrived) and `Seen` (what the log keeps of it, for "no write" and "no
  secret on the wire" checks).
- `Reply`: status, body, extra headers. A body of None is sent empty, a `Text` as it is, anything else as JSON.
  `DROP` as the status hangs up without answering: the request was processed, the answer was lost.
- `Routes`: path templates ("/users/{id}", "/key/{key:path}/regenerate") to {method: handler}. What an
  unknown path or a wrong method answers stays the vendor's business.
- `read_json`, `bearer_token`, `id_cursor_page`: details that more than one vendor shares.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Generic, Protocol, Self, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

Reply = tuple[int, Any, dict[str, str]]
"""Status, body (None: empty; `Text`: sent as it is; anything else: JSON) and extra headers."""
DROP: Final = -1
"""A reply status meaning: close the connection without answering."""
INVALID_JSON: Final = object()
"""What `read_json` gives for a body that is not JSON, so that each vendor can word its own refusal."""
_PARAM = re.compile(r"\{(\w+)(:path)?\}")


@dataclass(frozen=True)
class Text:
    """A body that is not JSON, e.g. the HTML error page a web framework answers an unknown path with."""

    content: str
    content_type: str = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Request:
    """One request as it reached the server; `headers` look names up case-insensitively."""

    method: str
    target: str
    headers: Message
    raw: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        """The query string, the last value of a repeated name winning."""
        return dict(parse_qsl(urlsplit(self.target).query))

    @property
    def authorization(self) -> str | None:
        return self.headers.get("Authorization")


@dataclass(frozen=True)
class Seen:
    """One request as the log keeps it: what a test checks for "no write" and "no secret on the wire"."""

    method: str
    target: str
    body: str
    authorization: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @classmethod
    def of(cls, request: Request) -> Seen:
        return cls(request.method, request.target, request.raw.decode(errors="replace"), request.authorization)


@dataclass(frozen=True)
class Fault:
    """An answer queued by `fail_next`; `scope` says which part of a vendor it is for ("" for any)."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    scope: str = ""


class Logged(Protocol):
    """What `LoopbackServer.writes` needs of a log entry."""

    @property
    def method(self) -> str: ...


class Paged(Protocol):
    """What `id_cursor_page` needs of an item."""

    @property
    def id(self) -> str: ...

    def record(self) -> dict[str, Any]: ...


E = TypeVar("E", bound=Logged)
H = TypeVar("H")


class LoopbackServer(Generic[E]):
    """A vendor on 127.0.0.1: server thread, request log, faults. Subclasses answer in their vendor's words.

    The default `handle` waits out a `delay_next`, logs the request, then answers it with a queued fault
    (`fault_reply`) or the vendor's own answer (`answer`); a vendor whose order differs overrides `handle`.
    """

    json_type = "application/json"

    def __init__(self, record: Callable[[Request], E]) -> None:
        self.requests: list[E] = []
        self._record = record
        self._faults: list[Fault] = []
        self._delays: list[float] = []
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._httpd: _Httpd | None = _Httpd(self, port=0)  # bound now: `url` is known before the server starts
        self._port = self._httpd.server_address[1]

    # --- lifecycle ----------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> Self:
        """Serve; after a `stop()`, on the same port again (the vendor back after an outage)."""
        if self._thread is not None:
            return self
        if self._httpd is None:
            self._httpd = _Httpd(self, self._port)
        # A short poll keeps shutdown (and so every test's teardown) from waiting out the default 0.5 s.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name=f"{type(self).__name__}-loopback", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        if self._thread is not None:
            self._httpd.shutdown()  # only a serving server can be shut down: it waits for the loop to end
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()
        self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- switches -----------------------------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None, *,
                  retry_after: str | None = None) -> None:
        """The next `times` requests get `status` (429 with Retry-After, 401, 5xx) before any routing."""
        self.queue_faults(Fault(status, fault_headers(retry_after, headers)), times)

    def queue_faults(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def writes(self) -> list[E]:
        return [seen for seen in self.requests if seen.method != "GET"]

    # --- the request pipeline -----------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Answer one request: a delay, the log, then a queued fault or the vendor's answer."""
        self.wait()
        with self._lock:
            self.log(request)
            fault = self.take_fault(self.fault_scope(request))
            return self.fault_reply(fault) if fault is not None else self.answer(request)

    def wait(self) -> None:
        """Sleep out the next `delay_next`, outside the lock so that other requests go on meanwhile."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)

    def log(self, request: Request) -> E:
        entry = self._record(request)
        with self._lock:
            self.requests.append(entry)
        return entry

    def take_fault(self, scope: str = "") -> Fault | None:
        """The next queued fault if it is for `scope`; faults for another scope wait their turn."""
        with self._lock:
            if self._faults and self._faults[0].scope == scope:
                return self._faults.pop(0)
        return None

    def fault_scope(self, request: Request) -> str:
        """Which queued faults this request may take; one scope unless the vendor has several services."""
        return ""

    def fault_reply(self, fault: Fault) -> Reply:
        raise NotImplementedError(f"{type(self).__name__} answers no injected faults")

    def answer(self, request: Request) -> Reply:
        raise NotImplementedError(f"{type(self).__name__} overrides handle() instead")

    def encode(self, body: Any) -> tuple[bytes, str | None]:
        """The bytes on the wire and their Content-Type (None for an empty body)."""
        if body is None:
            return b"", None
        if isinstance(body, Text):
            return body.content.encode(), body.content_type
        return json.dumps(body).encode(), self.json_type


class Routes(dict[str, dict[str, H]]):
    """Path template -> {method: handler}. A plain dict, so a test can swap one route's handlers.

    `{name}` matches one path segment, `{name:path}` anything (Starlette's convertor). An exact path wins
    over templates; templates are tried in the order they were given.
    """

    def find(self, path: str) -> tuple[str, dict[str, H], dict[str, str]] | None:
        """The matching template, its handlers by method, and the path parameters; None when nothing matches."""
        if path in self:
            return path, self[path], {}
        for template, methods in self.items():
            match = _pattern(template).fullmatch(path)
            if match:
                return template, methods, match.groupdict()
        return None


@functools.cache
def _pattern(template: str) -> re.Pattern[str]:
    regex, end = "", 0
    for param in _PARAM.finditer(template):
        regex += re.escape(template[end:param.start()]) + f"(?P<{param[1]}>{'.*' if param[2] else '[^/]+'})"
        end = param.end()
    return re.compile(regex + re.escape(template[end:]))


def fault_headers(retry_after: str | None, headers: Mapping[str, str] | None = None) -> dict[str, str]:
    return ({"Retry-After": retry_after} if retry_after is not None else {}) | dict(headers or {})


def read_json(raw: bytes) -> Any:
    """The body as JSON: None when empty, `INVALID_JSON` when it does not parse."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return INVALID_JSON


def bearer_token(authorization: str | None) -> str:
    """The credential of an `Authorization: Bearer ...` header; "" when there is none."""
    return (authorization or "").removeprefix("Bearer ").strip()


def id_cursor_page(items: Sequence[Paged], after: str | None, limit: int) -> dict[str, Any]:
    """A page continuing after the item whose id is `after` (an unknown id: an empty page), as the OpenAI
    and Anthropic admin APIs page: {"data", "first_id", "last_id", "has_more"}."""
    start = next((i + 1 for i, item in enumerate(items) if item.id == after), len(items)) if after else 0
    page = items[start:start + limit]
    return {"data": [item.record() for item in page], "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None, "has_more": start + len(page) < len(items)}


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, loopback: LoopbackServer[Any], port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.loopback = loopback


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        loopback = cast(_Httpd, self.server).loopback
        status, body, headers = loopback.handle(Request(self.command, self.path, self.headers, raw))
        if status == DROP:  # processed, never answered: the client sees the connection close
            self.close_connection = True
            return
        data, content_type = loopback.encode(body)
        self.send_response(status)
        for name, value in (({"Content-Type": content_type} if content_type else {}) | headers).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out first (delay_next): nothing left to answer

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
