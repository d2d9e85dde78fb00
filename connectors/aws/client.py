"""The AWS connectors: KeyRevoker over IAM access keys, UserBlocker over a Cognito user pool.

A leaked IAM access key is contained by making it Inactive (reversible) or deleting it (not); a Cognito
account by disabling it and signing it out everywhere. Every write reads the target's state first, so a
retried task finds "already blocked" instead of failing, and `Outcome.before` holds what the inverse needs.
Every botocore failure leaves this module as one of `irflow.connectors.errors`, decided by the error code
and HTTP status AWS answered, never by its message text. botocore's own retries are off: flows retry
RateLimited and Unavailable themselves, and honour the wait AWS asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from functools import partial
from datetime import datetime
from typing import Any, Literal

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from irflow.connectors import deadline
from irflow.connectors.aws.settings import USER_POOL_ENV, AwsSettings
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
from irflow.connectors.http import error_for_status, retry_after, scrub
from irflow.connectors.outcome import Outcome, PlannedCall

SYSTEM_IAM = "aws_iam"
SYSTEM_COGNITO = "cognito"
ACTIVE, INACTIVE = "Active", "Inactive"
Service = Literal["iam", "cognito-idp"]
SETTLE_READS, SETTLE_PAUSE = 3, 0.5
"""IAM is eventually consistent: a state read right after a write may lag, so verify a few times."""

NOT_FOUND_CODES = frozenset({"NoSuchEntity", "UserNotFoundException", "ResourceNotFoundException"})
AUTH_CODES = frozenset({"AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch",
                        "UnrecognizedClientException", "NotAuthorizedException", "ExpiredToken",
                        "ExpiredTokenException", "MissingAuthenticationToken"})
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"})
INVALID_CODES = frozenset({"ValidationError", "ValidationException", "InvalidParameterException", "InvalidInput",
                           "InvalidParameterValue", "MissingParameter"})
CREDENTIAL_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError, TokenRetrievalError,
                     SSOError)
IRREVERSIBLE = "deleted; irreversible: unblock cannot bring a deleted key back, issue the owner a new key"
SIGNED_OUT = ("sessions revoked: signed out everywhere, refresh tokens invalidated; ID and access tokens already "
              "issued stay valid where they are verified offline until they expire")


def _client_error(system: str, operation: str, exc: ClientError, mask: Callable[[str], str]) -> ConnectorError:
    """Map an AWS error answer by its code, then by its HTTP status; the message text only informs people."""
    error: Mapping[str, Any] = exc.response.get("Error", {})
    meta: Mapping[str, Any] = exc.response.get("ResponseMetadata", {})
    code, status = str(error.get("Code", "")), meta.get("HTTPStatusCode")
    message = mask(f"{operation}: {code or 'error'}: {error.get('Message') or 'no message'}")
    # AWS rarely sends Retry-After on a throttle, but gateways and API Gateway-fronted services do.
    wait = partial(retry_after, meta.get("HTTPHeaders", {}), "retry-after")
    if code in NOT_FOUND_CODES:
        return NotFound(message, system=system, status=status)
    if code in AUTH_CODES:
        return AuthError(message, system=system, status=status)
    if code in THROTTLE_CODES or status == 429:
        return RateLimited(message, retry_after=wait(), system=system, status=status)
    if code in INVALID_CODES:
        return InvalidRequest(message, system=system, status=status)
    return error_for_status(status, message, system=system, retry_after=wait)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _known(value: object) -> str | None:
    # IAM answers ServiceName/Region "N/A" for a key that was never used.
    return str(value) if value and value != "N/A" else None


def _planned(system: str, operation: str, request: dict[str, Any]) -> PlannedCall:
    return PlannedCall(system, operation, request)


def _dry(call: PlannedCall) -> Outcome:
    # No read either: a dry run must work when AWS is unreachable and leave no trace in CloudTrail.
    return Outcome(call, {}, {}, changed=False, dry_run=True, detail="dry run: nothing sent to AWS")


def settle(read: Callable[[], dict[str, object]], done: Callable[[dict[str, object]], bool],
           *, reads: int = SETTLE_READS, pause: float = SETTLE_PAUSE) -> dict[str, object]:
    """Read the state until `done` holds or `reads` run out; returns the last state read.

    IAM documents eventual consistency, so one stale read after a successful write is not yet a conflict.
    """
    state = read()
    for _ in range(reads - 1):
        if done(state):
            break
        time.sleep(pause)
        state = read()
    return state


class _Aws:
    """One boto3 client for one service: bounded timeouts, no botocore retries, every failure typed.

    Credentials come from boto3's chain and stay inside botocore: never in a message or a repr, and any
    echo of the secret key or session token in an AWS answer is masked.
    """

    def __init__(self, settings: AwsSettings, service: Service, system: str,
                 session: boto3.session.Session | None) -> None:
        if not settings.configured():
            raise ConfigError("AWS is disabled: set IRFLOW_AWS_ENABLED=true to contain keys and users in AWS",
                              system=system)
        if missing := settings.missing():
            raise ConfigError(f"the AWS connectors need {', '.join(missing)}", system=system)
        self.system, self.region, self.endpoint_url = system, settings.region, settings.endpoint_url
        self._timeout = settings.timeout
        self._session = session or boto3.session.Session()
        self._client = self._make_client(service, settings)

    def __repr__(self) -> str:
        return f"_Aws({self.system!r}, region={self.region!r}, endpoint_url={self.endpoint_url!r})"

    def _make_client(self, service: Service, settings: AwsSettings) -> Any:
        # botocore's `max_attempts` counts retries after the first try ({"max_attempts": 1} sends twice);
        # `total_max_attempts` counts tries, so 1 means exactly one request and our flows decide on retrying.
        config = Config(connect_timeout=settings.timeout, read_timeout=settings.timeout,
                        retries={"total_max_attempts": 1, "mode": "standard"})
        try:
            return self._session.client(service, region_name=settings.region, endpoint_url=settings.endpoint_url,
                                         config=config)
        except CREDENTIAL_ERRORS as exc:
            raise AuthError(f"no usable AWS credentials ({type(exc).__name__})", system=self.system) from exc
        except (BotoCoreError, ValueError) as exc:  # InvalidRegionError, "Invalid endpoint: ..."
            raise ConfigError(f"AWS_REGION or IRFLOW_AWS_ENDPOINT_URL is not usable ({type(exc).__name__})",
                              system=self.system) from exc

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call one AWS API operation by its API name (``UpdateAccessKey``); raises only ConnectorErrors."""
        method = getattr(self._client, xform_name(operation))
        # botocore's timeouts are fixed per client, so a step's deadline can only stop the next call here.
        deadline.request_timeout(self._timeout, system=self.system)
        try:
            answer: dict[str, Any] = method(**params)
        except ClientError as exc:
            raise _client_error(self.system, operation, exc, self._scrub) from exc
        except BotoCoreError as exc:
            raise self._botocore_error(operation, exc) from exc
        return answer

    def _botocore_error(self, operation: str, exc: BotoCoreError) -> ConnectorError:
        kind = type(exc).__name__
        if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
            return Unavailable(f"{operation}: no answer within {self._timeout:g}s ({kind})", system=self.system)
        if isinstance(exc, BotoConnectionError | HTTPClientError):
            where = self.endpoint_url or f"the {self.region} endpoint"
            return Unavailable(f"{operation}: cannot reach {where} ({kind})", system=self.system)
        if isinstance(exc, CREDENTIAL_ERRORS):
            return AuthError(f"{operation}: no usable AWS credentials in boto3's chain ({kind})", system=self.system)
        if isinstance(exc, ParamValidationError):
            return InvalidRequest(self._scrub(f"{operation}: {exc}"), system=self.system)
        return ConnectorError(f"{operation}: {kind}", system=self.system)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    def _secrets(self) -> list[str]:
        try:
            credentials = self._session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except BotoCoreError:
            return []
        if frozen is None:
            return []
        return [s for s in (frozen.secret_key, frozen.token) if s]


class IamKeys:
    """KeyRevoker for IAM access keys: the key is its access key id (``AKIA...``), never its secret.

    The owning IAM user is looked up with GetAccessKeyLastUsed, which needs only the key id; a key owned by
    another account is refused by AWS (AuthError or NotFound, as AWS answers), not contained from here.
    """

    system = SYSTEM_IAM

    def __init__(self, settings: AwsSettings, *, session: boto3.session.Session | None = None) -> None:
        self._aws = _Aws(settings, "iam", SYSTEM_IAM, session)

    def __repr__(self) -> str:
        return f"IamKeys(region={self._aws.region!r}, endpoint_url={self._aws.endpoint_url!r})"

    def info(self, key: str) -> dict[str, object]:
        """Status, owner and last use of the key, for enrichment and for the record; NotFound when IAM has none."""
        owner = self._aws.call("GetAccessKeyLastUsed", AccessKeyId=key)
        user = owner.get("UserName")
        if not isinstance(user, str) or not user:
            raise InvalidRequest("no IAM user owns this access key (a root user key?); rotate it in the console",
                                 system=SYSTEM_IAM)
        meta = self._metadata(user, key)
        if meta is None:
            raise NotFound(f"IAM user {user!r} has no access key {key}", system=SYSTEM_IAM)
        last: Mapping[str, Any] = owner.get("AccessKeyLastUsed") or {}
        return {"access_key_id": key, "user": user, "status": meta.get("Status"),
                "blocked": meta.get("Status") == INACTIVE, "created": _iso(meta.get("CreateDate")),
                "last_used": _iso(last.get("LastUsedDate")), "last_used_service": _known(last.get("ServiceName")),
                "last_used_region": _known(last.get("Region"))}

    def block(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Make AWS refuse every request signed with this key (UpdateAccessKey Inactive); inverse: `unblock`."""
        return self._set_status(key, INACTIVE, dry_run)

    def unblock(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Let the key sign requests again (UpdateAccessKey Active); inverse: `block`."""
        return self._set_status(key, ACTIVE, dry_run)

    def delete(self, key: str, *, dry_run: bool = False) -> Outcome:
        """Delete the key (DeleteAccessKey).

        Irreversible: `before` keeps the key's owner and last use for the record; the secret was never read.
        """
        call = _planned(SYSTEM_IAM, "DeleteAccessKey", {"AccessKeyId": key})
        if dry_run:
            return _dry(call)
        try:
            before: dict[str, object] = {**self.info(key), "exists": True}
        except NotFound:
            gone = {"exists": False}
            return Outcome(call, gone, gone, changed=False, detail="already deleted")
        user = str(before["user"])
        call = _planned(SYSTEM_IAM, "DeleteAccessKey", {"UserName": user, "AccessKeyId": key})
        self._aws.call("DeleteAccessKey", UserName=user, AccessKeyId=key)
        after = settle(lambda: {"exists": self._metadata(user, key) is not None}, lambda s: not s["exists"])
        if after["exists"]:
            raise Conflict("IAM answered OK to DeleteAccessKey but still lists the key", system=SYSTEM_IAM)
        return Outcome(call, before, after, changed=True, detail=IRREVERSIBLE)

    def _set_status(self, key: str, status: str, dry_run: bool) -> Outcome:
        call = _planned(SYSTEM_IAM, "UpdateAccessKey", {"AccessKeyId": key, "Status": status})
        if dry_run:
            return _dry(call)
        before = self.info(key)
        if before["status"] == status:
            detail = "already blocked" if status == INACTIVE else "already unblocked"
            return Outcome(call, before, before, changed=False, detail=detail)
        user = str(before["user"])
        call = _planned(SYSTEM_IAM, "UpdateAccessKey", {"UserName": user, "AccessKeyId": key, "Status": status})
        self._aws.call("UpdateAccessKey", UserName=user, AccessKeyId=key, Status=status)
        after = settle(lambda: self.info(key), lambda s: s["status"] == status)
        if after["status"] != status:
            raise Conflict(f"IAM answered OK to UpdateAccessKey but the key is {after['status']}", system=SYSTEM_IAM)
        return Outcome(call, before, after, changed=True)

    def _metadata(self, user: str, key: str) -> dict[str, Any] | None:
        """The key's entry in ListAccessKeys (IAM has no single-key read that reports the status)."""
        params: dict[str, str] = {"UserName": user}
        while True:
            page = self._aws.call("ListAccessKeys", **params)
            for meta in page.get("AccessKeyMetadata", []):
                if meta.get("AccessKeyId") == key:
                    return dict(meta)
            if not page.get("IsTruncated") or not page.get("Marker"):
                return None
            params["Marker"] = str(page["Marker"])


class CognitoUsers:
    """UserBlocker for the accounts of one Cognito user pool (IRFLOW_AWS_COGNITO_USER_POOL_ID).

    Suspending disables the account so it cannot sign in; `revoke_sessions` ends the sessions it already has.
    """

    system = SYSTEM_COGNITO

    def __init__(self, settings: AwsSettings, *, session: boto3.session.Session | None = None) -> None:
        self._aws = _Aws(settings, "cognito-idp", SYSTEM_COGNITO, session)
        if settings.cognito_user_pool_id is None:
            raise ConfigError(f"the Cognito connector needs {USER_POOL_ENV}", system=SYSTEM_COGNITO)
        self.user_pool_id = settings.cognito_user_pool_id

    def __repr__(self) -> str:
        return f"CognitoUsers({self.user_pool_id!r}, region={self._aws.region!r})"

    def info(self, user: str) -> dict[str, object]:
        """The account as AdminGetUser describes it (enabled, status); NotFound when the pool has no such user."""
        body = self._aws.call("AdminGetUser", UserPoolId=self.user_pool_id, Username=user)
        enabled = bool(body.get("Enabled"))
        return {"user": body.get("Username", user), "enabled": enabled, "blocked": not enabled,
                "status": body.get("UserStatus"), "modified": _iso(body.get("UserLastModifiedDate"))}

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Stop the account signing in (AdminDisableUser); inverse: `unsuspend`."""
        return self._set_enabled(user, False, dry_run)

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Let the account sign in again (AdminEnableUser); inverse: `suspend`."""
        return self._set_enabled(user, True, dry_run)

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Sign the account out of every device (AdminUserGlobalSignOut) so a stolen refresh token dies too.

        Cognito keeps no readable session state, so this always sends and reports a change; there is no
        inverse: the user signs in again once unsuspended.
        """
        call = self._planned("AdminUserGlobalSignOut", user)
        if dry_run:
            return _dry(call)
        before = self.info(user)
        self._aws.call("AdminUserGlobalSignOut", UserPoolId=self.user_pool_id, Username=user)
        return Outcome(call, before, self.info(user), changed=True, detail=SIGNED_OUT)

    def _set_enabled(self, user: str, enabled: bool, dry_run: bool) -> Outcome:
        operation = "AdminEnableUser" if enabled else "AdminDisableUser"
        call = self._planned(operation, user)
        if dry_run:
            return _dry(call)
        before = self.info(user)
        if before["enabled"] is enabled:
            detail = "already unsuspended" if enabled else "already suspended"
            return Outcome(call, before, before, changed=False, detail=detail)
        self._aws.call(operation, UserPoolId=self.user_pool_id, Username=user)
        after = settle(lambda: self.info(user), lambda s: s["enabled"] is enabled)
        if after["enabled"] is not enabled:
            raise Conflict(f"Cognito answered OK to {operation} but the account is unchanged", system=SYSTEM_COGNITO)
        return Outcome(call, before, after, changed=True)

    def _planned(self, operation: str, user: str) -> PlannedCall:
        return _planned(SYSTEM_COGNITO, operation, {"UserPoolId": self.user_pool_id, "Username": user})
