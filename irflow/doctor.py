"""`irflow doctor`: for every system, say whether it is the local twin, real and reachable, or broken."""

from __future__ import annotations

from collections.abc import Callable

from irflow.connectors.errors import ConnectorError
from irflow.connectors.slack.settings import SlackSettings
from irflow.runtime import Runtime
from irflow.store.engine import current_revision


def _probe(name: str, check: Callable[[], object]) -> tuple[str, str, str]:
    try:
        check()
    except ConnectorError as exc:
        return name, "error", str(exc)
    return name, "real, reachable", ""


def run_checks(rt: Runtime) -> list[tuple[str, str, str]]:
    rows = [("database", "ok", f"{rt.db.engine.url.render_as_string(hide_password=True)} "
             f"(schema {current_revision(rt.db.engine)})")]
    try:
        systems = rt.systems
    except ConnectorError as exc:
        return rows + [("config", "error", str(exc))]
    rows.append(("playbooks", "ok", f"{len(rt.playbooks)} loaded"))
    probes: dict[str, Callable[[], object]] = {
        "slack": lambda: systems.chat.auth_test(),  # type: ignore[attr-defined]
        "jira": lambda: systems.tickets.server_info(),  # type: ignore[attr-defined]
        "litellm": lambda: systems.keys["litellm"].health(),  # type: ignore[attr-defined]
    }
    for status in systems.statuses:
        if status.mode != "real":
            rows.append((status.name, "local twin", "set its env vars to use the real system"))
        elif status.name in probes:
            rows.append(_probe(status.name, probes[status.name]))
        else:
            rows.append((status.name, "real, not probed", f"{status.detail} (no reachability check yet)"))
    if systems.chat.settings.configured() and systems.chat.settings.socket_mode:
        rows.append(_probe_socket_mode(systems.chat.settings))
    return rows


def _probe_socket_mode(settings: SlackSettings) -> tuple[str, str, str]:
    """SLACK_APP_TOKEN: can irflow open a Socket Mode connection (valid app token, Socket Mode on)?"""
    from irflow.connectors.slack.socket import probe

    try:
        app_id = probe(settings)
    except ConnectorError as exc:
        return "slack socket mode", "error", str(exc)
    return "slack socket mode", "real, reachable", f"app {app_id}" if app_id else ""
