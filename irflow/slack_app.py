"""Slack endpoints (`/v1/slack/actions`, `/v1/slack/commands`): being built for the Slack issue; until then
the router mounts nothing, so the paths answer 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def build_router(rt: Any, worker: Any) -> APIRouter:
    return APIRouter()
