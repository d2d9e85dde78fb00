"""Slack's calls into irflow: `POST /v1/slack/actions` (button presses) and `POST /v1/slack/commands` (`/irflow`).

Slack signs every request with the app's signing secret; anything unsigned, badly signed, older than five
minutes or seen before is answered 401 and changes nothing. Slack waits at most three seconds, so the
endpoints only verify, parse and acknowledge; the work (decisions, flow runs, Slack updates) runs on the
worker thread afterwards, and its answer reaches the user as an ephemeral message.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import JSONResponse, Response
from slack_sdk.signature import Clock, SignatureVerifier

from irflow import commands, rbac
from irflow.connectors.errors import ConnectorError, InvalidRequest, NotFound
from irflow.connectors.slack.seen import SeenWithin
from irflow.redaction import SafeText, compose, redact, trusted
from irflow.runtime import Runtime
from irflow.slack_blocks import APPROVE, REJECT, STEP, UNDO

log = logging.getLogger(__name__)

REPLAY_WINDOW_S = 300
MAX_BODY = 1 << 20
"""Interaction payloads carry the whole message they came from; a megabyte is far above any real one."""
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,8}$")


class PayloadError(ValueError):
    """A signed request whose content irflow cannot use (wrong shape, unknown user id)."""


@dataclass(frozen=True)
class Caller:
    """Who pressed or typed, and where: everything a job needs to act and to answer."""

    user: str
    channel: str | None
    thread_ts: str | None

    @property
    def principal(self) -> str:
        return f"slack:{self.user}"


class ReplayGuard(SeenWithin):
    """Slack's scheme only bounds a signature's age; remembering each one for that window makes it single-use."""

    def __init__(self, window: float = REPLAY_WINDOW_S) -> None:
        super().__init__(window)


def verify(secret: str | None, guard: ReplayGuard, body: bytes, headers: Any, now: float) -> str | None:
    """None when Slack signed this request within the window and it was not seen before; else why not."""
    if secret is None:
        return "Slack is not configured (SLACK_SIGNING_SECRET is unset)"
    timestamp = headers.get("x-slack-request-timestamp", "")
    signature = headers.get("x-slack-signature", "")
    if not timestamp.isdigit() or not signature:
        return "missing X-Slack-Request-Timestamp or X-Slack-Signature"
    verifier = SignatureVerifier(secret, clock=_Clock(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "bad signature or timestamp outside the 5-minute window"
    if not guard.first_use(signature, now):
        return "request replayed"
    return None


class _Clock(Clock):
    """The request's arrival time, so verification and the replay guard agree on "now"."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


# --- payloads ---------------------------------------------------------------------------------------------------


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise PayloadError("body is not UTF-8 form data") from exc
    return {key: values[-1] for key, values in parsed.items()}


def _user(value: object) -> str:
    if not isinstance(value, str) or not _USER_ID.match(value):
        raise PayloadError("no valid Slack user id in the payload")
    return value


def _opt(value: object, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.match(value) else None


def action_jobs(payload: dict[str, Any]) -> tuple[Caller, list[str]]:
    """The caller and the irflow command each pressed button stands for (buttons we did not make are skipped)."""
    user = _user(_obj(payload.get("user")).get("id"))
    if payload.get("type") != "block_actions":
        return Caller(user, None, None), []
    container = _obj(payload.get("container"))
    channel = _obj(payload.get("channel")).get("id") or container.get("channel_id")
    caller = Caller(user, _opt(channel, _CHANNEL), _opt(container.get("thread_ts"), _TS))
    actions = payload.get("actions")
    texts = [text for action in actions if (text := _command_for(_obj(action))) is not None] \
        if isinstance(actions, list) else []
    return caller, texts


def _obj(value: object) -> dict[str, Any]:
    # Slack sends objects here; anything else is treated as absent rather than crashing the request.
    return value if isinstance(value, dict) else {}


def _command_for(action: dict[str, Any]) -> str | None:
    action_id, value = str(action.get("action_id") or ""), str(action.get("value") or "")
    if action_id in (APPROVE, REJECT, UNDO) and commands.ACTION_ID.match(value):
        verb = {APPROVE: "approve", REJECT: "reject", UNDO: "undo"}[action_id]
        return f"{verb} {value}" + (" rejected from Slack" if action_id == REJECT else "")
    if action_id == STEP:
        incident_id, _, step_id = value.partition(" ")
        if commands.INCIDENT_ID.match(incident_id) and commands.STEP_ID.match(step_id):
            return f"runbook done {step_id} {incident_id}"
    return None  # link buttons and anything else: acknowledged, nothing to do


# --- the router -------------------------------------------------------------------------------------------------


def build_router(rt: Runtime, worker: Any) -> APIRouter:
    """Mount the two Slack endpoints; `worker.submit` runs the work after the answer (a background task without one)."""
    router = APIRouter()
    guard = ReplayGuard()
    _use_slack_groups(rt)

    async def verified(request: Request) -> tuple[bytes | None, JSONResponse | None]:
        body = await _read_limited(request)
        if body is None:
            return None, JSONResponse({"error": "body too large"}, status_code=413)
        why = verify(_secret(rt), guard, body, request.headers, time.time())
        if why is not None:
            log.warning("refused a Slack request: %s", why)
            return None, JSONResponse({"error": f"unauthorized: {why}"}, status_code=401)
        return body, None

    def submit(background: BackgroundTasks, job: Callable[[], None]) -> None:
        if worker is not None:
            worker.submit(job)
        else:
            background.add_task(job)

    @router.post("/v1/slack/actions")
    async def slack_actions(request: Request, background: BackgroundTasks) -> Response:
        body, refused = await verified(request)
        if refused is not None or body is None:
            return refused or Response(status_code=400)
        try:
            jobs = accept_actions(rt, json.loads(_form(body).get("payload") or "{}"))
        except (PayloadError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        for job in jobs:
            submit(background, job)
        return Response(status_code=200)

    @router.post("/v1/slack/commands")
    async def slack_commands(request: Request, background: BackgroundTasks) -> Response:
        body, refused = await verified(request)
        if refused is not None or body is None:
            return refused or Response(status_code=400)
        try:
            reply, job = accept_command(rt, _form(body))
        except PayloadError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if job is not None:
            submit(background, job)
        return JSONResponse(ephemeral(reply))

    return router


# --- what a press or a command asks for (shared by HTTPS and Socket Mode) ---------------------------------------

Job = Callable[[], None]


def accept_actions(rt: Runtime, payload: object) -> list[Job]:
    """The jobs for a block_actions payload: one per button irflow made; run them after acknowledging."""
    if not isinstance(payload, dict):
        raise PayloadError("the interaction payload is not a JSON object")
    caller, texts = action_jobs(payload)
    return [_job(rt, caller, text, None) for text in texts]


def accept_command(rt: Runtime, form: dict[str, Any]) -> tuple[SafeText, Job | None]:
    """The immediate (ephemeral) reply to `/irflow …` and the job that does the work, if there is any.

    Parsing happens here, before acknowledging, so a typo is answered at once; `help` needs no job.
    """
    caller = Caller(_user(form.get("user_id")), _opt(form.get("channel_id"), _CHANNEL), None)
    text = str(form.get("text") or "")
    context = commands.incident_for_channel(rt, caller.channel) if caller.channel else None
    try:
        parsed = commands.parse(text, context)
    except commands.CommandError as exc:
        return compose("{why}", why=redact(str(exc), max_len=600, pii=False)), None
    if parsed.verb == "help":
        return commands.HELP, None
    return (compose("Working on `{text}`…", text=redact(text, max_len=300, pii=False)),
            _job(rt, caller, text, context))


def ephemeral(text: SafeText) -> dict[str, str]:
    """A slash command's reply that only the caller sees."""
    return {"response_type": "ephemeral", "text": text}


def _job(rt: Runtime, caller: Caller, text: str, incident_id: str | None) -> Job:
    def run() -> None:
        try:
            reply = commands.dispatch(rt, caller.principal, text, incident_id)
        except Exception:  # a job must not kill the worker thread; the user is told, the log has it
            log.exception("Slack command %r by %s failed", text, caller.principal)
            reply = trusted("irflow hit an internal error running that; the server log has the details.")
        answer(rt, caller, reply)

    return run


def answer(rt: Runtime, caller: Caller, text: SafeText) -> None:
    """Tell the caller privately: ephemeral in the channel, or a direct message where the bot is not a member."""
    chat = rt.systems.chat
    try:
        if caller.channel is None:
            raise NotFound("no channel to answer in", system="slack")
        chat.post_ephemeral(caller.channel, caller.user, text, thread_ts=caller.thread_ts)
    except (NotFound, InvalidRequest):
        try:
            chat.post(caller.user, text)  # the app's direct message with the user
        except ConnectorError as exc:
            log.warning("could not answer %s in Slack: %s", caller.principal, exc)
    except ConnectorError as exc:
        log.warning("could not answer %s in Slack: %s", caller.principal, exc)


def _secret(rt: Runtime) -> str | None:
    secret = rt.systems.chat.settings.signing_secret
    return secret.get_secret_value() if secret is not None else None


def _use_slack_groups(rt: Runtime) -> None:
    """RBAC keys `slack-group:S…` resolve through this workspace's user groups, cached per SLACK_GROUP_CACHE_SECONDS.

    Registered when the app is built, so every path that checks a Slack principal (buttons, commands, a Jira
    comment naming one) sees the same groups; the connector is looked up only when a group is first asked.
    """

    def members(key: str) -> frozenset[str]:
        users = rt.systems.chat.usergroup_members(key.removeprefix(rbac.SLACK_GROUP_PREFIX))
        return frozenset(f"slack:{user}" for user in users)

    rbac.register_groups(rbac.SLACK_GROUP_PREFIX, rbac.CachedGroups(
        members, ttl=lambda: rt.systems.chat.settings.group_cache_seconds), owner=rt)


async def _read_limited(request: Request) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
