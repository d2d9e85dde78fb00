"""Accepted alerts emit Prefect events (from the outbox); a spooled batch survives a crash and is replayed
once; per-alert and per-batch size limits."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests

from irflow import intake, orchestrate, runtime, spool
from irflow.bodies import BodyError, split
from irflow.server import replay_spool
from irflow.settings import IrflowSettings

pytestmark = pytest.mark.integration


def _alerts(n: int, prefix: str = "a") -> bytes:
    return "\n".join(json.dumps({"id": f"{prefix}-{i}", "title": "t", "category": "jailbreak", "severity": "low",
                                 "actor": {"user": f"u{i}"}}) for i in range(n)).encode()


def test_every_accepted_alert_emits_a_prefect_event(tmp_path: Path, prefect_api: str) -> None:
    from prefect.events.worker import EventsWorker

    rt = runtime.create(IrflowSettings(home=tmp_path))
    report = intake.ingest(rt.db, rt.settings, split(_alerts(3), max_bytes=1 << 20))
    ids = {f"irflow.alert.{r.alert.id}" for r in report.results if r.alert}
    orchestrate.deliver(rt)
    EventsWorker.drain_all(timeout=10)
    seen: set[str] = set()
    for _ in range(60):
        answer = requests.post(f"{prefect_api}/events/filter", timeout=5, json={
            "filter": {"event": {"name": ["irflow.alert.received"]}, "any_resource": {"id": sorted(ids)}}, "limit": 50})
        seen = {e["resource"]["prefect.resource.id"] for e in answer.json().get("events", [])}
        if ids <= seen:
            break
        time.sleep(0.5)
    assert ids <= seen


def test_spooled_batch_is_replayed_once_after_a_crash(tmp_path: Path) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path))
    body = _alerts(5, "spooled")
    spool.write(rt.settings.home, body, None)  # the process died before ingesting it
    assert replay_spool(rt) == 1 and spool.pending(rt.settings.home) == []
    again = intake.ingest(rt.db, rt.settings, split(body, max_bytes=1 << 20))
    assert all(r.duplicate for r in again.results)  # what was replayed counts; a resend is a duplicate


def test_a_spooled_body_that_cannot_be_stored_is_set_aside_not_fatal(tmp_path: Path) -> None:
    rt = runtime.create(IrflowSettings(home=tmp_path, max_batch_bytes=4096))
    spool.write(rt.settings.home, _alerts(200, "too-big"), None)  # over this server's batch limit now
    spool.write(rt.settings.home, _alerts(2, "fine"), None)
    assert replay_spool(rt) == 1, "the good body is replayed; the bad one does not stop the start-up"
    assert spool.pending(rt.settings.home) == []
    assert [p.suffix for p in spool.folder(rt.settings.home).iterdir()] == [".failed"]


def test_size_limits_per_alert_and_per_batch() -> None:
    big = json.dumps({"title": "x" * 2000, "category": "jailbreak", "severity": "low", "actor": {}}).encode()
    with pytest.raises(BodyError, match="single alert of .* over the limit of 1000") as info:
        split(big, max_bytes=10_000, max_item_bytes=1000)
    assert info.value.status == 413
    items = split(_alerts(2) + b"\n" + big, max_bytes=10_000, max_item_bytes=1000)
    assert items[0].value and items[1].value and "per-alert limit of 1000" in (items[2].error or "")
    array = b"[" + big + b"," + b'{"a": 1}' + b"]"
    items = split(array, max_bytes=10_000, max_item_bytes=1000)
    assert items[0].error and items[1].value == {"a": 1}
