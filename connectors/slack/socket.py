"""Slack's Socket Mode: Slack delivers button presses and slash commands over a WebSocket irflow opens.

For SOCs that cannot expose an HTTPS endpoint to Slack. The app-level token (`xapp-…`) asks
`apps.connections.open` for a single-use WebSocket URL; slack_sdk's built-in client keeps the connection
alive (pings, reconnects on `disconnect` and on drops). Each request arrives as an envelope that must be
acknowledged within three seconds, so `SocketModeInbox` acknowledges every envelope — once, even when Slack
redelivers it after a reconnect — with whatever the handler returns, and the handler only parses and queues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from irflow.connectors.errors import ConfigError
from irflow.connectors.slack.client import translated
from irflow.connectors.slack.seen import SeenWithin
from irflow.connectors.slack.settings import SlackSettings

SYSTEM = "slack"
ENVELOPE_MEMORY_S = 600
"""Slack redelivers an envelope it did not see acknowledged (say, across a reconnect); ten minutes of
remembered ids covers that, and a redelivered one is acknowledged again but handled only once."""

Handler = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""(envelope type, payload) -> the acknowledgement's payload (a slash command's reply) or None."""

log = logging.getLogger("irflow.slack.socket")


def probe(settings: SlackSettings) -> str:
    """Ask `apps.connections.open` once: proves the app token is valid and Socket Mode is on (`irflow doctor`).

    Returns the app id Slack put in the URL's query, or "" when it left it out; the URL itself (a single-use
    ticket) is not returned so that nobody logs it.
    """
    if settings.app_token is None:
        raise ConfigError("SLACK_APP_TOKEN is not set", system=SYSTEM)
    with translated():
        url = str(_web(settings).apps_connections_open(app_token=settings.app_token.get_secret_value())["url"])
    return dict(parse_qsl(urlsplit(url).query)).get("app_id", "")


def _web(settings: SlackSettings) -> WebClient:
    """A Web API client without a token: apps.connections.open takes the app-level token per call."""
    return WebClient(base_url=settings.api_url, timeout=settings.timeout)


class SocketModeInbox:
    """One Socket Mode connection for the process; `start` connects, `close` stops and joins its threads."""

    def __init__(self, settings: SlackSettings, handler: Handler, *, ping_interval: float = 5) -> None:
        """Build the slack_sdk client without connecting.

        Args:
            settings: Must carry the app-level token (SLACK_APP_TOKEN); the bot token is not used here.
            handler: Called on slack_sdk's worker threads for every new envelope; must return fast.
            ping_interval: Seconds between pings; a connection silent for four intervals is replaced.
        """
        if settings.app_token is None:
            raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token", system=SYSTEM)
        self._handler, self._seen = handler, SeenWithin(ENVELOPE_MEMORY_S)
        self._client = SocketModeClient(app_token=settings.app_token.get_secret_value(), web_client=_web(settings),
                                        logger=log, ping_interval=ping_interval, concurrency=4)
        self._client.socket_mode_request_listeners.append(self._on_request)

    def open_url(self) -> str:
        """A fresh single-use connection URL (slack_sdk sleeps through a 429's Retry-After itself)."""
        with translated():
            return str(self._client.issue_new_wss_url())

    def start(self) -> bool:
        """Connect now; True when the WebSocket is up.

        A bad app token or an unreachable Slack raises (typed) before anything runs in the background. Once
        this returns, slack_sdk's monitor thread replaces a failed, dropped or stale connection every
        `ping_interval` by itself, so False only means "not yet".
        """
        self._client.wss_uri = self.open_url()
        self._client.connect()  # slack_sdk logs and swallows handshake failures; its monitor retries them
        return self.connected()

    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def close(self) -> None:
        self._client.close()

    def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        payload: dict[str, Any] | None = None
        if self._seen.first_use(request.envelope_id, time.monotonic()):
            try:
                payload = self._handler(request.type, dict(request.payload or {}))
            except Exception:  # the envelope is still acknowledged, or Slack retries it and shows an error
                log.exception("Socket Mode %s envelope could not be handled", request.type)
        else:
            log.info("Socket Mode envelope %s delivered again; acknowledged, not handled twice", request.envelope_id)
        try:
            client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=payload))
        except (OSError, SlackClientError) as exc:
            log.warning("could not acknowledge Socket Mode envelope %s: %s", request.envelope_id, type(exc).__name__)
