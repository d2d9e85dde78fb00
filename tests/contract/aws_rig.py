"""What the AWS contract tests share: fake credentials only (an autouse fixture every test module must import),
one moto server per test module with a user pool, each test's IAM user, key and Cognito account read back at
moto, the rig that runs the Protocol suites against moto and the twin, and a tiny loopback that answers with one
canned AWS error. The fixtures are defined as fixture_<name>, so a test module imports them without its
parameters shadowing the import. Importing this module skips the importing test module without boto3 or moto.
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
from irflow.connectors.aws.client import CognitoUsers, IamKeys  # noqa: E402
from irflow.connectors.aws.settings import AwsSettings  # noqa: E402
from irflow.connectors.gateway.interface import KeyRevoker, UserBlocker  # noqa: E402

from tests.contract.gateway_twin import local_gateway  # noqa: E402

SECRET = "wJalrXUtnFEMI-irflow-test-secret-do-not-log"
REGION = "us-east-1"
COGNITO_USER, PASSWORD = "alice@example.com", "Corr3ct-Horse-Battery!"
UNKNOWN_KEY = "AKIAIOSFODNN7EXAMPLE"
READS = ("Get", "List", "AdminGet", "AdminInitiate")


@pytest.fixture(name="aws_env", autouse=True)
def fixture_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
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


@pytest.fixture(name="account", scope="module")
def fixture_account() -> Iterator[Account]:
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


@pytest.fixture(name="moto")
def fixture_moto(account: Account) -> Iterator[Moto]:
    made = Moto(account, uuid.uuid4().hex[:12])
    yield made
    made.close()


@pytest.fixture(name="keys")
def fixture_keys(moto: Moto) -> IamKeys:
    return IamKeys(settings_for(moto.url), session=moto.session())


@pytest.fixture(name="users")
def fixture_users(moto: Moto) -> CognitoUsers:
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


@pytest.fixture(name="rig", params=["aws", "local"])
def fixture_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    if request.param == "aws":
        m: Moto = request.getfixturevalue("moto")
        keys, users = IamKeys(settings_for(m.url), session=m.session()), CognitoUsers(
            settings_for(m.url, pool=m.pool), session=m.session())
        yield Rig(keys, users, m.key, m.user, lambda: m.key_status() != "Active",
                  lambda: not m.user_enabled(), lambda: (m.writes(), m.state()))
        return
    key = "AKIA-local-twin-key"
    with local_gateway(tmp_path) as (gw, rows):
        yield Rig(gw.keys, gw.users, key, COGNITO_USER, lambda: not gw.check(key=key).allowed,
                  lambda: not gw.check(user=COGNITO_USER).allowed, rows)


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


@pytest.fixture(name="loopback")
def fixture_loopback() -> Iterator[Loopback]:
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


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"
