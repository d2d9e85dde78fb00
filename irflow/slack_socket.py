"""Slack over Socket Mode: the same buttons and `/irflow` commands as the HTTPS endpoints, for SOCs that
cannot let Slack reach `irflow serve`.

With SLACK_APP_TOKEN set, `irflow serve` opens the WebSocket itself (connectors/slack/socket.py). Each
envelope is handled exactly like the matching HTTPS request (irflow.slack_app's `accept_command` and
`accept_actions`): parsed at once, acknowledged (a command's acknowledgement carries its ephemeral reply),
and the work queued on the worker thread. There is no signature to check: the connection was opened by us
with the app-level token over TLS, so what arrives on it comes from Slack.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from irflow import slack_app
from irflow.connectors.errors import AuthError, ConfigError, ConnectorError
from irflow.connectors.slack.socket import Handler, SocketModeInbox
from irflow.redaction import trusted
from irflow.runtime import Runtime

log = logging.getLogger("irflow.slack.socket")
RETRY_S = (1.0, 2.0, 5.0, 15.0, 30.0, 60.0)
"""Waits between attempts to open the first connection while Slack is unreachable; the last one repeats."""


Submit = Callable[[slack_app.Job], None]
UNAVAILABLE = trusted("irflow could not take that command just now (its database did not answer); try again.")


def handler(rt: Runtime, submit: Submit) -> Handler:
    """What each envelope type asks for; returns the acknowledgement's payload."""

    def handle(kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        try:
            if kind == "slash_commands":
                reply, job = slack_app.accept_command(rt, payload)
                if job is not None:
                    submit(job)
                return slack_app.ephemeral(reply)
            if kind == "interactive":
                for job in slack_app.accept_actions(rt, payload):
                    submit(job)
                return None
        except slack_app.PayloadError as exc:
            log.warning("refused a Socket Mode %s envelope: %s", kind, exc)
            return None
        except SQLAlchemyError:  # the store is busy or down: say so in the acknowledgement rather than nothing
            log.exception("Socket Mode %s envelope could not be taken", kind)
            return slack_app.ephemeral(UNAVAILABLE) if kind == "slash_commands" else None
        log.info("ignored a Socket Mode %s envelope (irflow subscribes to no events)", kind)
        return None

    return handle


class SocketMode:
    """Opens the connection in the background (so intake never waits on Slack) and closes it on shutdown."""

    def __init__(self, rt: Runtime, submit: Submit, *, retry_s: tuple[float, ...] = RETRY_S) -> None:
        self._inbox = SocketModeInbox(rt.systems.chat.settings, handler(rt, submit))
        self._retry_s, self._stop = retry_s, threading.Event()
        self._thread = threading.Thread(target=self._connect, name="irflow-slack-socket", daemon=True)
        self._lock, self._closed = threading.Lock(), False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Close the connection; a connect still under way when this gives up waiting is closed as it ends."""
        self._stop.set()
        self._thread.join(timeout=10)
        self._close()

    def _close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._inbox.close()

    def _connect(self) -> None:
        try:
            self._connect_until_up()
        finally:
            if self._stop.is_set():  # stop() came while connecting: nothing may stay connected after it
                self._close()

    def _connect_until_up(self) -> None:
        for attempt in itertools.count():
            try:
                up = self._inbox.start()
            except (AuthError, ConfigError) as exc:
                log.error("Slack Socket Mode cannot connect: %s (check SLACK_APP_TOKEN and that Socket Mode "
                          "is on in the app settings; `irflow doctor` probes it). Not retrying.", exc)
                return
            except ConnectorError as exc:
                wait = self._retry_s[min(attempt, len(self._retry_s) - 1)]
                log.warning("Slack Socket Mode: %s; trying again in %.0f s", exc, wait)
                if self._stop.wait(wait):
                    return
                continue
            log.info("Slack Socket Mode %s", "connected" if up else "connecting (slack_sdk keeps retrying)")
            return


def start_if_configured(rt: Runtime, submit: Submit) -> SocketMode | None:
    """`irflow serve` calls this: Socket Mode runs only when Slack is real and SLACK_APP_TOKEN is set."""
    settings = rt.systems.chat.settings
    if not (settings.configured() and settings.socket_mode):
        return None
    socket_mode = SocketMode(rt, submit)
    socket_mode.start()
    return socket_mode
