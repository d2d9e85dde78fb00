"""The loopbacks in okta_server.py and entra_server.py answer like Okta and Microsoft: wrong paths, methods,
credentials and bodies are refused with the vendors' error shapes, so a client bug cannot pass against them."""

from __future__ import annotations

import json

import pytest
import requests

from tests.contract.entra_server import CLIENT_ID, CLIENT_SECRET, GRAPH_SCOPE, TENANT_ID, EntraTenant
from tests.contract.identity_rig import UNKNOWN, USER
from tests.contract.identity_rig import fixture_entra, fixture_okta  # noqa: F401 - fixtures, found by name
from tests.contract.okta_server import API_TOKEN, OktaOrg


# --- the Okta loopback answers like Okta ------------------------------------------------------------------
def okta_call(org: OktaOrg, method: str, path: str, auth: str | None = f"SSWS {API_TOKEN}",
              **kwargs: object) -> requests.Response:
    headers = {"Authorization": auth} if auth else {}
    return requests.request(method, org.url + path, headers=headers, timeout=5, **kwargs)  # type: ignore[arg-type]


def assert_okta_error(answer: requests.Response, status: int, code: str) -> dict[str, object]:
    body: dict[str, object] = answer.json()
    assert answer.status_code == status and body["errorCode"] == code == body["errorLink"]
    assert set(body) == {"errorCode", "errorSummary", "errorLink", "errorId", "errorCauses"}
    return body


def test_okta_loopback_unknown_path_method_and_body(okta: OktaOrg) -> None:
    assert_okta_error(okta_call(okta, "GET", "/api/v1/userz/x"), 404, "E0000007")
    assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{USER}/lifecycle/suspend"), 405, "E0000022")
    assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend", data=b"{not json"),
                      400, "E0000003")
    unknown = assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{UNKNOWN}"), 404, "E0000007")
    assert unknown["errorSummary"] == f"Not found: Resource not found: {UNKNOWN} (User)"


@pytest.mark.parametrize("auth", [None, "SSWS wrong", f"Bearer {API_TOKEN}"])
def test_okta_loopback_wants_the_ssws_token(okta: OktaOrg, auth: str | None) -> None:
    body = assert_okta_error(okta_call(okta, "GET", f"/api/v1/users/{USER}", auth=auth), 401, "E0000011")
    assert body["errorSummary"] == "Invalid token provided"


def test_okta_loopback_lifecycle_is_not_idempotent(okta: OktaOrg) -> None:
    refused = assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/unsuspend"), 400, "E0000001")
    assert refused["errorCauses"] == [{"errorSummary": "Cannot unsuspend a user that is not suspended"}]
    assert okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend").status_code == 200
    again = assert_okta_error(okta_call(okta, "POST", f"/api/v1/users/{USER}/lifecycle/suspend"), 400, "E0000001")
    assert again["errorCauses"] == [{"errorSummary": "Cannot suspend a user that is not active"}]


def test_okta_loopback_rate_limit_headers(okta: OktaOrg) -> None:
    okta.fail_next(429, reset_in=30)
    limited = okta_call(okta, "GET", f"/api/v1/users/{USER}")
    assert_okta_error(limited, 429, "E0000047")
    assert limited.headers["X-Rate-Limit-Remaining"] == "0" and int(limited.headers["X-Rate-Limit-Reset"]) > 0
    assert "X-Rate-Limit-Reset" in okta_call(okta, "GET", f"/api/v1/users/{USER}").headers


# --- the Entra loopback answers like Microsoft ------------------------------------------------------------
def token_call(tenant: EntraTenant, **form: str) -> requests.Response:
    fields = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "grant_type": "client_credentials",
              "scope": GRAPH_SCOPE, **form}
    return requests.post(f"{tenant.url}/{TENANT_ID}/oauth2/v2.0/token", data=fields, timeout=5)


def graph_call(tenant: EntraTenant, method: str, path: str, **kwargs: object) -> requests.Response:
    bearer = token_call(tenant).json()["access_token"]
    return requests.request(method, tenant.graph_url + path, headers={"Authorization": f"Bearer {bearer}"},
                            timeout=5, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("form", "status", "error", "code"), [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"scope": "User.ReadWrite.All"}, 400, "invalid_scope", 1002012),
    ({"grant_type": ""}, 400, "invalid_request", 900144),
])
def test_entra_loopback_token_errors(entra: EntraTenant, form: dict[str, str], status: int, error: str,
                                     code: int) -> None:
    answer = token_call(entra, **form)
    body = answer.json()
    assert (answer.status_code, body["error"], body["error_codes"]) == (status, error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ") and "access_token" not in body


def test_entra_loopback_issues_bearers_graph_requires(entra: EntraTenant) -> None:
    issued = token_call(entra).json()
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 3599
    missing = requests.get(f"{entra.graph_url}/users/{USER}", timeout=5)
    assert missing.status_code == 401 and "WWW-Authenticate" in missing.headers
    assert missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    entra.expire_tokens()
    expired = requests.get(f"{entra.graph_url}/users/{USER}", timeout=5,
                           headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert expired.json()["error"]["message"] == "Lifetime validation failed, the token is expired."


def test_entra_loopback_routes_like_odata(entra: EntraTenant) -> None:
    segment = graph_call(entra, "GET", f"/users/{USER}/revokeSignInSession")
    assert segment.status_code == 400
    assert segment.json()["error"]["message"] == "Resource not found for the segment 'revokeSignInSession'."
    method = graph_call(entra, "GET", f"/users/{USER}/revokeSignInSessions")
    assert (method.status_code, method.json()["error"]["code"]) == (405, "Request_BadRequest")
    unknown = graph_call(entra, "GET", f"/users/{UNKNOWN}")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "Request_ResourceNotFound")
    assert set(unknown.json()["error"]["innerError"]) == {"date", "request-id", "client-request-id"}


@pytest.mark.parametrize(("body", "code"), [
    (b"{not json", "BadRequest"),
    (json.dumps({}).encode(), "Request_BadRequest"),
    (json.dumps({"accountEnabled": "false"}).encode(), "Request_BadRequest"),
    (json.dumps({"accountEnabled": False, "enabled": False}).encode(), "BadRequest"),
])
def test_entra_loopback_refuses_bad_patch_bodies(entra: EntraTenant, body: bytes, code: str) -> None:
    answer = graph_call(entra, "PATCH", f"/users/{USER}", data=body)
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)
    target = entra.user(USER)
    assert target is not None and target.account_enabled


def test_entra_loopback_user_reads_and_writes(entra: EntraTenant) -> None:
    default = graph_call(entra, "GET", f"/users/{USER}").json()
    assert "accountEnabled" not in default and default["userPrincipalName"] == USER
    assert graph_call(entra, "PATCH", f"/users/{USER}", json={"accountEnabled": False}).status_code == 204
    selected = graph_call(entra, "GET", f"/users/{USER}", params={"$select": "id,accountEnabled"}).json()
    assert selected["accountEnabled"] is False and set(selected) == {"@odata.context", "id", "accountEnabled"}
    revoked = graph_call(entra, "POST", f"/users/{USER}/revokeSignInSessions").json()
    assert revoked["value"] is True and revoked["@odata.context"].endswith("$metadata#Edm.Boolean")
