"""Start and own a Prefect API server under IRFLOW_HOME when PREFECT_API_URL is not set.

`irflow serve` is long-running, so it gets a real server (and the Prefect UI for analysts) rather than
Prefect's ephemeral per-process one. Must run before prefect is imported: Prefect reads its settings then.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from irflow.settings import IrflowSettings


class PrefectServerError(RuntimeError):
    pass


@dataclass
class PrefectServer:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(prefect_home: Path, port: int | None = None, timeout_s: float = 90, services: bool = True) -> PrefectServer:
    port = port or free_port()
    prefect_home.mkdir(parents=True, exist_ok=True)
    log = prefect_home / "server.log"
    env = os.environ | {"PREFECT_HOME": str(prefect_home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    prefect_bin = Path(sys.executable).with_name("prefect")
    cmd = [str(prefect_bin), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    if not services:
        cmd.append("--no-services")
    with log.open("ab") as sink:
        process = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = PrefectServer(process, f"http://127.0.0.1:{port}/api", log)
    _wait_healthy(server, timeout_s)
    return server


def _wait_healthy(server: PrefectServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise PrefectServerError(f"prefect server exited with {server.process.returncode}; see {server.log}")
        try:
            if requests.get(f"{server.url}/health", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    raise PrefectServerError(f"prefect server did not become healthy in {timeout_s:.0f}s; see {server.log}")


def ensure_prefect_server(settings: IrflowSettings) -> PrefectServer | None:
    """Use PREFECT_API_URL when set; otherwise start a server and point this process at it."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    server = start(settings.prefect_home)
    os.environ["PREFECT_API_URL"] = server.url
    return server
