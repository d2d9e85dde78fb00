"""The real PromptRegistry over MLflow's prompt registry (`mlflow.MlflowClient`, MLflow 3.x).

A prompt's serving alias (e.g. `production`) is read with `get_prompt_version_by_alias`, the versions are
listed with `search_prompt_versions` and the alias is moved with `set_prompt_alias`; every write is read back,
so an alias that did not move is a Conflict rather than a silent success. `load_prompt` is deliberately not
used: it answers from MLflow's in-process prompt cache, which may still hold the tampered version.

mlflow is imported only when a client is built: it is heavy and optional, and irflow imports without it.
Every `MlflowException` leaves this module as one of `irflow.connectors.errors`, decided by its
`error_code`, never by its message text.
"""

from __future__ import annotations

import importlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import requests
import urllib3

from irflow.connectors import deadline
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
from irflow.connectors.mlflow.settings import TRACKING_ENV, MlflowSettings
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM = "mlflow"
PAGE_SIZE = 100
DEFAULT_RETRY_AFTER = 1.0
"""MLflow surfaces no Retry-After from a 429, so a rate limit asks for the same one-second wait as LiteLLM's."""
MESSAGE_MAX = 300
CODE_ERRORS: dict[str, type[ConnectorError]] = {
    **dict.fromkeys(("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"), NotFound),
    **dict.fromkeys(("INVALID_PARAMETER_VALUE", "BAD_REQUEST"), InvalidRequest),
    **dict.fromkeys(("PERMISSION_DENIED", "UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED"), AuthError),
    **dict.fromkeys(("TEMPORARILY_UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL_ERROR"), Unavailable),
    **dict.fromkeys(("RESOURCE_CONFLICT", "ALREADY_EXISTS", "RESOURCE_ALREADY_EXISTS", "ABORTED", "INVALID_STATE"),
                    Conflict),
    # A route the server does not have: the URI is not an MLflow server, or one too old for prompts.
    **dict.fromkeys(("ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED"), ConfigError),
}
"""MLflow `error_code` -> connector error (`mlflow.protos.databricks_pb2.ErrorCode` names)."""
RATE_CODES = frozenset({"REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"})
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
"""MLflow's REST client retries 429/5xx for minutes by default; irflow retries by type itself."""
_ENV_LOCK = threading.Lock()
T = TypeVar("T")


def _import_mlflow() -> ModuleType:
    """mlflow itself, imported on first use with its usage telemetry off unless the operator turned it on.

    MLflow 3 reports usage to its vendor and writes an installation id under ~/.config on import; an
    incident-response tool must not phone home, so MLFLOW_DISABLE_TELEMETRY defaults to true here.
    """
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        return importlib.import_module("mlflow")
    except ImportError as exc:
        raise ConfigError(f"{TRACKING_ENV} is set but mlflow is not installed (pip install mlflow-skinny)",
                          system=SYSTEM) from exc


@contextmanager
def _http_limits(timeout: float) -> Iterator[None]:
    """Bound MLflow's REST calls by irflow's timeout, with no retries of its own, for the duration of one call.

    MLflow reads these only from the environment, at each request; they are set under a lock and restored
    afterwards, so concurrent irflow calls do not interleave. MLflow takes whole seconds, hence the ceiling.
    """
    wanted = {**HTTP_LIMITS, "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(timeout)))}
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def redact_uri(uri: str) -> str:
    """The URI with any password masked: database and server URIs may carry credentials."""
    password = urlsplit(uri).password
    return uri.replace(f":{password}@", ":***@") if password else uri


def _network_failure(exc: BaseException) -> requests.RequestException | None:
    """The `requests` error behind an MlflowException, if any: MLflow chains it as cause or context."""
    seen: BaseException | None = exc
    for _ in range(8):  # bounded: a chain is short, and a cycle must not hang the caller
        seen = (seen.__cause__ or seen.__context__) if seen is not None else None
        if isinstance(seen, requests.RequestException):
            return seen
    return None


def _timed_out(failure: requests.RequestException | None) -> bool:
    """True for a read timeout that urllib3 wrapped in MaxRetryError, which requests re-raises as ConnectionError."""
    inner = failure.args[0] if failure is not None and failure.args else None
    # ReadTimeoutError only: urllib3's NewConnectionError (refused) subclasses its ConnectTimeoutError.
    return isinstance(inner, urllib3.exceptions.MaxRetryError) and isinstance(inner.reason,
                                                                              urllib3.exceptions.ReadTimeoutError)


def translate(exc: Any, where: str, scrub: Callable[[str], str] = str) -> ConnectorError:
    """One MlflowException as the connector error its `error_code` means; `scrub` masks URI credentials."""
    code = str(getattr(exc, "error_code", "") or "")
    status = exc.get_http_status_code() if hasattr(exc, "get_http_status_code") else None
    message = scrub(f"{where}: {getattr(exc, 'message', exc)} [{code}]")
    message = message if len(message) <= MESSAGE_MAX else message[: MESSAGE_MAX - 1] + "…"
    failure = _network_failure(exc)
    if isinstance(failure, requests.Timeout) or _timed_out(failure):
        return Unavailable(f"{where}: no answer in time ({type(failure).__name__})", system=SYSTEM)
    if isinstance(failure, requests.exceptions.RetryError):
        # MLflow's session turns 408/429/5xx into RetryError once its retries (off here) are spent: the status
        # and any Retry-After are gone, but the server did answer, with something worth retrying.
        return Unavailable(f"{where}: the MLflow server answered 408/429/5xx", system=SYSTEM)
    if failure is not None:
        return Unavailable(f"{where}: cannot reach the MLflow server ({type(failure).__name__})", system=SYSTEM)
    if code in RATE_CODES:
        return RateLimited(message, retry_after=DEFAULT_RETRY_AFTER, system=SYSTEM, status=status)
    return CODE_ERRORS.get(code, ConnectorError)(message, system=SYSTEM, status=status)


class MlflowPrompts:
    """PromptRegistry for MLflow: `rollback` points the alias at the previous version, `roll_forward` back.

    `alias` defaults to the configured one (IRFLOW_MLFLOW_ALIAS), so configuration, not the flow, names the
    alias that serves traffic. Outcomes hold `{name, alias, version}` before and after.
    """

    system = SYSTEM

    def __init__(self, settings: MlflowSettings) -> None:
        if settings.tracking_uri is None:
            raise ConfigError(f"the MLflow client needs {TRACKING_ENV}", system=SYSTEM)
        self.alias = settings.alias
        self._tracking_uri = settings.tracking_uri
        self._registry_uri = settings.registry_uri or settings.tracking_uri
        self._timeout = settings.timeout
        self._mlflow = _import_mlflow()
        self._client: Any | None = None

    def __repr__(self) -> str:
        return f"MlflowPrompts({redact_uri(self._registry_uri)!r})"

    def current_version(self, name: str, alias: str | None = None) -> int:
        """The version the alias points at, read from the registry (not MLflow's prompt cache).

        MLflow's stores answer INVALID_PARAMETER_VALUE, not RESOURCE_DOES_NOT_EXIST, for an alias that is
        not set (and for a name registered as a model, not a prompt): either way no prompt version is
        served under that alias, which the Protocol calls NotFound.
        """
        wanted = alias or self.alias
        try:
            found = self._call(f"read {name}@{wanted}", lambda c: c.get_prompt_version_by_alias(name, wanted))
        except InvalidRequest as exc:
            raise NotFound(f"prompt {name!r} has no alias {wanted!r}", system=SYSTEM, status=exc.status) from exc
        if found is None:
            raise NotFound(f"prompt {name!r} has no alias {wanted!r}", system=SYSTEM)
        return int(found.version)

    def rollback(self, name: str, alias: str | None = None, *, dry_run: bool = False) -> Outcome:
        """Point the alias at the highest version below the current one; Conflict when there is none."""
        wanted = alias or self.alias
        current = self.current_version(name, wanted)
        older = [v for v in self._versions(name) if v < current]
        if not older:
            raise Conflict(f"prompt {name!r} has no version before {current} to roll back to", system=SYSTEM)
        return self._move(name, wanted, current, max(older), "rollback", dry_run)

    def roll_forward(self, name: str, version: int, alias: str | None = None, *, dry_run: bool = False) -> Outcome:
        """Point the alias at `version`: the inverse of rollback, given the version from its `before`."""
        wanted = alias or self.alias
        if version not in self._versions(name):
            raise NotFound(f"prompt {name!r} has no version {version}", system=SYSTEM)
        return self._move(name, wanted, self.current_version(name, wanted), version, "roll forward", dry_run)

    def _versions(self, name: str) -> list[int]:
        """Every version of the prompt, following MLflow's page tokens; NotFound for an unknown prompt."""
        versions: list[int] = []
        token: str | None = None
        while True:
            page = self._page(name, token)
            versions.extend(int(v.version) for v in page)
            token = page.token
            if not token:
                return sorted(versions)

    def _page(self, name: str, token: str | None) -> Any:
        return self._call(f"list versions of {name}",
                          lambda c: c.search_prompt_versions(name, max_results=PAGE_SIZE, page_token=token))

    def _move(self, name: str, alias: str, current: int, target: int, op: str, dry_run: bool) -> Outcome:
        call = PlannedCall(SYSTEM, f"{op} {name}@{alias}", {"name": name, "alias": alias, "version": target})
        before = {"name": name, "alias": alias, "version": current}
        if dry_run or current == target:
            return Outcome(call, before, before, changed=False, dry_run=dry_run,
                           detail="dry run: the alias was not moved" if dry_run else f"already at version {target}")
        self._call(f"set {name}@{alias} to {target}", lambda c: c.set_prompt_alias(name, alias, target))
        after = self.current_version(name, alias)
        if after != target:
            raise Conflict(f"MLflow accepted the alias move but {name}@{alias} is at version {after}", system=SYSTEM)
        return Outcome(call, before, {"name": name, "alias": alias, "version": after}, changed=True)

    def _call(self, where: str, fn: Callable[[Any], T]) -> T:
        """Run one MlflowClient call within irflow's timeout and turn MLflow's errors into connector errors."""
        with _http_limits(deadline.request_timeout(self._timeout, system=SYSTEM)):
            client = self._connect()
            try:
                return fn(client)
            except self._mlflow.exceptions.MlflowException as exc:
                raise translate(exc, where, self._scrub) from exc

    def _connect(self) -> Any:
        """The MlflowClient, built on first use; a URI MLflow cannot serve prompts from is a ConfigError."""
        if self._client is None:
            try:
                self._client = self._mlflow.MlflowClient(tracking_uri=self._tracking_uri,
                                                         registry_uri=self._registry_uri)
            except self._mlflow.exceptions.MlflowException as exc:
                error = translate(exc, "connect", self._scrub)
                if isinstance(error, InvalidRequest):
                    raise ConfigError(f"{error.args[0]}; check {TRACKING_ENV}", system=SYSTEM) from exc
                raise error from exc
        return self._client

    def _scrub(self, text: str) -> str:
        # MLflow's messages quote the URLs it called; a password in a URI must not reach a log or a ticket.
        for uri in (self._tracking_uri, self._registry_uri):
            password = urlsplit(uri).password
            for form in {password, unquote(password)} if password else ():
                text = text.replace(form, "***")
        return text
