"""The Jira webhook (`/v1/jira/webhook`): being built for the Jira issue; until then
the router mounts nothing, so the paths answer 404."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def build_router(rt: Any, worker: Any) -> APIRouter:
    return APIRouter()
