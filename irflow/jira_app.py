"""`POST /v1/jira/webhook`: what people do on an incident's Jira issue comes back into irflow.

Authenticated by the shared secret IRFLOW_JIRA_WEBHOOK_SECRET, compared in constant time, in any of the
forms Jira can send: Jira Cloud's webhook secret as `X-Hub-Signature: sha256=<HMAC of the body>`, or (Data
Center, which cannot sign) the secret itself as `?secret=` in the webhook URL, an `X-Irflow-Webhook-Secret`
header or a bearer token. Without a configured secret every request is refused: the endpoint is never
open. A refused request gets 401 and changes nothing. An accepted one is acknowledged at once (Jira
times webhooks out after 10 s) and handled on the worker: an issue moved to a done status resolves the
incident, a comment starting with `/irflow` runs the command and answers in a comment.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from irflow import jira_sync
from irflow.connectors.errors import ConnectorError
from irflow.connectors.jira.format import plain_text
from irflow.connectors.jira.interface import TicketComment
from irflow.connectors.jira.settings import JiraSettings
from irflow.runtime import Runtime

MAX_BODY = 1 << 20  # Jira's issue payloads are kilobytes; a megabyte is already a mistake or an attack
COMMENT_EVENTS = {"comment_created", "jira:issue_updated"}
log = logging.getLogger("irflow.jira")


def verify(headers: Mapping[str, str], query: Mapping[str, str], body: bytes, secret: str | None) -> str | None:
    """None when the request carries the shared secret (HMAC signature or token), else why not."""
    if not secret:
        return "IRFLOW_JIRA_WEBHOOK_SECRET is not set; the Jira webhook is disabled"
    signature = headers.get("x-hub-signature", "")
    if signature:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(signature.encode(), expected.encode()) else "bad X-Hub-Signature"
    bearer = headers.get("authorization", "")
    given = query.get("secret") or headers.get("x-irflow-webhook-secret") or bearer.removeprefix("Bearer ")
    if given and hmac.compare_digest(given.encode(), secret.encode()):
        return None
    return "missing or wrong webhook secret"


def build_router(rt: Runtime, worker: Any) -> APIRouter:
    """The webhook route; `worker.submit` runs the handling after the acknowledgement (inline without one)."""
    settings = JiraSettings()
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    router = APIRouter()

    @router.post("/v1/jira/webhook")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
        why = verify(request.headers, request.query_params, body, secret)
        if why is not None:
            return JSONResponse({"error": f"unauthorized: {why}"}, status_code=401)
        try:
            payload = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "body is not JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"error": "body is not a JSON object"}, status_code=400)
        job = functools.partial(handle_quietly, rt, payload)
        if worker is not None:
            worker.submit(job)
        else:
            job()
        return JSONResponse({"accepted": True}, status_code=202)

    return router


def handle_quietly(rt: Runtime, payload: dict[str, Any]) -> None:
    """`handle_event` for the worker: a Jira error while answering is logged, and the worker goes on."""
    try:
        handle_event(rt, payload)
    except ConnectorError as exc:
        log.warning("jira webhook %s: %s", payload.get("webhookEvent"), exc)


def handle_event(rt: Runtime, payload: dict[str, Any]) -> list[str]:
    """Apply one webhook event; returns what it did (empty when the event is not about an incident)."""
    event = str(payload.get("webhookEvent", ""))
    raw_issue = payload.get("issue")
    issue: dict[str, Any] = raw_issue if isinstance(raw_issue, dict) else {}
    key = str(issue.get("key", "")) or None
    if key is None or jira_sync.incident_of(rt, key) is None:
        return []
    done: list[str] = []
    if event == "jira:issue_updated" and _status_changed(payload):
        status = (issue.get("fields") or {}).get("status") or {}
        verb = jira_sync.apply_status(
            rt, key, done=((status.get("statusCategory") or {}).get("key")) == "done",
            actor=_person(payload.get("user")), status_name=str(status.get("name", "")), fresh=True)
        done += [verb] if verb else []
    comment = payload.get("comment")
    if event in COMMENT_EVENTS and isinstance(comment, dict):
        parsed = TicketComment(str(comment.get("id", "")), _person(comment.get("author")), plain_text(comment.get("body")))
        if parsed.id and jira_sync.apply_comment(rt, key, parsed) is not None:
            done.append(f"command {parsed.id}")
    return done


def _status_changed(payload: dict[str, Any]) -> bool:
    items = (payload.get("changelog") or {}).get("items") or []
    return any(isinstance(i, dict) and i.get("field") == "status" for i in items)


def _person(user: Any) -> str | None:
    """Cloud names people by accountId; Data Center by user name (key as the last resort)."""
    if not isinstance(user, dict):
        return None
    value = user.get("accountId") or user.get("name") or user.get("key")
    return str(value) if value else None
