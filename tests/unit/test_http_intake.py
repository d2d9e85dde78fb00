"""The HTTP intake and read API, in-process through the ASGI app (no worker: intake only stores)."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from irflow import runtime
from irflow.server import create_app, intake_credentials
from irflow.settings import IrflowSettings

ALERT = b'{"title": "t", "category": "jailbreak", "severity": "low", "actor": {"user": "u1"}}'


@pytest.fixture
def rt(tmp_path: Path) -> runtime.Runtime:
    return runtime.create(IrflowSettings(home=tmp_path))


def _client(rt: runtime.Runtime, token: str | None = "tok", secret: str | None = None) -> TestClient:
    return TestClient(create_app(rt, None, token, secret))


def test_bearer_required(rt: runtime.Runtime) -> None:
    client = _client(rt)
    assert client.post("/v1/alerts", content=ALERT).status_code == 401
    assert client.post("/v1/alerts", content=ALERT, headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.post("/v1/alerts", content=ALERT, headers={"Authorization": "Bearer tok"})
    assert ok.status_code == 202 and ok.json()[0]["index"] == 0 and ok.json()[0]["new_incident"] is True


def test_unauthorized_stores_nothing(rt: runtime.Runtime) -> None:
    client = _client(rt)
    client.post("/v1/alerts", content=ALERT)
    listed = client.get("/v1/incidents", headers={"Authorization": "Bearer tok"})
    assert listed.status_code == 200 and listed.json() == []


def _signed(secret: str, body: bytes, ts: int) -> dict[str, str]:
    sig = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Irflow-Timestamp": str(ts), "X-Irflow-Signature": f"v1={sig}"}


def test_hmac_signature_and_replay_window(rt: runtime.Runtime) -> None:
    client = _client(rt, token=None, secret="s3cret")
    now = int(time.time())
    assert client.post("/v1/alerts", content=ALERT, headers=_signed("s3cret", ALERT, now)).status_code == 202
    assert client.post("/v1/alerts", content=ALERT, headers=_signed("wrong", ALERT, now)).status_code == 401
    stale = client.post("/v1/alerts", content=ALERT, headers=_signed("s3cret", ALERT, now - 301))
    assert stale.status_code == 401 and "5-minute" in stale.json()[0]["error"]
    tampered = client.post("/v1/alerts", content=ALERT + b" ", headers=_signed("s3cret", ALERT, now))
    assert tampered.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (b"{nope", 400, "malformed JSON"),
        (b"\xff\xfe", 415, "not UTF-8"),
        (b'{"title": 1}', 422, "$[0]"),
    ],
)
def test_bad_bodies_get_clear_errors(rt: runtime.Runtime, body: bytes, status: int, fragment: str) -> None:
    answer = _client(rt).post("/v1/alerts", content=body, headers={"Authorization": "Bearer tok"})
    assert answer.status_code == status and fragment in answer.json()[0]["error"]


def test_body_over_limit_is_413(tmp_path: Path) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path, max_batch_bytes=100))
    answer = _client(rt).post("/v1/alerts", content=b"[" + ALERT * 3 + b"]", headers={"Authorization": "Bearer tok"})
    assert answer.status_code == 413


def test_mixed_batch_is_202_with_per_item_results_and_read_api(rt: runtime.Runtime) -> None:
    client = _client(rt)
    body = ALERT + b"\n" + b'{"title": "x", "category": "nope", "severity": "low", "actor": {}}'
    answer = client.post("/v1/alerts/irflow", content=body, headers={"Authorization": "Bearer tok"})
    good, bad = answer.json()
    assert answer.status_code == 202 and "alert_id" in good and bad["error"].startswith("$[1].category")
    shown = client.get(f"/v1/incidents/{good['incident_id']}", headers={"Authorization": "Bearer tok"})
    assert shown.status_code == 200 and shown.json()["alert_count"] == 1
    missing = client.get("/v1/incidents/inc-nope", headers={"Authorization": "Bearer tok"})
    assert missing.status_code == 404


def test_no_credentials_configured_means_a_generated_token(rt: runtime.Runtime) -> None:
    token, secret = intake_credentials(rt)
    assert secret is None and token and len(token) >= 32
    assert (rt.settings.home / "intake-token").stat().st_mode & 0o077 == 0
    assert intake_credentials(rt) == (token, None)
