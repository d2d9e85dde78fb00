"""An alert answered 202 is committed: `irflow serve` is killed with SIGKILL right after a 202, while other
clients still have single alerts and NDJSON batches in flight, and a fresh process then finds every
acknowledged alert in the database, and every batch either whole or absent (never half-stored)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from irflow.prefect_server import free_port
from tests.integration.procs import IRFLOW, wait_http

pytestmark = pytest.mark.integration

TOKEN = "durability-token"
BATCH = 50
KILL_AFTER = 300
"""Acknowledged single alerts before the kill: enough that the writer is busy grouping commits."""


def _alert(vendor_id: str, n: int) -> dict[str, object]:
    return {"id": vendor_id, "title": "durability", "category": "prompt_injection", "severity": "high",
            "actor": {"user": f"user-{n % 7}"}, "evidence": "ignore previous instructions"}


class _Load:
    """Clients that post until the server dies, recording what was acknowledged."""

    def __init__(self, port: int, server: subprocess.Popen[bytes]) -> None:
        self.port, self.server = port, server
        self.acked: set[str] = set()
        self.batches: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        self.killed = threading.Event()
        self.unexpected: list[int] = []

    def _post(self, conn: http.client.HTTPConnection, body: bytes) -> int:
        conn.request("POST", "/v1/alerts", body=body,
                     headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"})
        answer = conn.getresponse()
        answer.read()
        return answer.status

    def singles(self, client: int, killer: bool) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for n in range(100_000):  # bounded; the kill ends it long before
            vendor_id = f"single-{client}-{n}"
            try:
                status = self._post(conn, json.dumps(_alert(vendor_id, n)).encode())
            except (OSError, http.client.HTTPException):
                return
            if status != 202:
                self.unexpected.append(status)
                return
            with self.lock:
                self.acked.add(vendor_id)
                if killer and len(self.acked) >= KILL_AFTER and not self.killed.is_set():
                    os.kill(self.server.pid, signal.SIGKILL)  # right after this 202, others in flight
                    self.killed.set()
            if self.killed.is_set():
                return

    def batches_(self, client: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        for n in range(10_000):
            ids = [f"batch-{client}-{n}-{i}" for i in range(BATCH)]
            with self.lock:
                self.batches[f"{client}-{n}"] = ids
            body = "\n".join(json.dumps(_alert(vendor_id, i)) for i, vendor_id in enumerate(ids)).encode()
            try:
                status = self._post(conn, body)
            except (OSError, http.client.HTTPException):
                return
            if status != 202:
                self.unexpected.append(status)
                return
            with self.lock:
                self.acked.update(ids)
            if self.killed.is_set():
                return


def _stored_vendor_ids(db: Path) -> set[str]:
    """Read by a fresh process with nothing but sqlite3, as a restarted server would find the file."""
    code = ("import json, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "print(json.dumps([r[0] for r in c.execute('SELECT vendor_id FROM alerts')]))")
    out = subprocess.run([sys.executable, "-c", code, str(db)], capture_output=True, text=True, check=True, timeout=120)
    return set(json.loads(out.stdout))


def test_every_acknowledged_alert_survives_kill_9(tmp_path: Path, prefect_api: str) -> None:
    home, port = tmp_path / "home", free_port()
    env = os.environ | {"IRFLOW_HOME": str(home), "IRFLOW_INTAKE_TOKEN": TOKEN, "PREFECT_API_URL": prefect_api}
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen([IRFLOW, "serve", "--port", str(port)], env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", server)
        load = _Load(port, server)
        threads = [threading.Thread(target=load.singles, args=(c, c == 0)) for c in range(6)]
        threads += [threading.Thread(target=load.batches_, args=(c,)) for c in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=600)
        assert load.unexpected == [] and load.killed.is_set(), (tmp_path / "serve.log").read_text()[-2000:]
        assert server.wait(timeout=60) == -signal.SIGKILL
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=60)

    stored = _stored_vendor_ids(home / "irflow.db")
    lost = load.acked - stored
    assert not lost, f"{len(lost)} acknowledged alerts lost, e.g. {sorted(lost)[:5]}"
    assert len(load.acked) >= KILL_AFTER
    for name, ids in load.batches.items():
        present = len(stored.intersection(ids))
        assert present in (0, len(ids)), f"batch {name} half-stored: {present} of {len(ids)}"
