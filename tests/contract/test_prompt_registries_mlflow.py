"""Contract tests, the real MLflow registry only: it leaves no file outside its tmp dir, honours the configured
alias, types an MLflow server's errors (a loopback having a bad day) and its own error codes, masks passwords
in URIs, and reads MLflow's own settings."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

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
from irflow.connectors.mlflow.client import MlflowPrompts, redact_uri, translate
from irflow.connectors.mlflow.settings import MlflowSettings
from tests.conftest import REPO
from tests.contract.prompt_registry_rig import ALIAS, MlflowStore, Rig, _mlflow_serving, _seed_mlflow
from tests.contract.prompt_registry_rig import (  # noqa: F401 - fixtures, found by name
    fixture_clean_env,
    fixture_mlflow_store,
)


# --- MLflow only ---------------------------------------------------------------------------------------
@pytest.mark.integration
def test_mlflow_writes_nothing_outside_its_tmp_dir(mlflow_store: MlflowStore) -> None:
    name = Rig(mlflow_store.registry, _seed_mlflow(mlflow_store), _mlflow_serving(mlflow_store)).fresh()
    mlflow_store.registry.rollback(name)
    assert sorted(p.name for p in mlflow_store.root.iterdir()) == ["home", "mlflow.db"]
    assert list(mlflow_store.home.iterdir()) == []  # no ~/.config/mlflow telemetry id
    assert not (REPO / "mlruns").exists() and not (REPO / "mlflow.db").exists()
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ  # irflow's limits are restored after each call


@pytest.mark.integration
def test_mlflow_defaults_to_the_configured_alias(mlflow_store: MlflowStore) -> None:
    name = Rig(mlflow_store.registry, _seed_mlflow(mlflow_store), _mlflow_serving(mlflow_store)).fresh()
    mlflow_store.raw.set_prompt_alias(name, "live", 2)
    live = MlflowPrompts(MlflowSettings(tracking_uri=mlflow_store.uri, alias="live"))
    outcome = live.rollback(name)
    assert outcome.before["alias"] == "live" and outcome.after["version"] == 1
    assert int(mlflow_store.raw.get_prompt_version_by_alias(name, ALIAS).version) == 3


class _MlflowFaults(BaseHTTPRequestHandler):
    """Every request gets the status and body the server was given: an MLflow REST server having a bad day."""

    def _serve(self) -> None:
        status, body, delay = self.server.answer  # type: ignore[attr-defined]
        time.sleep(delay)
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: that is what the timeout tests want

    do_GET = do_POST = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture
def mlflow_faults(mlflow_store: MlflowStore) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MlflowFaults)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _over_http(server: ThreadingHTTPServer, status: int, body: object, delay: float = 0.0) -> MlflowPrompts:
    server.answer = (status, body if isinstance(body, str) else json.dumps(body), delay)  # type: ignore[attr-defined]
    return MlflowPrompts(MlflowSettings(tracking_uri=f"http://127.0.0.1:{server.server_port}", timeout=1))


@pytest.mark.integration
@pytest.mark.parametrize(("status", "code", "kind"), [
    (401, "UNAUTHENTICATED", AuthError), (403, "PERMISSION_DENIED", AuthError),
    (404, "RESOURCE_DOES_NOT_EXIST", NotFound), (400, "INVALID_PARAMETER_VALUE", InvalidRequest),
])
def test_mlflow_server_errors_are_typed_by_error_code(mlflow_faults: ThreadingHTTPServer, status: int, code: str,
                                                      kind: type[ConnectorError]) -> None:
    registry = _over_http(mlflow_faults, status, {"error_code": code, "message": f"loopback {code}"})
    with pytest.raises(kind) as caught:
        registry.roll_forward("support-bot", 1)
    assert caught.value.status == status and f"[{code}]" in str(caught.value)


@pytest.mark.integration
@pytest.mark.parametrize(("status", "code"), [(503, "TEMPORARILY_UNAVAILABLE"), (500, "INTERNAL_ERROR"),
                                              (429, "REQUEST_LIMIT_EXCEEDED")])
def test_mlflow_transient_answers_are_unavailable_at_once(mlflow_faults: ThreadingHTTPServer, status: int,
                                                          code: str) -> None:
    registry = _over_http(mlflow_faults, status, {"error_code": code, "message": f"loopback {code}"})
    started = time.monotonic()
    with pytest.raises(Unavailable, match="answered 408/429/5xx") as caught:
        registry.rollback("support-bot")
    assert caught.value.retryable
    assert time.monotonic() - started < 3  # MLflow's own retries (minutes of backoff by default) are off


@pytest.mark.integration
def test_mlflow_url_that_is_not_an_mlflow_server_is_a_config_error(mlflow_faults: ThreadingHTTPServer) -> None:
    with pytest.raises(ConfigError) as caught:  # 404 without MLflow's JSON: ENDPOINT_NOT_FOUND
        _over_http(mlflow_faults, 404, "<html>Not Found</html>").current_version("p")
    assert caught.value.status == 404 and "ENDPOINT_NOT_FOUND" in str(caught.value)


@pytest.mark.integration
def test_mlflow_slow_or_unreachable_server_is_unavailable(mlflow_faults: ThreadingHTTPServer) -> None:
    with pytest.raises(Unavailable, match="no answer in time"):
        _over_http(mlflow_faults, 200, "{}", delay=2.5).current_version("p")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = MlflowPrompts(MlflowSettings(tracking_uri=f"http://127.0.0.1:{port}", timeout=1))
    with pytest.raises(Unavailable, match="cannot reach the MLflow server"):
        unreachable.current_version("p")


@pytest.mark.integration
def test_mlflow_uri_it_cannot_serve_prompts_from_is_a_config_error(mlflow_store: MlflowStore) -> None:
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI"):
        MlflowPrompts(MlflowSettings(tracking_uri="nosuch://registry")).current_version("p")


@pytest.mark.integration
@pytest.mark.parametrize(("code", "kind"), [
    ("RESOURCE_DOES_NOT_EXIST", NotFound), ("INVALID_PARAMETER_VALUE", InvalidRequest),
    ("PERMISSION_DENIED", AuthError), ("UNAUTHENTICATED", AuthError), ("TEMPORARILY_UNAVAILABLE", Unavailable),
    ("REQUEST_LIMIT_EXCEEDED", RateLimited), ("RESOURCE_ALREADY_EXISTS", Conflict),
    ("ENDPOINT_NOT_FOUND", ConfigError), ("DATA_LOSS", ConnectorError),
])
def test_mlflow_error_codes_map_to_connector_errors(mlflow_store: MlflowStore, code: str,
                                                    kind: type[ConnectorError]) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    error = translate(MlflowException("boom", error_code=ErrorCode.Value(code)), "read p@production")
    assert type(error) is kind and error.system == "mlflow"


def test_mlflow_uri_passwords_are_masked() -> None:
    assert redact_uri("postgresql://irflow:s3cret@db:5432/mlflow") == "postgresql://irflow:***@db:5432/mlflow"
    assert redact_uri("sqlite:///tmp/mlflow.db") == "sqlite:///tmp/mlflow.db"


# --- MLflow settings -----------------------------------------------------------------------------------
def test_mlflow_settings_with_nothing_set_mean_the_twin(clean_env: pytest.MonkeyPatch) -> None:
    settings = MlflowSettings()
    assert not settings.configured() and settings.missing() == [] and settings.alias == "production"
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_URI"):
        MlflowPrompts(settings)


def test_mlflow_settings_read_mlflows_own_variables(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MLFLOW_TRACKING_URI", " http://mlflow:5000 ")
    clean_env.setenv("IRFLOW_MLFLOW_ALIAS", "live")
    clean_env.setenv("IRFLOW_MLFLOW_TIMEOUT", "3")
    settings = MlflowSettings()
    assert settings.configured() and settings.missing() == []
    assert (settings.tracking_uri, settings.registry_uri, settings.alias, settings.timeout) == (
        "http://mlflow:5000", None, "live", 3.0)


def test_mlflow_registry_uri_alone_is_half_configured(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    clean_env.setenv("MLFLOW_TRACKING_URI", "")
    settings = MlflowSettings()
    assert not settings.configured() and settings.missing() == ["MLFLOW_TRACKING_URI"]


@pytest.mark.parametrize(("name", "value"), [("IRFLOW_MLFLOW_TIMEOUT", "0"), ("IRFLOW_MLFLOW_ALIAS", " ")])
def test_mlflow_settings_refuse_nonsense(clean_env: pytest.MonkeyPatch, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        MlflowSettings()
