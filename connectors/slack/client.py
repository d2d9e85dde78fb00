"""The real Slack client: ChatOps over the Slack Web API with slack_sdk.

Every method checks its text is SafeText before anything goes on the wire, and every slack_sdk or
network failure leaves this module as one of `irflow.connectors.errors`, decided by Slack's `error`
code and the HTTP status, never by message text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPException
from typing import Any, TypedDict

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse

from irflow.connectors.errors import (
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.slack.settings import SlackSettings
from irflow.redaction import SafeText
from irflow.render import assert_blocks_safe, require_safe

SYSTEM = "slack"
CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250
LIST_PAGE_LIMIT = 200
"""Slack recommends no more than 200 per page; it may still return fewer and hand out a cursor."""

AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope",
                         "not_allowed_token_type"})
NOT_FOUND_ERRORS = frozenset({"channel_not_found", "message_not_found", "users_not_found", "user_not_found",
                              "no_such_subteam"})
CONFLICT_ERRORS = frozenset({"name_taken"})
ALREADY_DONE = frozenset({"already_pinned", "already_in_channel"})
"""The state we asked for already holds: a retried task must not fail because its first try worked."""

_NOT_CHANNEL_CHARS = re.compile(r"[^a-z0-9_-]+")


class AuthIdentity(TypedDict):
    """What auth.test says about the token: who we are, in which workspace."""

    url: str
    team: str
    user: str
    team_id: str
    user_id: str
    bot_id: str


def channel_name(name: str) -> str:
    """Fold a name into Slack's channel-name rules: lowercase ``[a-z0-9-_]``, at most 80 characters.

    Slack refuses anything else with ``invalid_name_*``; folding here keeps the incident id readable
    instead of failing the playbook over a space or a colon.
    """
    slug = _NOT_CHANNEL_CHARS.sub("-", name.lower()).strip("-")
    slug = slug[:CHANNEL_NAME_MAX].rstrip("-")
    if not slug:
        raise InvalidRequest(f"channel name {name!r} has no usable characters", system=SYSTEM)
    return slug


def _fit_topic(topic: SafeText) -> str:
    # Cutting redacted text shorter cannot reveal anything the redactor removed.
    text = str(topic)
    return text if len(text) <= TOPIC_MAX else text[: TOPIC_MAX - 1] + "…"


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return None


def _retry_after(response: SlackResponse) -> float:
    # slack_sdk itself assumes 1 s when Slack leaves the header out; so do we.
    value = _header(response.headers or {}, "Retry-After")
    try:
        return float(value) if value is not None else 1.0
    except ValueError:
        return 1.0


def translate(exc: SlackApiError) -> ConnectorError:
    """Map a SlackApiError to a typed error by HTTP status first, then by Slack's `error` code."""
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "unknown_error")
    if status == 429 or code == "ratelimited":
        return RateLimited(f"rate limited ({code})", retry_after=_retry_after(response), system=SYSTEM)
    if status >= 500:
        return Unavailable(f"Slack answered {status}", system=SYSTEM, status=status)
    if code in AUTH_ERRORS:
        return AuthError(code, system=SYSTEM, status=status)
    if code in NOT_FOUND_ERRORS:
        return NotFound(code, system=SYSTEM, status=status)
    if code in CONFLICT_ERRORS:
        return Conflict(code, system=SYSTEM, status=status)
    return InvalidRequest(code, system=SYSTEM, status=status)


class SlackClient:
    """ChatOps against a real Slack workspace (or anything speaking its Web API at `api_url`)."""

    system = SYSTEM
    settings: SlackSettings

    def __init__(self, settings: SlackSettings, *, rate_limit_retries: int = 2) -> None:
        """Build the WebClient once; retries for 429 and dropped connections live in slack_sdk.

        Args:
            settings: Must carry a bot token; a half-configured Slack is a start-up error.
            rate_limit_retries: How many 429s slack_sdk sleeps through (honouring Retry-After)
                before we give up with RateLimited and let the flow's retry policy take over.
        """
        if settings.bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set", system=SYSTEM)
        self.settings = settings
        self._emails: dict[str, str] = {}
        self._web = WebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_url,
            timeout=settings.timeout,
            retry_handlers=[
                RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
                ConnectionErrorRetryHandler(max_retry_count=1),
            ],
        )

    def ensure_channel(self, name: str, topic: SafeText) -> str:
        """Create the incident channel, or adopt it when an earlier attempt already created it.

        A retried flow calls this again after a partial failure, so ``name_taken`` is the normal
        second-run path, not an error. The topic is (re)set either way so it reflects the latest state.
        """
        require_safe(topic)
        slug = channel_name(name)
        try:
            channel_id = str(self._call(self._web.conversations_create, name=slug)["channel"]["id"])
        except Conflict:
            channel_id = self._find_channel(slug)
        self._call(self._web.conversations_setTopic, channel=channel_id, topic=_fit_topic(topic))
        return channel_id

    def post(
        self, channel: str, text: SafeText, blocks: list[dict[str, Any]] | None = None, *, pin: bool = False,
        thread_ts: str | None = None,
    ) -> str:
        """Post a message and return its ts, the handle later updates need.

        Pinning is idempotent (``already_pinned`` is success) so a retried post-and-pin cannot fail
        on its own earlier half. Links are never unfurled: a preview would fetch whatever a link points at.
        """
        require_safe(text)
        assert_blocks_safe(blocks or [])
        args: dict[str, Any] = {"channel": channel, "text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        ts = str(self._call(self._web.chat_postMessage, **args)["ts"])
        if pin:
            self._call(self._web.pins_add, channel=channel, timestamp=ts)
        return ts

    def update(self, channel: str, ts: str, text: SafeText, blocks: list[dict[str, Any]] | None = None) -> None:
        """Replace a message's text and blocks (e.g. the incident status card).

        Slack keeps the old blocks when none are sent; we send ``[]`` so the message says exactly
        what we rendered, as the local twin does.
        """
        require_safe(text)
        assert_blocks_safe(blocks or [])
        self._call(self._web.chat_update, channel=channel, ts=ts, text=text, blocks=blocks or [])

    def post_ephemeral(self, channel: str, user: str, text: SafeText, blocks: list[dict[str, Any]] | None = None,
                       *, thread_ts: str | None = None) -> None:
        """Show `text` to one user only: answers to a command, "not allowed", never the channel's business."""
        require_safe(text)
        assert_blocks_safe(blocks or [])
        args: dict[str, Any] = {"channel": channel, "user": user, "text": text}
        if blocks:
            args["blocks"] = blocks
        if thread_ts:
            args["thread_ts"] = thread_ts
        self._call(self._web.chat_postEphemeral, **args)

    def invite(self, channel: str, users: list[str]) -> dict[str, str]:
        """Invite users in one call; members already there are success. Returns user -> error for the refused.

        Slack invites nobody when any one invitee fails, and lists per-user errors; so the refused are
        dropped and the rest asked again, which also makes a retried invite converge instead of failing.
        """
        pending, refused = list(dict.fromkeys(users)), dict[str, str]()
        while pending:
            with translated():
                try:
                    self._web.conversations_invite(channel=channel, users=pending)
                    return refused
                except SlackApiError as exc:
                    failed = _per_user_errors(exc)
                    if not failed and _error_code(exc) == "already_in_channel":
                        return refused
                    if not failed or not set(failed) & set(pending):
                        raise
                    refused |= {user: code for user, code in failed.items() if code != "already_in_channel"}
                    pending = [user for user in pending if user not in failed]
        return refused

    def add_bookmark(self, channel: str, title: SafeText, link: str) -> str:
        """Bookmark a link in the channel header (Jira issue, runbook, Prefect run); returns the bookmark id."""
        require_safe(title)
        if not link.startswith(("https://", "http://")):
            raise InvalidRequest("bookmarks need an http(s) link", system=SYSTEM)
        data = self._call(self._web.bookmarks_add, channel_id=channel, title=str(title), type="link", link=link)
        return str((data.get("bookmark") or {}).get("id", ""))

    def lookup_user_by_email(self, email: str) -> str | None:
        """The id behind an on-call email; None when nobody in the workspace has it. Cached per process."""
        if email in self._emails:
            return self._emails[email]
        try:
            user_id = str(self._call(self._web.users_lookupByEmail, email=email)["user"]["id"])
        except NotFound:
            return None
        self._emails[email] = user_id
        return user_id

    def usergroup_members(self, group: str) -> frozenset[str]:
        """Who is in a user group right now; irflow.rbac caches the answer, not this method."""
        data = self._call(self._web.usergroups_users_list, usergroup=group)
        return frozenset(str(user) for user in data.get("users") or [])

    def auth_test(self) -> AuthIdentity:
        """Ask Slack who the token belongs to; `irflow doctor` shows it to prove the setup works."""
        data = {key: str(value) for key, value in self._call(self._web.auth_test).items()}
        return AuthIdentity(
            url=data.get("url", ""), team=data.get("team", ""), user=data.get("user", ""),
            team_id=data.get("team_id", ""), user_id=data.get("user_id", ""), bot_id=data.get("bot_id", ""),
        )

    def _find_channel(self, slug: str) -> str:
        for channel in self._channels():
            if channel.get("name") == slug:
                return str(channel["id"])
        raise Conflict(f"channel name {slug!r} is taken by a channel this bot cannot see or use", system=SYSTEM)

    def _channels(self) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            page = self._call(
                self._web.conversations_list,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=LIST_PAGE_LIMIT,
                cursor=cursor,
            )
            yield from page.get("channels", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return

    def _call(self, method: Callable[..., SlackResponse], **kwargs: Any) -> dict[str, Any]:
        with translated():
            try:
                return dict(method(**kwargs).data)  # type: ignore[arg-type]
            except SlackApiError as exc:
                if _error_code(exc) in ALREADY_DONE:
                    return dict(exc.response.data)
                raise


def _per_user_errors(exc: SlackApiError) -> dict[str, str]:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    errors = data.get("errors") or []
    return {str(e["user"]): str(e.get("error") or "unknown_error") for e in errors if isinstance(e, dict) and e.get("user")}


def _error_code(exc: SlackApiError) -> str | None:
    data = exc.response.data
    return str(data.get("error")) if isinstance(data, dict) and data.get("error") else None


@contextmanager
def translated() -> Iterator[None]:
    """Every slack_sdk or network failure inside as one of `irflow.connectors.errors` (see `translate`)."""
    try:
        yield
    except SlackApiError as exc:
        raise translate(exc) from exc
    except (OSError, HTTPException) as exc:  # URLError, refused/reset connections, timeouts
        raise Unavailable(f"cannot reach Slack: {type(exc).__name__}", system=SYSTEM) from exc
    except SlackClientError as exc:
        # slack_sdk refuses locally (bad URL scheme, bad proxy) before sending: a setup problem.
        raise ConfigError(f"slack_sdk refused the request: {type(exc).__name__}", system=SYSTEM) from exc
