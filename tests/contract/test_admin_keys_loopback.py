"""The loopbacks in openai_admin_server.py and anthropic_admin_server.py refuse wrong paths, methods, headers
and bodies the way OpenAI's and Anthropic's Admin APIs do, so a client bug cannot pass against them."""

from __future__ import annotations

import pytest
import requests

from tests.contract import anthropic_admin_server as anthropic_api
from tests.contract import openai_admin_server as openai_api
from tests.contract.admin_keys_rig import ANTHROPIC_KEY, OPENAI_PATH, PROJECT, ant_call, oai_call
from tests.contract.admin_keys_rig import fixture_ant, fixture_oai  # noqa: F401 - fixtures, found by name
from tests.contract.anthropic_admin_server import AnthropicAdminServer
from tests.contract.openai_admin_server import OpenAIAdminServer


# --- the loopbacks answer like the vendors -------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [("GET", f"/v1/organization/project/{PROJECT}/api_keys"),
                                              ("POST", OPENAI_PATH),
                                              ("DELETE", f"/v1/organization/projects/{PROJECT}/api_keys")])
def test_openai_loopback_wrong_path_or_method_is_unknown_url(oai: OpenAIAdminServer, method: str, path: str) -> None:
    answer = oai_call(oai, method, path)
    assert answer.status_code == 404  # OpenAI routes on method + path: no 405
    message = (f"Unknown request URL: {method} {path}. Please check the URL for typos, or see the docs at "
               "https://platform.openai.com/docs/api-reference/.")
    assert answer.json()["error"] == {"message": message, "type": "invalid_request_error", "param": None,
                                      "code": "unknown_url"}


@pytest.mark.parametrize(("query", "param"), [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                                              ("owner_project_access=all", "owner_project_access")])
def test_openai_loopback_bad_list_parameters_are_400(oai: OpenAIAdminServer, query: str, param: str) -> None:
    answer = oai_call(oai, "GET", f"/v1/organization/projects/{PROJECT}/api_keys?{query}")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param) and error["message"]


def test_openai_loopback_auth_and_unknown_key_answers(oai: OpenAIAdminServer) -> None:
    anonymous = requests.get(oai.url + f"/v1/organization/projects/{PROJECT}/api_keys", timeout=5)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["message"] == openai_api.NO_KEY_MESSAGE
    missing = oai_call(oai, "GET", f"/v1/organization/projects/{PROJECT}/api_keys/key_never")
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


def test_anthropic_loopback_wrong_path_and_method(ant: AnthropicAdminServer) -> None:
    wrong = ant_call(ant, "GET", "/v1/organization/api_keys")
    assert wrong.status_code == 404
    body = wrong.json()
    assert (body["type"], body["error"]["type"]) == ("error", "not_found_error") and body["request_id"]
    assert wrong.headers["request-id"] == body["request_id"]
    method = ant_call(ant, "DELETE", f"/v1/organizations/api_keys/{ANTHROPIC_KEY}")
    assert (method.status_code, method.json()["error"]["type"]) == (405, "invalid_request_error")
    assert method.headers["Allow"] == "GET, POST"


@pytest.mark.parametrize("body", [b'{"status": "deleted"}', b"status=inactive", b'["inactive"]',
                                  b'{"status": "inactive", "reason": "leak"}', b'{"name": ""}'])
def test_anthropic_loopback_bad_bodies_are_400(ant: AnthropicAdminServer, body: bytes) -> None:
    answer = ant_call(ant, "POST", f"/v1/organizations/api_keys/{ANTHROPIC_KEY}", data=body)
    assert (answer.status_code, answer.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant.keys[ANTHROPIC_KEY].status == "active"


def test_anthropic_loopback_headers_limits_and_archived_keys(ant: AnthropicAdminServer) -> None:
    path = f"/v1/organizations/api_keys/{ANTHROPIC_KEY}"
    no_key = requests.get(ant.url + path, headers={"anthropic-version": "2023-06-01"}, timeout=5)
    assert (no_key.status_code, no_key.json()["error"]["type"]) == (401, "authentication_error")
    no_version = requests.get(ant.url + path, headers={"x-api-key": anthropic_api.ADMIN_KEY}, timeout=5)
    assert (no_version.status_code, no_version.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant_call(ant, "GET", "/v1/organizations/api_keys?limit=1001").status_code == 400
    assert ant_call(ant, "POST", path, json={"status": "archived"}).status_code == 200
    again = ant_call(ant, "POST", path, json={"status": "active"})
    assert (again.status_code, again.json()["error"]["type"]) == (400, "invalid_request_error")
    assert ant.keys[ANTHROPIC_KEY].status == "archived"
