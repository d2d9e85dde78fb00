"""Slack's local twin: channels and messages in the irflow store, inspectable with `irflow slack show`."""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import select

from irflow.models import utcnow
from irflow.redaction import SafeText
from irflow.render import assert_blocks_safe, require_safe
from irflow.store.engine import Database
from irflow.store.tables import TwinSlackChannelRow, TwinSlackMessageRow

_counter = itertools.count()


class LocalSlack:
    system = "local"

    def __init__(self, db: Database) -> None:
        self._db = db

    def ensure_channel(self, name: str, topic: SafeText) -> str:
        require_safe(topic)
        with self._db.tx() as s:
            existing = s.execute(select(TwinSlackChannelRow).where(TwinSlackChannelRow.name == name)).scalar()
            if existing is not None:
                return existing.id
            count = len(s.execute(select(TwinSlackChannelRow.id)).all())
            channel_id = f"CL{count + 1:08d}"
            s.add(TwinSlackChannelRow(id=channel_id, name=name, topic=str(topic), created_at=utcnow()))
        return channel_id

    def post(self, channel: str, text: SafeText, blocks: list[dict[str, Any]] | None = None, *, pin: bool = False) -> str:
        require_safe(text)
        assert_blocks_safe(blocks or [])
        ts = f"{time.time():.6f}{next(_counter) % 10}"
        with self._db.tx() as s:
            s.add(TwinSlackMessageRow(ts=ts, channel=channel, text=str(text), blocks=blocks or [], pinned=pin,
                                      updated_at=utcnow()))
        return ts

    def update(self, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]] | None = None) -> None:
        require_safe(text)
        assert_blocks_safe(blocks or [])
        with self._db.tx() as s:
            row = s.get(TwinSlackMessageRow, ts)
            if row is None or row.channel != channel:
                from irflow.connectors.errors import NotFound

                raise NotFound(f"message {ts} not in channel {channel}", system="slack")
            row.text, row.blocks, row.updated_at = str(text), blocks or [], utcnow()
