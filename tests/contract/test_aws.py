"""Contract tests: the AWS connectors and the embedded twin keep the same promises through the Protocols.

The real `IamKeys` / `CognitoUsers` talk real HTTP to a moto server on loopback, and every containment is
verified at the target with a separate boto3 client; the same suites run against the local twin. Then
what only the real clients have: AWS's error answers (a tiny loopback speaking the IAM Query and Cognito
JSON protocols for throttles and the rest), unreachable endpoints, credentials, and the opt-in settings.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

import botocore.session  # noqa: E402
from sqlalchemy import select  # noqa: E402

from irflow.connectors.aws.client import CognitoUsers, IamKeys, settle  # noqa: E402
from irflow.connectors.aws.settings import AwsSettings  # noqa: E402
from irflow.connectors.errors import (  # noqa: E402
    AuthError,
    ConfigError,
    Conflict,
    ConnectorError,
    InvalidRequest,
    NotFound,
    RateLimited,
    Unavailable,
)
from irflow.connectors.gateway.interface import KeyRevoker, UserBlocker  # noqa: E402
from irflow.connectors.gateway.local import LocalGateway  # noqa: E402
from irflow.store.engine import Database  # noqa: E402
from irflow.store.tables import GatewayBlockRow  # noqa: E402

SECRET = "wJalrXUtnFEMI-irflow-test-secret-do-not-log"
REGION = "us-east-1"
COGNITO_USER, PASSWORD = "alice@example.com", "Corr3ct-Horse-Battery!"
UNKNOWN_KEY = "AKIAIOSFODNN7EXAMPLE"
READS = ("Get", "List", "AdminGet", "AdminInitiate")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials only, and no other source boto3 could fall back on (files, instance metadata)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def settings_for(url: str, *, pool: str | None = None, timeout: float = 2.0) -> AwsSettings:
    return AwsSettings(enabled=True, endpoint_url=url, region=REGION, timeout=timeout, cognito_user_pool_id=pool)


@dataclass
class Account:
    """The moto server and what every test shares: one user pool (creating one costs ~0.1 s), the clients
    the tests read the target with, and one botocore session so service models load once."""

    url: str
    core: botocore.session.Session
    iam: Any
    idp: Any
    pool: str


@pytest.fixture(scope="module")
def account() -> Iterator[Account]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url, core = f"http://{host}:{port}", botocore.session.Session()
    fake = {"aws_access_key_id": "testing", "aws_secret_access_key": SECRET, "region_name": REGION}
    session = boto3.session.Session(botocore_session=core)
    iam, idp = session.client("iam", endpoint_url=url, **fake), session.client("cognito-idp", endpoint_url=url, **fake)
    yield Account(url, core, iam, idp, idp.create_user_pool(PoolName="chat-app")["UserPool"]["Id"])
    server.stop()


@dataclass
class Moto:
    """One test's IAM user, access key and Cognito account, read back at moto; the operations its
    connectors sent, noted just before each went on the wire. A botocore client copies the session's
    handlers when it is made, so the reading clients, made before any test, never note anything."""

    account: Account
    name: str
    key: str = ""
    sent: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        account = self.account
        self.url, self.pool, self.iam, self.idp = account.url, account.pool, account.iam, account.idp
        self.iam_user, self.user = f"svc-{self.name}", f"{self.name}@example.com"
        self.iam.create_user(UserName=self.iam_user)
        self.key = self.iam.create_access_key(UserName=self.iam_user)["AccessKey"]["AccessKeyId"]
        self.idp.admin_create_user(UserPoolId=self.pool, Username=self.user)
        self.account.core.register("before-send", self._note, unique_id=f"irflow-{self.name}")

    def _note(self, **event: Any) -> None:
        self.sent.append(str(event["event_name"]).split(".")[-1])

    def close(self) -> None:
        self.account.core.unregister("before-send", unique_id=f"irflow-{self.name}")

    def session(self) -> Any:
        return boto3.session.Session(botocore_session=self.account.core)

    def writes(self) -> tuple[str, ...]:
        return tuple(op for op in self.sent if not op.startswith(READS))

    def key_status(self) -> str | None:
        keys = self.iam.list_access_keys(UserName=self.iam_user)["AccessKeyMetadata"]
        return next((k["Status"] for k in keys if k["AccessKeyId"] == self.key), None)

    def user_enabled(self) -> bool:
        return bool(self.idp.admin_get_user(UserPoolId=self.pool, Username=self.user)["Enabled"])

    def state(self) -> object:
        user = self.idp.admin_get_user(UserPoolId=self.pool, Username=self.user)
        keys = self.iam.list_access_keys(UserName=self.iam_user)["AccessKeyMetadata"]
        return (tuple((k["AccessKeyId"], k["Status"]) for k in keys),
                user["Enabled"], user["UserStatus"], user["UserLastModifiedDate"])


@pytest.fixture
def moto(account: Account) -> Iterator[Moto]:
    made = Moto(account, uuid.uuid4().hex[:12])
    yield made
    made.close()


@pytest.fixture
def keys(moto: Moto) -> IamKeys:
    return IamKeys(settings_for(moto.url), session=moto.session())


@pytest.fixture
def users(moto: Moto) -> CognitoUsers:
    return CognitoUsers(settings_for(moto.url, pool=moto.pool), session=moto.session())


@dataclass
class Rig:
    """One target behind the Protocols, what it holds for the key and user, and a view of its writes."""

    keys: KeyRevoker
    users: UserBlocker
    key: str
    user: str
    key_refused: Callable[[], bool]
    user_refused: Callable[[], bool]
    writes: Callable[[], object]


@pytest.fixture(params=["aws", "local"])
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "aws":
        m: Moto = request.getfixturevalue("moto")
        keys, users = IamKeys(settings_for(m.url), session=m.session()), CognitoUsers(
            settings_for(m.url, pool=m.pool), session=m.session())
        yield Rig(keys, users, m.key, m.user, lambda: m.key_status() != "Active",
                  lambda: not m.user_enabled(), lambda: (m.writes(), m.state()))
        return
    db = Database(f"sqlite:///{tmp_path}/t.db")
    db.upgrade()
    gw = LocalGateway(db)

    def rows() -> object:
        with db.tx() as s:
            return tuple((r.kind, r.value, r.blocked, r.reason) for r in s.scalars(select(GatewayBlockRow)))

    key = "AKIA-local-twin-key"
    yield Rig(gw.keys, gw.users, key, COGNITO_USER, lambda: not gw.check(key=key).allowed,
              lambda: not gw.check(user=COGNITO_USER).allowed, rows)
    db.dispose()


# --- KeyRevoker contract: IAM over moto and the twin ----------------------------------------------------
def test_both_satisfy_the_protocols(rig: Rig) -> None:
    assert isinstance(rig.keys, KeyRevoker) and isinstance(rig.users, UserBlocker)


def test_block_then_unblock_restores_the_key_at_the_target(rig: Rig) -> None:
    assert rig.keys.info(rig.key)["blocked"] is False and not rig.key_refused()
    done = rig.keys.block(rig.key)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.key_refused()
    undone = rig.keys.unblock(rig.key)
    assert undone.changed and undone.after["blocked"] is False
    assert not rig.key_refused() and rig.keys.info(rig.key)["blocked"] is False


def test_blocking_twice_is_idempotent(rig: Rig) -> None:
    rig.keys.block(rig.key)
    written = rig.writes()
    again = rig.keys.block(rig.key)
    assert (again.changed, again.detail) == (False, "already blocked")
    assert rig.writes() == written


def test_unblocking_an_unblocked_key_changes_nothing(rig: Rig) -> None:
    outcome = rig.keys.unblock(rig.key)
    assert (outcome.changed, outcome.detail) == (False, "already unblocked")


@pytest.mark.parametrize("operation", ["block", "unblock", "delete"])
def test_dry_run_makes_no_write(rig: Rig, operation: str) -> None:
    if operation == "unblock":
        rig.keys.block(rig.key)
    state, written, refused = rig.keys.info(rig.key), rig.writes(), rig.key_refused()
    planned = getattr(rig.keys, operation)(rig.key, dry_run=True)
    assert planned.dry_run and not planned.changed
    assert rig.writes() == written and rig.key_refused() is refused
    assert rig.keys.info(rig.key) == state


def test_deleting_twice_is_idempotent_and_the_key_is_refused(rig: Rig) -> None:
    assert rig.keys.delete(rig.key).changed and rig.key_refused()
    again = rig.keys.delete(rig.key)
    assert (again.changed, again.detail) == (False, "already deleted")


# --- UserBlocker contract: Cognito over moto and the twin -----------------------------------------------
def test_suspend_then_unsuspend_restores_the_user_at_the_target(rig: Rig) -> None:
    done = rig.users.suspend(rig.user)
    assert done.changed and done.before["blocked"] is False and done.after["blocked"] is True
    assert rig.user_refused() and rig.users.info(rig.user)["blocked"] is True
    undone = rig.users.unsuspend(rig.user)
    assert undone.changed and undone.after["blocked"] is False
    assert not rig.user_refused()


def test_suspending_twice_is_idempotent(rig: Rig) -> None:
    rig.users.suspend(rig.user)
    written = rig.writes()
    again = rig.users.suspend(rig.user)
    assert (again.changed, again.detail) == (False, "already suspended")
    assert rig.writes() == written
    assert rig.users.unsuspend(rig.user).changed
    assert rig.users.unsuspend(rig.user).detail == "already unsuspended"


@pytest.mark.parametrize("operation", ["suspend", "unsuspend", "revoke_sessions"])
def test_user_dry_runs_make_no_write(rig: Rig, operation: str) -> None:
    if operation == "unsuspend":
        rig.users.suspend(rig.user)
    state, written = rig.users.info(rig.user), rig.writes()
    outcome = getattr(rig.users, operation)(rig.user, dry_run=True)
    assert outcome.dry_run and not outcome.changed
    assert rig.writes() == written and rig.users.info(rig.user) == state


def test_revoke_sessions_leaves_the_block_state_and_says_so(rig: Rig) -> None:
    outcome = rig.users.revoke_sessions(rig.user)
    assert "session" in outcome.detail and not rig.user_refused()
    assert outcome.after["blocked"] == outcome.before.get("blocked", False)


# --- the real clients only: IAM -------------------------------------------------------------------------
def test_info_names_the_owner_status_and_last_use(moto: Moto, keys: IamKeys) -> None:
    info = keys.info(moto.key)
    assert (info["user"], info["status"], info["blocked"]) == (moto.iam_user, "Active", False)
    assert info["last_used"] is None and info["last_used_service"] is None and info["created"]


def test_block_records_the_owner_in_the_call_and_sends_one_write(moto: Moto, keys: IamKeys) -> None:
    done = keys.block(moto.key)
    assert done.call.describe() == "aws_iam: UpdateAccessKey"
    assert done.call.request == {"UserName": moto.iam_user, "AccessKeyId": moto.key, "Status": "Inactive"}
    assert moto.writes() == ("UpdateAccessKey",) and moto.key_status() == "Inactive"


def test_a_dry_run_sends_nothing_at_all(moto: Moto, keys: IamKeys, users: CognitoUsers) -> None:
    planned = keys.block(moto.key, dry_run=True)
    assert planned.call.request == {"AccessKeyId": moto.key, "Status": "Inactive"}
    users.revoke_sessions(moto.user, dry_run=True)
    assert moto.sent == []


def test_a_deleted_key_is_gone_and_cannot_be_unblocked(moto: Moto, keys: IamKeys) -> None:
    done = keys.delete(moto.key)
    assert done.before["exists"] is True and done.before["user"] == moto.iam_user and "irreversible" in done.detail
    assert moto.key_status() is None
    with pytest.raises(NotFound):
        keys.info(moto.key)
    with pytest.raises(NotFound):
        keys.unblock(moto.key)


def test_an_unknown_key_is_not_found_and_nothing_is_written(moto: Moto, keys: IamKeys) -> None:
    with pytest.raises(NotFound) as caught:
        keys.block(UNKNOWN_KEY)
    assert caught.value.status == 404 and not caught.value.retryable and moto.writes() == ()


# --- the real clients only: Cognito ---------------------------------------------------------------------
def test_unknown_user_and_unknown_pool_are_not_found(moto: Moto, users: CognitoUsers) -> None:
    with pytest.raises(NotFound):
        users.suspend("mallory@example.com")
    with pytest.raises(NotFound, match="ResourceNotFoundException"):
        CognitoUsers(settings_for(moto.url, pool="us-east-1_Nope0000")).info(moto.user)
    assert moto.writes() == ()


def test_revoke_sessions_kills_a_refresh_token_at_the_target(moto: Moto, users: CognitoUsers) -> None:
    app = moto.idp.create_user_pool_client(UserPoolId=moto.pool, ClientName="web",
                                           ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH",
                                                              "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    moto.idp.admin_set_user_password(UserPoolId=moto.pool, Username=moto.user, Password=PASSWORD, Permanent=True)
    tokens = moto.idp.admin_initiate_auth(UserPoolId=moto.pool, ClientId=app, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                          AuthParameters={"USERNAME": moto.user, "PASSWORD": PASSWORD})
    refresh = tokens["AuthenticationResult"]["RefreshToken"]
    assert users.revoke_sessions(moto.user).changed and moto.writes() == ("AdminUserGlobalSignOut",)
    with pytest.raises(moto.idp.exceptions.NotAuthorizedException):
        moto.idp.admin_initiate_auth(UserPoolId=moto.pool, ClientId=app, AuthFlow="REFRESH_TOKEN_AUTH",
                                     AuthParameters={"REFRESH_TOKEN": refresh})


# --- the real clients only: errors on the wire ----------------------------------------------------------
class Loopback(ThreadingHTTPServer):
    """Answers every request with one canned AWS error, as IAM (Query/XML) or Cognito (JSON 1.1) would."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Answer)
        self.status, self.body, self.delay, self.hits = 400, b"", 0.0, 0
        self.headers: dict[str, str] = {}
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, status: int, code: str, *, json_protocol: bool, message: str = "Rate exceeded",
               headers: dict[str, str] | None = None) -> None:
        if json_protocol:
            self.body = json.dumps({"__type": code, "message": message}).encode()
            self.headers = {"Content-Type": "application/x-amz-json-1.1", **(headers or {})}
        else:
            self.body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                         "</Error><RequestId>irflow-test</RequestId></ErrorResponse>").encode()
            self.headers = {"Content-Type": "text/xml", **(headers or {})}
        self.status = status


class _Answer(BaseHTTPRequestHandler):
    server: Loopback

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1
        time.sleep(self.server.delay)
        self.send_response(self.server.status)
        for name, value in {**self.server.headers, "Content-Length": str(len(self.server.body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _call_iam(url: str, timeout: float = 2.0) -> object:
    return IamKeys(settings_for(url, timeout=timeout)).block(UNKNOWN_KEY)


def _call_cognito(url: str, timeout: float = 2.0) -> object:
    return CognitoUsers(settings_for(url, pool="us-east-1_Pool0000", timeout=timeout)).suspend(COGNITO_USER)


@pytest.mark.parametrize(("json_protocol", "code", "header", "seconds"), [
    (False, "Throttling", None, 1.0),
    (False, "Throttling", "7", 7.0),
    (True, "TooManyRequestsException", None, 1.0),
    (True, "ThrottlingException", "2.5", 2.5),
])
def test_a_throttle_is_rate_limited_and_botocore_does_not_retry(loopback: Loopback, json_protocol: bool, code: str,
                                                                header: str | None, seconds: float) -> None:
    loopback.answer(400, code, json_protocol=json_protocol, headers={"Retry-After": header} if header else None)
    with pytest.raises(RateLimited, match=code) as caught:
        (_call_cognito if json_protocol else _call_iam)(loopback.url)
    assert caught.value.retry_after == seconds and caught.value.retryable and caught.value.status == 400
    assert loopback.hits == 1


@pytest.mark.parametrize(("json_protocol", "status", "code", "error"), [
    (False, 403, "AccessDenied", AuthError),
    (False, 403, "InvalidClientTokenId", AuthError),
    (False, 403, "SignatureDoesNotMatch", AuthError),
    (False, 400, "ValidationError", InvalidRequest),
    (False, 404, "NoSuchEntity", NotFound),
    (False, 409, "EntityAlreadyExists", Conflict),
    (False, 500, "ServiceFailure", Unavailable),
    (True, 400, "UnrecognizedClientException", AuthError),
    (True, 400, "NotAuthorizedException", AuthError),
    (True, 400, "InvalidParameterException", InvalidRequest),
    (True, 400, "UserNotFoundException", NotFound),
    (True, 400, "ResourceNotFoundException", NotFound),
    (True, 503, "SomethingNew", Unavailable),
])
def test_aws_error_codes_map_to_typed_errors(loopback: Loopback, json_protocol: bool, status: int, code: str,
                                             error: type[ConnectorError]) -> None:
    loopback.answer(status, code, json_protocol=json_protocol, message="Rate exceeded? no: access denied")
    with pytest.raises(ConnectorError) as caught:
        (_call_cognito if json_protocol else _call_iam)(loopback.url)
    assert type(caught.value) is error and caught.value.status == status
    assert loopback.hits == 1


def test_no_answer_in_time_is_unavailable(loopback: Loopback) -> None:
    loopback.delay = 1.0
    with pytest.raises(Unavailable, match="no answer within 0.2s"):
        _call_iam(loopback.url, timeout=0.2)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("call", [_call_iam, _call_cognito])
def test_a_closed_port_is_unavailable(call: Callable[[str], object]) -> None:
    with pytest.raises(Unavailable, match="cannot reach") as caught:
        call(closed_port_url())
    assert caught.value.retryable


def test_no_credentials_anywhere_is_an_auth_error(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(AuthError, match="NoCredentialsError"):
        IamKeys(settings_for(moto.url)).info(moto.key)


def test_the_secret_key_is_in_no_error_message_or_repr(loopback: Loopback, moto: Moto, keys: IamKeys,
                                                       users: CognitoUsers) -> None:
    failures: list[ConnectorError] = []
    loopback.answer(403, "SignatureDoesNotMatch", json_protocol=False, message=f"signed with {SECRET}")
    for attempt in (lambda: _call_iam(loopback.url), lambda: keys.info(UNKNOWN_KEY),
                    lambda: users.info("nobody"), lambda: _call_iam(closed_port_url())):
        with pytest.raises(ConnectorError) as caught:
            attempt()
        failures.append(caught.value)
    texts = [t for e in failures for t in (str(e), repr(e))]
    texts += [repr(keys), repr(users), repr(settings_for(moto.url)), str(settings_for(moto.url))]
    assert "signed with **********" in texts[0] and not [t for t in texts if SECRET in t]


def test_settle_rereads_a_lagging_state_then_gives_up() -> None:
    states = iter([{"s": "Active"}, {"s": "Inactive"}])
    assert settle(lambda: next(states), lambda s: s["s"] == "Inactive", pause=0) == {"s": "Inactive"}
    reads: list[dict[str, object]] = []

    def stale() -> dict[str, object]:
        reads.append({"s": "Active"})
        return reads[-1]

    assert settle(stale, lambda s: False, reads=3, pause=0) == {"s": "Active"} and len(reads) == 3


# --- settings: AWS is opt-in, never switched on by ambient credentials ----------------------------------
def test_ambient_credentials_alone_never_enable_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IRFLOW_AWS_ENABLED", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENTCREDS0000")
    monkeypatch.setenv("AWS_PROFILE", "production")
    settings = AwsSettings()
    assert not settings.configured() and settings.missing() == []
    with pytest.raises(ConfigError, match="IRFLOW_AWS_ENABLED"):
        IamKeys(settings)


def test_env_settings_drive_the_real_client(moto: Moto, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRFLOW_AWS_ENABLED", "true")
    monkeypatch.setenv("IRFLOW_AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("IRFLOW_AWS_COGNITO_USER_POOL_ID", moto.pool)
    monkeypatch.setenv("IRFLOW_AWS_TIMEOUT", "3")
    settings = AwsSettings()
    assert settings.configured() and settings.missing() == [] and settings.timeout == 3.0
    assert IamKeys(settings).block(moto.key).changed and moto.key_status() == "Inactive"
    assert CognitoUsers(settings).suspend(moto.user).changed and not moto.user_enabled()


@pytest.mark.parametrize(("env", "region"), [
    ({}, "us-east-1"),
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, "eu-west-1"),
    ({"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-central-1"}, "eu-central-1"),
    ({"AWS_REGION": "eu-central-1", "IRFLOW_AWS_REGION": "ap-south-1"}, "ap-south-1"),
])
def test_the_region_comes_from_the_usual_variables(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                                   region: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert AwsSettings().region == region


def test_an_enabled_setup_with_a_blank_region_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRFLOW_AWS_ENABLED", "true")
    monkeypatch.setenv("AWS_REGION", " ")
    assert AwsSettings().missing() == ["AWS_REGION"]
    with pytest.raises(ConfigError, match="AWS_REGION"):
        IamKeys(AwsSettings())


def test_cognito_needs_its_user_pool_but_iam_does_not(moto: Moto) -> None:
    settings = settings_for(moto.url)
    assert IamKeys(settings).info(moto.key)["user"] == moto.iam_user
    with pytest.raises(ConfigError, match="IRFLOW_AWS_COGNITO_USER_POOL_ID"):
        CognitoUsers(settings)
    with pytest.raises(ValueError, match="IRFLOW_AWS_TIMEOUT"):
        AwsSettings(enabled=True, timeout=0)
