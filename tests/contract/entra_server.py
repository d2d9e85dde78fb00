"""A loopback Microsoft Entra tenant: the identity platform's token endpoint and the Graph v1.0 user routes.

Behaviour follows Microsoft's documentation and observed answers:

- Client credentials flow (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
  POST /{tenant}/oauth2/v2.0/token, form-encoded client_id, client_secret, grant_type=client_credentials,
  scope=<resource>/.default; success {"token_type": "Bearer", "expires_in", "ext_expires_in",
  "access_token"}; errors {"error", "error_description": "AADSTS...: ...", "error_codes", "timestamp",
  "trace_id", "correlation_id", "error_uri"}: AADSTS7000215 invalid_client 401 (wrong secret),
  AADSTS700016 unauthorized_client 400 (unknown app), AADSTS90002 invalid_request 400 (unknown tenant),
  AADSTS900144 invalid_request 400 (missing parameter), AADSTS1002012 invalid_scope 400 (scope without
  /.default), AADSTS900561 400 (not POST), AADSTS90033 temporarily_unavailable (transient).
- Graph errors (learn.microsoft.com/graph/errors): {"error": {"code", "message", "innerError": {"date",
  "request-id", "client-request-id"}}}. 401 InvalidAuthenticationToken ("Access token is empty.",
  "Lifetime validation failed, the token is expired.") with WWW-Authenticate; 403
  Authorization_RequestDenied "Insufficient privileges to complete the operation."; 404
  Request_ResourceNotFound "Resource '<id>' does not exist or one of its queried reference-property
  objects are not present."; 429 with Retry-After (learn.microsoft.com/graph/throttling).
- Graph routing is OData's: an unknown path segment is 400 BadRequest "Resource not found for the segment
  '<seg>'." (not 404), decided before authentication; a wrong method is 405 Request_BadRequest
  "Specified HTTP method is not allowed for the request target." (microsoftgraph/microsoft-graph-docs#119,
  Azure/azure-cli#23807).
- user get (graph/api/user-get): `{id | userPrincipalName}`; without $select only the default properties
  come back, and accountEnabled is not one of them. user update (graph/api/user-update): PATCH answers
  204; a body that is not JSON is 400 BadRequest "Unable to read JSON request payload...", an invalid
  value 400 Request_BadRequest "Invalid value specified for property 'accountEnabled' of resource 'User'.",
  an unknown property 400 BadRequest "Property '<p>' does not exist on type 'microsoft.graph.user'...".
  revokeSignInSessions (graph/api/user-revokesigninsessions): POST, 200 {"@odata.context", "value": true}.
- Directory writes replicate; `stale_reads` makes the next reads after a write show the old value.

Not modelled: user properties other than id, userPrincipalName, displayName and accountEnabled (a PATCH
without accountEnabled is refused here, though Graph accepts an empty patch: irflow never sends one);
other Graph routes and methods (DELETE /users/{id} is 405 here); token signatures (tokens are opaque).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from tests.contract.loopback import (INVALID_JSON, Fault, LoopbackServer, Reply, Request, Seen, bearer_token,
                                     fault_headers, read_json)

TENANT_ID = "8f2c1a9e-4b7d-4e3f-9a61-2d5c7b0e3f14"
CLIENT_ID = "1d3b5f7a-9c2e-4a6b-8d0f-2e4a6c8b0d1f"
CLIENT_SECRET = "Xq8~loopback.Secret_7fA2kL9mN3pR5tV"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
DEFAULT_PROPS = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                 "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id")
SELECTABLE = frozenset(DEFAULT_PROPS) | {"accountEnabled", "signInSessionsValidFromDateTime"}


@dataclass
class GraphUser:
    id: str
    user_principal_name: str
    display_name: str = "Mallory Example"
    account_enabled: bool = True
    revocations: int = 0
    sign_in_sessions_valid_from: str = "2026-01-05T09:30:00Z"
    stale_left: int = 0
    stale_enabled: bool = True

    def record(self, *, shown_enabled: bool) -> dict[str, Any]:
        first, _, last = self.display_name.partition(" ")
        return {"businessPhones": [], "displayName": self.display_name, "givenName": first, "jobTitle": None,
                "mail": self.user_principal_name, "mobilePhone": None, "officeLocation": None,
                "preferredLanguage": None, "surname": last, "userPrincipalName": self.user_principal_name,
                "id": self.id, "accountEnabled": shown_enabled,
                "signInSessionsValidFromDateTime": self.sign_in_sessions_valid_from}


@dataclass(frozen=True)
class _Route:
    methods: dict[str, Callable[[GraphUser, dict[str, str], bytes], Reply]]
    user_ref: str


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    request_id = str(uuid.uuid4())
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id,
             "client-request-id": request_id}
    return status, {"error": {"code": code, "message": message, "innerError": inner}}, {
        "request-id": request_id, **(headers or {})}


def token_error(status: int, error: str, aadsts: int, description: str) -> Reply:
    trace, now = str(uuid.uuid4()), datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = f"AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {trace} Timestamp: {now}"
    return status, {"error": error, "error_description": text, "error_codes": [aadsts], "timestamp": now,
                    "trace_id": trace, "correlation_id": trace,
                    "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}"}, {}


class EntraTenant(LoopbackServer[Seen]):
    """The loopback tenant: token issuance, users, switches, and what `LoopbackServer` serves and logs."""

    def __init__(self, tenant_id: str = TENANT_ID, client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET) -> None:
        super().__init__(Seen.of)
        self.tenant_id, self.client_id, self.client_secret = tenant_id, client_id, client_secret
        self.users: dict[str, GraphUser] = {}
        self.tokens: dict[str, float] = {}
        """Issued bearer -> monotonic time it expires; `expire_tokens()` ends them all."""
        self.token_lifetime = 3599
        self.forbid_writes = False
        self.stale_reads = 0

    @property
    def graph_url(self) -> str:
        return f"{self.url}/v1.0"

    # --- state and switches -------------------------------------------------------------------------
    def add_user(self, upn: str, **fields: Any) -> GraphUser:
        user = GraphUser(id=fields.pop("id", str(uuid.uuid4())), user_principal_name=upn, **fields)
        self.users[user.id] = user
        return user

    def user(self, ref: str) -> GraphUser | None:
        """Find a user as Graph resolves `{id | userPrincipalName}` (UPNs case-insensitively)."""
        return self.users.get(ref) or next(
            (u for u in self.users.values() if u.user_principal_name.lower() == ref.lower()), None)

    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None, *,
                  retry_after: str | None = None, target: str = "graph") -> None:
        """The next `times` requests to `target` ("graph" or "token") get `status` (429, 500, 503)."""
        self.queue_faults(Fault(status, fault_headers(retry_after, headers), scope=target), times)

    def expire_tokens(self) -> None:
        """Every bearer issued so far is now expired (or revoked) at Microsoft's side."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def token_requests(self) -> list[Seen]:
        return [seen for seen in self.requests if TOKEN_PATH.match(seen.path)]

    def writes(self) -> list[Seen]:
        return [s for s in self.requests if s.method != "GET" and not TOKEN_PATH.match(s.path)]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def fault_scope(self, request: Request) -> str:
        return "token" if TOKEN_PATH.match(request.path) else "graph"

    def answer(self, request: Request) -> Reply:
        token_call = TOKEN_PATH.match(request.path)
        if token_call:
            return self._token(request.method, token_call["tenant"], request.raw)
        return self._graph(request.method, request.path, request.query, request.authorization, request.raw)

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.scope == "token":
            status, body, _ = token_error(fault.status, "temporarily_unavailable", 90033,
                                          "A transient error has occurred. Please try again.")
            return status, body, fault.headers
        code = {429: "TooManyRequests", 503: "serviceNotAvailable"}.get(fault.status, "UnknownError")
        return graph_error(fault.status, code, "Too many requests" if fault.status == 429 else "", fault.headers)

    # --- the identity platform ----------------------------------------------------------------------
    def _token(self, method: str, tenant: str, raw: bytes) -> Reply:
        if method != "POST":
            return token_error(400, "invalid_request", 900561,
                               f"The endpoint only accepts POST, OPTIONS requests. Received a {method} request.")
        if tenant != self.tenant_id:
            return token_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        form = dict(parse_qsl(raw.decode(errors="replace")))
        for name in ("grant_type", "client_id", "client_secret", "scope"):
            if not form.get(name):
                return token_error(400, "invalid_request", 900144,
                                   f"The request body must contain the following parameter: '{name}'.")
        if form["client_id"] != self.client_id:
            return token_error(400, "unauthorized_client", 700016, f"Application with identifier "
                               f"'{form['client_id']}' was not found in the directory '{tenant}'.")
        if form["client_secret"] != self.client_secret:
            return token_error(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret "
                               "being sent in the request is the client secret value, not the client secret ID.")
        if form["scope"] != GRAPH_SCOPE:
            return token_error(400, "invalid_scope", 1002012, f"The provided value for scope {form['scope']} is "
                               "not valid. Client credential flows must have a scope value with /.default suffixed.")
        access = f"eyJ0eXAiOiJKV1QifQ.{secrets.token_urlsafe(24)}.loopback"
        self.tokens[access] = time.monotonic() + self.token_lifetime
        return 200, {"token_type": "Bearer", "expires_in": self.token_lifetime,
                     "ext_expires_in": self.token_lifetime, "access_token": access}, {}

    # --- Graph --------------------------------------------------------------------------------------
    def _graph(self, method: str, path: str, query: dict[str, str], authorization: str | None,
               raw: bytes) -> Reply:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        if segments[0] not in ("v1.0", "beta"):
            return graph_error(400, "BadRequest", f"Invalid version: {segments[0]}")
        route = self._route(segments[1:])
        if not isinstance(route, _Route):
            return route
        methods, user_ref = route.methods, route.user_ref
        if method not in methods:
            return graph_error(405, "Request_BadRequest",
                               "Specified HTTP method is not allowed for the request target.")
        denied = self._auth(authorization)
        if denied:
            return denied
        if self.forbid_writes and method != "GET":
            return graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
        user = self.user(user_ref)
        if user is None:
            return graph_error(404, "Request_ResourceNotFound", f"Resource '{user_ref}' does not exist or one of "
                               "its queried reference-property objects are not present.")
        return methods[method](user, query, raw)

    def _route(self, rest: list[str]) -> _Route | Reply:
        if not rest or rest[0] != "users":
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{rest[0] if rest else ''}'.")
        if len(rest) == 2:
            return _Route({"GET": self._get_user, "PATCH": self._patch_user}, rest[1])
        if len(rest) == 3 and rest[2] == "revokeSignInSessions":
            return _Route({"POST": self._revoke}, rest[1])
        bad = rest[2] if len(rest) > 2 else "users"
        return graph_error(400, "BadRequest", f"Resource not found for the segment '{bad}'.")

    def _auth(self, authorization: str | None) -> Reply | None:
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/'
                     'common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'}
        token = bearer_token(authorization)
        if not token:
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        if token not in self.tokens:
            return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.", challenge)
        if time.monotonic() >= self.tokens[token]:
            return graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.",
                               challenge)
        return None

    def _get_user(self, user: GraphUser, query: dict[str, str], _raw: bytes) -> Reply:
        wanted = [p.strip() for p in query.get("$select", "").split(",") if p.strip()] or list(DEFAULT_PROPS)
        unknown = [p for p in wanted if p not in SELECTABLE]
        if unknown:
            return graph_error(400, "Request_BadRequest",
                               f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'.")
        shown = user.account_enabled
        if user.stale_left:
            user.stale_left, shown = user.stale_left - 1, user.stale_enabled
        record = user.record(shown_enabled=shown)
        context = f"https://graph.microsoft.com/v1.0/$metadata#users({','.join(wanted)})/$entity"
        return 200, {"@odata.context": context, **{p: record[p] for p in wanted}}, {}

    def _patch_user(self, user: GraphUser, _query: dict[str, str], raw: bytes) -> Reply:
        body = read_json(raw.strip())
        if body is INVALID_JSON or not isinstance(body, dict):
            return graph_error(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type "
                               "header is set and payload is of valid JSON format.")
        extra = [name for name in body if name != "accountEnabled"]
        if extra:
            return graph_error(400, "BadRequest", f"Property '{extra[0]}' does not exist on type "
                               "'microsoft.graph.user'. Make sure to only use property names that are defined by "
                               "the type or mark the type as open type.")
        if not isinstance(body.get("accountEnabled"), bool):
            return graph_error(400, "Request_BadRequest",
                               "Invalid value specified for property 'accountEnabled' of resource 'User'.")
        if self.stale_reads:
            user.stale_left, user.stale_enabled = self.stale_reads, user.account_enabled
        user.account_enabled = body["accountEnabled"]
        return 204, None, {}

    def _revoke(self, user: GraphUser, _query: dict[str, str], _raw: bytes) -> Reply:
        user.revocations += 1
        user.sign_in_sessions_valid_from = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return 200, {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": True}, {}
