"""Contract tests, the real AWS clients only: AWS's error answers (a tiny loopback speaking the IAM Query and
Cognito JSON protocols for throttles and the rest), unreachable endpoints, credentials, secrets kept out of
messages, and the opt-in settings: AWS is never switched on by ambient credentials."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("boto3")
pytest.importorskip("moto.server")

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
from tests.contract.aws_rig import (  # noqa: E402
    SECRET,
    UNKNOWN_KEY,
    Loopback,
    Moto,
    _call_cognito,
    _call_iam,
    closed_port_url,
    settings_for,
)
from tests.contract.aws_rig import (  # noqa: E402, F401 - fixtures, found by name; aws_env is autouse
    fixture_account,
    fixture_aws_env,
    fixture_keys,
    fixture_loopback,
    fixture_moto,
    fixture_users,
)


# --- the real clients only: errors on the wire ----------------------------------------------------------
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
