"""Intake throughput over TCP, from a separate load-generating process, against a real `irflow serve`.

    .venv/bin/python bench/intake.py [--seconds 10] [--clients 8] [--batch 1000] [--payload native|litellm-telemetry]

Phase 1 sends single-alert POSTs from `--clients` keep-alive connections; phase 2 sends NDJSON batches of
`--batch` alerts. Every alert has a unique vendor id (nothing is deduplicated away) and comes from one of
ten actors (so the storm collapses into ten incidents, as in production). An alert counts only when the
answer is 202, i.e. after its commit. The bars (issue: intake) are >= 1,000 single POSTs/s and >= 10,000
alerts/s in batches, durable. Loops are bounded in time and count; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

TOKEN = "bench-token"
MAX_REQUESTS = 2_000_000


TELEMETRY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "litellm" / "ignored_success.json"


def _alert(n: int, run: str) -> dict[str, object]:
    return {"id": f"{run}-{n}", "title": "bench", "category": "prompt_injection", "severity": "high",
            "actor": {"user": f"bench-user-{n % 10}"}, "evidence": "ignore previous instructions"}


def _telemetry(n: int, run: str) -> dict[str, object]:
    """A call LiteLLM logged without a guardrail flagging it: ignored, but counted by the volume detectors."""
    call = _template()
    meta = dict(call["metadata"])  # type: ignore[call-overload] | {"user_api_key_hash": f"{run}-key-{n % 10}", "user_api_key_end_user_id": None}
    return call | {"id": f"{run}-{n}", "startTime": time.time(), "end_user": f"bench-user-{n % 100}",
                   "metadata": meta, "total_tokens": 300, "response_cost": 0.0004}


@functools.cache
def _template() -> dict[str, object]:
    return dict(json.loads(TELEMETRY.read_text()))


PAYLOADS = {"native": _alert, "litellm-telemetry": _telemetry}


def _client(port: int, seconds: float, batch: int, run: str, offset: int, out: list[tuple[int, float]],
            payload: str = "native") -> None:
    make = PAYLOADS[payload]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    deadline, n = time.monotonic() + seconds, offset
    while time.monotonic() < deadline and n - offset < MAX_REQUESTS:
        body = "\n".join(json.dumps(make(n + i, run)) for i in range(batch)).encode()
        started = time.perf_counter()
        conn.request("POST", "/v1/alerts", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        out.append((batch if answer.status == 202 else 0, time.perf_counter() - started))
        n += batch
    conn.close()


def _load(port: int, seconds: float, clients: int, batch: int, queue: multiprocessing.Queue,
          payload: str = "native") -> None:
    """The load generator: its own process, so irflow's CPU is not shared with the client's Python."""
    results: list[list[tuple[int, float]]] = [[] for _ in range(clients)]
    run = uuid.uuid4().hex[:8]
    threads = [threading.Thread(target=_client, args=(port, seconds, batch, run, i * 10_000_000, results[i], payload))
               for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    flat = [r for rs in results for r in rs]
    queue.put({"alerts": sum(a for a, _ in flat), "requests": len(flat), "seconds": elapsed,
               "failed": sum(1 for a, _ in flat if a == 0),
               "p50_ms": 1000 * statistics.median([d for _, d in flat]) if flat else None,
               "p99_ms": 1000 * sorted(d for _, d in flat)[int(len(flat) * 0.99)] if flat else None})


def _phase(port: int, seconds: float, clients: int, batch: int, payload: str = "native") -> dict[str, float]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    proc = multiprocessing.Process(target=_load, args=(port, seconds, clients, batch, queue, payload))
    proc.start()
    result = queue.get(timeout=seconds + 120)
    proc.join(timeout=30)
    result["alerts_per_s"] = round(result["alerts"] / result["seconds"], 1)
    result["requests_per_s"] = round(result["requests"] / result["seconds"], 1)
    return result


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--payload", choices=sorted(PAYLOADS), default="native",
                        help="native alerts (the intake bars), or LiteLLM telemetry (ignored, counted for usage)")
    args = parser.parse_args()
    home, port = Path(tempfile.mkdtemp(prefix="irflow-bench-")), _free_port()
    env = os.environ | {"IRFLOW_HOME": str(home), "IRFLOW_INTAKE_TOKEN": TOKEN}
    exe = Path(sys.executable).with_name("irflow")
    server = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    from irflow.store.engine import SQLITE_SYNCHRONOUS

    try:
        _wait(port)
        single = _phase(port, args.seconds, args.clients, 1, args.payload)
        print(json.dumps({"single_posts": single}), flush=True)
        batched = _phase(port, args.seconds, max(1, args.clients // 4), args.batch, args.payload)
        print(json.dumps({"payload": args.payload, "sqlite_synchronous": SQLITE_SYNCHRONOUS, "cpus": os.cpu_count(),
                          "single_posts": single, "ndjson_batches": batched}, indent=2), flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait(port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("irflow serve did not come up")


if __name__ == "__main__":
    main()
