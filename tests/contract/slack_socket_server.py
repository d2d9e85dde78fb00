"""Slack's Socket Mode side over a real WebSocket, for the loopback Slack in slack_server.py.

Like Slack: `apps.connections.open` (answered by SlackServer with the app-level token only) hands out a
single-use `…/link/?ticket=…&app_id=…` URL; a connection with an unknown or used ticket is refused; each new
connection gets `hello`; requests arrive as envelopes (`slash_commands`, `interactive`, `events_api`) that
the app acknowledges with `{"envelope_id", "payload"?}`; `disconnect` (reason `refresh_requested`) asks the
app to reconnect, after which the old connection is closed. Unacknowledged envelopes can be delivered again
on the next connection, as Slack does. Use: ``SlackServer(socket=SocketModeServer())``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

APP_ID = "A0LOOPBACK"
Args = dict[str, Any]


@dataclass
class Ack:
    envelope_id: str
    payload: Args | None
    at: float


@dataclass
class Link:
    """One accepted WebSocket connection."""

    ticket: str
    conn: ServerConnection
    opened_at: float = field(default_factory=time.monotonic)


class SocketModeServer:
    """The WebSocket endpoint of Socket Mode on 127.0.0.1:<random port>."""

    def __init__(self) -> None:
        self.acks: list[Ack] = []
        self.sent: dict[str, Args] = {}
        self.links: list[Link] = []
        self.refused: list[str] = []
        self._tickets: set[str] = set()
        self._cond = threading.Condition()
        self._server: Server | None = None

    # --- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> SocketModeServer:
        self._server = serve(self._serve, "127.0.0.1", 0, compression=None, ping_interval=None)
        threading.Thread(target=self._server.serve_forever, name="slack-socket-loopback", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def issue_url(self) -> str:
        """What apps.connections.open answers: a fresh ticket, good for one connection."""
        assert self._server is not None, "socket server not started"
        ticket = uuid.uuid4().hex
        with self._cond:
            self._tickets.add(ticket)
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={APP_ID}"

    # --- what tests do -----------------------------------------------------------------------------------------

    def send(self, kind: str, payload: Args, *, envelope_id: str | None = None, timeout: float = 10) -> str:
        """Deliver an envelope on the newest open connection (waiting for one); returns its envelope id."""
        envelope_id = envelope_id or uuid.uuid4().hex
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind == "slash_commands"}
        if kind == "events_api":
            envelope |= {"retry_attempt": 0, "retry_reason": ""}
        self.sent[envelope_id] = envelope
        self.wait_connected(1, timeout=timeout).conn.send(json.dumps(envelope))
        return envelope_id

    def ack_for(self, envelope_id: str, timeout: float = 10) -> Ack:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [a for a in self.acks if a.envelope_id == envelope_id]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                assert left > 0, f"envelope {envelope_id} was not acknowledged within {timeout} s"
                self._cond.wait(left)

    def acks_of(self, envelope_id: str) -> list[Ack]:
        with self._cond:
            return [a for a in self.acks if a.envelope_id == envelope_id]

    def wait_connected(self, count: int, timeout: float = 10) -> Link:
        """Wait until `count` connections have been accepted in all; return the newest still open."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                open_links = [link for link in self.links if _is_open(link.conn)]
                if len(self.links) >= count and open_links:
                    return open_links[-1]
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.links)} connection(s) after {timeout} s, wanted {count} and one open"
                self._cond.wait(min(left, 0.05))

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect (as Slack does every few hours), then close the old connection."""
        link = self.wait_connected(1)
        link.conn.send(json.dumps({"type": "disconnect", "reason": reason,
                                   "debug_info": {"host": "applink-loopback"}}))
        threading.Timer(0.5, link.conn.close).start()

    def drop(self) -> None:
        """Close the newest connection without a word, as a network failure would."""
        self.wait_connected(1).conn.close()

    # --- the WebSocket side ------------------------------------------------------------------------------------

    def _serve(self, conn: ServerConnection) -> None:
        assert conn.request is not None
        url = urlsplit(conn.request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._cond:
            valid = url.path.rstrip("/") == "/link" and ticket in self._tickets
            self._tickets.discard(ticket)
            if not valid:
                self.refused.append(conn.request.path)
            else:
                self.links.append(Link(ticket, conn))
            self._cond.notify_all()
        if not valid:
            conn.close(code=1008, reason="invalid ticket")
            return
        conn.send(json.dumps({"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID},
                              "debug_info": {"host": "applink-loopback", "build_number": 1,
                                             "approximate_connection_time": 18060}}))
        self._receive(conn)

    def _receive(self, conn: ServerConnection) -> None:
        try:
            for raw in conn:
                message = json.loads(raw)
                with self._cond:
                    self.acks.append(Ack(str(message.get("envelope_id")), message.get("payload"), time.monotonic()))
                    self._cond.notify_all()
        except (ConnectionClosed, json.JSONDecodeError):
            return


def _is_open(conn: ServerConnection) -> bool:
    from websockets.protocol import State

    return conn.state is State.OPEN
