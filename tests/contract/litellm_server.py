"""A loopback LiteLLM proxy admin API: the key, team and customer routes irflow's LiteLLM connectors call.

Behaviour follows the proxy's own source in BerriAI/litellm:

- `litellm/proxy/_types.py`: `BlockKeyRequest` {"key": str}; `KeyRequest` {"keys" | "key_aliases"} whose
  validator says "At least one of 'keys' or 'key_aliases' must be provided."; `UpdateKeyRequest` (only
  "key" required; `prepare_key_update_data` applies `model_dump(exclude_unset=True)`, so explicit nulls
  clear a limit); `BlockUsers` {"user_ids": [str]}; `UpdateCustomerRequest` {"user_id", "blocked", ...};
  `BlockTeamRequest` {"team_id": str}; `RegenerateKeyRequest(GenerateKeyRequest)` with every field optional
  ("key", "new_key", "new_master_key", "grace_period", ...) and `GenerateKeyResponse` whose "key" is the new
  secret; `ProxyException.to_dict()` -> {"message", "type", "param", "code"} with `code` a string;
  `ProxyErrorTypes`; `LiteLLMPydanticObjectBase` keeps pydantic's extra="ignore" (unknown fields are dropped).
- `litellm/proxy/management_endpoints/key_management_endpoints.py`: keys are stored as sha256 tokens and
  looked up through `_hash_token_if_needed` (only "sk-" values are hashed); `info_key_fn` answers
  {"key", "info"} without "token", or 404 `not_found_error` "Key not found in database"; `block_key` /
  `unblock_key` answer the updated row, or 404 typed `bad_request_error` "Key <key> not found".
  `regenerate_key_fn` is routed at `/key/{key:path}/regenerate` and `/key/regenerate` (its `key` argument is
  then a query parameter), takes an optional body, and in this order: refuses non-premium proxies with
  ValueError("Regenerating Virtual Keys is an Enterprise feature, ...") -> 500 `internal_server_error`;
  body "key" wins over the path; none is 400; the key is hashed only when it contains "sk"; an unknown key is
  404; a `new_key` not starting "sk-" is 400; `grace_period` (else env LITELLM_KEY_ROTATION_GRACE_PERIOD)
  above zero keeps the old token valid in `LiteLLM_DeprecatedVerificationToken`; then the row's token is
  rewritten in place (settings kept, `key_name` "sk-...<last 4>") and the answer is the row with "key" = the
  new secret and "token_id" = its hash. HTTPExceptions leave through `handle_exception_on_proxy`: status kept,
  type `internal_server_error`, message `str(detail)`. Old key 401, new key works: PR BerriAI/litellm#34000.
- `litellm/proxy/management_endpoints/team_endpoints.py`: `block_team` / `unblock_team` update `blocked`
  and answer the team row, or raise HTTPException 404 {"error": "Team not found, passed team_id=<id>"}
  outside any handler, so FastAPI answers {"detail": {...}}; `team_info` answers {"team_id", "team_info",
  "keys", "team_memberships"}, and wraps its HTTPExceptions as ProxyException type `auth_error`: 404
  "{'message': 'Team not found, passed team id: <id>.'}" and, without `team_id`, 422 "Malformed request.
  No team id passed in." (not FastAPI's validation). `common_checks` refuses every key of a blocked team.
- `litellm/proxy/management_endpoints/customer_endpoints.py`: `block_user` upserts and answers
  {"blocked_users": [...]}; `unblock_user` needs the enterprise blocked-user callback and otherwise answers
  400 {"detail": {"error": "Blocked user check was never set. This call has no effect."}};
  `end_user_info` / `update_end_user` answer 404 type "not_found" "End User Id=<id> does not exist in db".
- `user_api_key_auth`: a wrong or missing master key is 401 `auth_error` "Authentication Error, ...".
- FastAPI/Starlette: unknown path 404 {"detail": "Not Found"}; wrong method 405 {"detail": "Method Not
  Allowed"} with Allow; route dependencies (auth) run before body validation, which fails with 422
  {"detail": [{"type", "loc", "msg", "input"}]}.
- Known proxy bugs, as switches: `customer_block_fails_after_write` (BerriAI/litellm#39011: /customer/block
  answers 500 after writing the block) and `customer_update_drops_false` (before PR #34696,
  `update_end_user` filtered `v not in ([], {}, 0)`, which drops `blocked: false`; see also #35564).
  `premium_user` (False is the community edition) and `rotation_grace_period` (the proxy's env default).

Not modelled: non-admin virtual keys calling admin routes (every bearer but the master key is rejected),
and /key/delete or /key/update of unknown keys, whose answers vary by version (the client reads /key/info
first and never relies on them): here delete removes what exists and update answers 404 `not_found_error`.
Nor master-key rotation through /key/regenerate (`new_master_key`), regenerate's other update fields, older
proxies whose /team/info answers an unknown team with 400 `auth_error` "'NoneType' ...", or the team cache
that /team/block leaves stale on proxies without the fix for BerriAI/litellm#35565: `authenticates()` is the
auth check with a cache that is always fresh.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MASTER_KEY = "sk-master-loopback-7f3a9c2e5b1d"
UNBLOCK_WITHOUT_ENTERPRISE = "Blocked user check was never set. This call has no effect."
NOT_PREMIUM = ("Regenerating Virtual Keys is an Enterprise feature, You must be a LiteLLM Enterprise user to use "
               "this feature. If you have a license please set `LITELLM_LICENSE` in your env.")
REGENERATE = "/key/{key}/regenerate"
_REGENERATE_PATH = re.compile(r"/key/(?P<key>.*)/regenerate")  # Starlette's {key:path}: anything, slashes too
_DURATION = re.compile(r"(\d+)(mo|[smhdw]?)")  # litellm_core_utils.duration_parser._extract_from_regex
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
KEY_UPDATABLE = ("key_alias", "user_id", "team_id", "spend", "max_budget", "rpm_limit", "tpm_limit", "blocked")
CUSTOMER_UPDATABLE = ("alias", "blocked", "max_budget", "budget_id", "default_model")
Reply = tuple[int, Any, dict[str, str]]
_INVALID_JSON = object()

BODY_SCHEMA: dict[str, dict[str, str]] = {
    "/key/block": {"key": "str"},
    "/key/unblock": {"key": "str"},
    "/key/update": {"key": "str"},
    "/key/delete": {},
    "/customer/block": {"user_ids": "list[str]"},
    "/customer/unblock": {"user_ids": "list[str]"},
    "/customer/update": {"user_id": "str"},
    "/team/block": {"team_id": "str"},
    "/team/unblock": {"team_id": "str"},
}
OPTIONAL_BODY: dict[str, tuple[str, ...]] = {
    route: ("key", "new_key", "new_master_key", "grace_period") for route in (REGENERATE, "/key/regenerate")
}
"""Routes whose body model is Optional[...] with only optional fields: no body is fine, a wrong type is not."""


def token_for(key: str) -> str:
    """The proxy's `_hash_token_if_needed`: sha256 for "sk-" keys, anything else is taken as a token already."""
    return hashlib.sha256(key.encode()).hexdigest() if key.startswith("sk-") else key


def proxy_error(status: int, message: str, kind: str, param: str | None) -> Reply:
    """The proxy's ProxyException answer: {"error": to_dict()}, status from its code."""
    return status, {"error": {"message": message, "type": kind, "param": param, "code": str(status)}}, {}


@dataclass
class KeyRow:
    token: str
    key_name: str | None = None
    key_alias: str | None = None
    user_id: str | None = None
    team_id: str | None = None
    spend: float = 0.0
    max_budget: float | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    blocked: bool | None = None

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Team:
    team_id: str
    team_alias: str | None = None
    organization_id: str | None = None
    blocked: bool = False
    spend: float = 0.0
    max_budget: float | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    models: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Customer:
    user_id: str
    blocked: bool = False
    alias: str | None = None
    spend: float = 0.0
    max_budget: float | None = None
    budget_id: str | None = None
    default_model: str | None = None

    def record(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}  # model_dump(exclude_none=True)


@dataclass(frozen=True)
class Seen:
    """One request as it reached the proxy: what a test checks for "no write" and "no secret on the wire"."""

    method: str
    target: str
    body: str
    authorization: str | None


@dataclass
class _Fault:
    status: int
    retry_after: str | None


class LiteLLMProxy:
    """The loopback proxy: state, switches, a request log, and a ThreadingHTTPServer on 127.0.0.1."""

    def __init__(self, master_key: str = MASTER_KEY) -> None:
        self.master_key = master_key
        self.keys: dict[str, KeyRow] = {}
        self.customers: dict[str, Customer] = {}
        self.teams: dict[str, Team] = {}
        self.deprecated: dict[str, tuple[str, float]] = {}
        """Old token -> (new token, revoke_at): LiteLLM_DeprecatedVerificationToken during a grace period."""
        self.requests: list[Seen] = []
        self.customer_block_fails_after_write = False
        self.customer_update_drops_false = False
        self.premium_user = True
        self.rotation_grace_period = ""
        self._faults: list[_Fault] = []
        self._delays: list[float] = []
        self._lose_next_answer = False
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.proxy = self  # type: ignore[attr-defined]
        # A short poll keeps shutdown (and so every test's teardown) from waiting out the default 0.5 s.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)
        self._routes: dict[str, dict[str, Callable[[dict[str, str], Any], Reply]]] = {
            "/key/info": {"GET": self._key_info},
            "/key/block": {"POST": self._key_block},
            "/key/unblock": {"POST": self._key_unblock},
            "/key/update": {"POST": self._key_update},
            "/key/delete": {"POST": self._key_delete},
            "/key/regenerate": {"POST": self._key_regenerate},
            REGENERATE: {"POST": self._key_regenerate},
            "/team/info": {"GET": self._team_info},
            "/team/block": {"POST": self._team_block},
            "/team/unblock": {"POST": self._team_unblock},
            "/customer/info": {"GET": self._customer_info},
            "/customer/block": {"POST": self._customer_block},
            "/customer/unblock": {"POST": self._customer_unblock},
            "/customer/update": {"POST": self._customer_update},
        }

    def __enter__(self) -> LiteLLMProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    # --- state and switches -------------------------------------------------------------------------
    def add_key(self, key: str, **fields: Any) -> KeyRow:
        row = KeyRow(token=token_for(key), key_name=f"sk-...{key[-4:]}", **fields)
        self.keys[row.token] = row
        return row

    def key(self, key: str) -> KeyRow | None:
        return self.keys.get(token_for(key))

    def add_team(self, team_id: str, **fields: Any) -> Team:
        self.teams[team_id] = Team(team_id=team_id, **fields)
        return self.teams[team_id]

    def authenticates(self, key: str) -> bool:
        """Would `user_api_key_auth` + `common_checks` let a request with this virtual key through?"""
        token = token_for(key)
        if token not in self.keys and token in self.deprecated:
            token, revoke_at = self.deprecated[token]
            if revoke_at <= time.time():
                return False
        row = self.keys.get(token)
        team = self.teams.get(row.team_id or "") if row is not None else None
        return row is not None and not row.blocked and not (team is not None and team.blocked)

    def add_customer(self, user_id: str, **fields: Any) -> Customer:
        self.customers[user_id] = Customer(user_id=user_id, **fields)
        return self.customers[user_id]

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """The next `times` requests get `status` (429 with Retry-After, 500, 503) before any routing."""
        self._faults.extend(_Fault(status, retry_after) for _ in range(times))

    def delay_next(self, seconds: float) -> None:
        """The next request is answered only after `seconds`: for client timeouts."""
        self._delays.append(seconds)

    def lose_next_answer(self) -> None:
        """The next write is applied, but a load balancer in front answers 504: the client never sees the reply."""
        self._lose_next_answer = True

    def writes(self) -> list[Seen]:
        return [seen for seen in self.requests if seen.method != "GET"]

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        """Answer one request the way the proxy would: fault, route, method, auth, validation, handler."""
        delay = self._delays.pop(0) if self._delays else 0.0
        if delay:
            time.sleep(delay)
        with self._lock:
            self.requests.append(Seen(method, target, raw.decode(errors="replace"), authorization))
            reply = self._answer(method, target, authorization, raw)
            if self._lose_next_answer and method != "GET":
                self._lose_next_answer = False
                return 504, "upstream request timeout", {}
            return reply

    def _answer(self, method: str, target: str, authorization: str | None, raw: bytes) -> Reply:
        if self._faults:
            return self._fault(self._faults.pop(0))
        parts = urlsplit(target)
        route, path_params = self._resolve(unquote(parts.path))
        methods = self._routes.get(route)
        if methods is None:
            return 404, {"detail": "Not Found"}, {}
        if method not in methods:
            allow = ", ".join(m for verb in methods for m in ((verb, "HEAD") if verb == "GET" else (verb,)))
            return 405, {"detail": "Method Not Allowed"}, {"Allow": allow}
        denied = self._auth(authorization)
        if denied:
            return denied
        query = dict(parse_qsl(parts.query)) | path_params
        body = _parse(raw)
        problems = _validate(route, query, body)
        if problems:
            return 422, {"detail": problems}, {}
        return methods[method](query, body)

    def _resolve(self, path: str) -> tuple[str, dict[str, str]]:
        """The route template and its path parameters; fixed paths win, as they are registered first."""
        if path in self._routes:
            return path, {}
        match = _REGENERATE_PATH.fullmatch(path)
        return (REGENERATE, {"key": match["key"]}) if match else (path, {})

    def _fault(self, fault: _Fault) -> Reply:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        kind = "rate_limit_error" if fault.status == 429 else "internal_server_error"
        status, body, _ = proxy_error(fault.status, f"loopback fault {fault.status}", kind, None)
        return status, body, headers

    def _auth(self, authorization: str | None) -> Reply | None:
        api_key = (authorization or "").removeprefix("Bearer ").strip()
        if not api_key:
            return proxy_error(401, "Authentication Error, No api key passed in.", "auth_error", "None")
        if api_key == self.master_key:
            return None
        message = (f"Authentication Error, Invalid proxy server token passed. Received API Key = sk-...{api_key[-4:]},"
                   f" Key Hash (Token) ={token_for(api_key)}. Unable to find token in cache or "
                   "`LiteLLM_VerificationTokenTable`")
        return proxy_error(401, message, "auth_error", "None")

    # --- /key ---------------------------------------------------------------------------------------
    def _key_info(self, query: dict[str, str], _body: Any) -> Reply:
        key = query.get("key") or self.master_key  # no key: the proxy describes the caller's own key
        row = self.keys.get(token_for(key))
        if row is None:
            return proxy_error(404, "Key not found in database", "not_found_error", "key")
        info = row.record()
        info.pop("token")
        return 200, {"key": key, "info": info}, {}

    def _key_block(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        return self._set_key_blocked(body["key"], True)

    def _key_unblock(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        return self._set_key_blocked(body["key"], False)

    def _set_key_blocked(self, key: str, blocked: bool) -> Reply:
        row = self.keys.get(token_for(key))
        if row is None:
            return proxy_error(404, f"Key {key} not found", "bad_request_error", "key")
        row.blocked = blocked
        return 200, row.record(), {}

    def _key_update(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        row = self.keys.get(token_for(body["key"]))
        if row is None:
            return proxy_error(404, f"Key not found, passed key={body['key']}", "not_found_error", "key")
        changed = {name: body[name] for name in KEY_UPDATABLE if name in body}
        for name, value in changed.items():
            setattr(row, name, value)
        return 200, {"key": body["key"], **changed}, {}

    def _key_delete(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        aliases = set(body.get("key_aliases") or [])
        tokens = {token_for(k) for k in body.get("keys") or []}
        tokens |= {t for t, row in self.keys.items() if row.key_alias in aliases}
        for token in tokens:
            self.keys.pop(token, None)
        return 200, {"deleted_keys": body.get("keys") or sorted(aliases)}, {}

    def _key_regenerate(self, query: dict[str, str], body: Any) -> Reply:
        data: dict[str, Any] = body if isinstance(body, dict) else {}
        if not self.premium_user and data.get("new_master_key") is None:
            return proxy_error(500, NOT_PREMIUM, "internal_server_error", "None")
        key = data.get("key") or query.get("key")
        if not key:
            return _wrapped(400, {"error": "No key passed in."})
        token = hashlib.sha256(key.encode()).hexdigest() if "sk" in key else key  # `if "sk" not in key` upstream
        row = self.keys.get(token)
        if row is None:
            return _wrapped(404, {"error": f"Key {key} not found."})
        new = data.get("new_key")
        if new is not None and not new.startswith("sk-"):
            return _wrapped(400, {"error": "New key must start with 'sk-'. This is to distinguish a key hash (used "
                                           "by litellm for logging / internal logic) from the actual key."})
        new = new or f"sk-{secrets.token_urlsafe(16)}"
        grace = _duration_seconds(data.get("grace_period") or self.rotation_grace_period)
        if grace > 0:
            self.deprecated[token] = (token_for(new), time.time() + grace)
        del self.keys[token]
        row.token, row.key_name = token_for(new), f"sk-...{new[-4:]}"
        self.keys[row.token] = row
        answer = row.record()
        answer["token_id"] = answer.pop("token")
        return 200, {**answer, "key": new, "token": None}, {}

    # --- /team --------------------------------------------------------------------------------------
    def _team_info(self, query: dict[str, str], _body: Any) -> Reply:
        team_id = query.get("team_id")
        if team_id is None:
            return proxy_error(422, str({"message": "Malformed request. No team id passed in."}), "auth_error", "None")
        team = self.teams.get(team_id)
        if team is None:
            message = str({"message": f"Team not found, passed team id: {team_id}."})
            return proxy_error(404, message, "auth_error", "None")
        keys = [row.record() for row in self.keys.values() if row.team_id == team_id]  # upstream pops "token"
        return 200, {"team_id": team_id, "team_info": team.record(), "keys": keys, "team_memberships": []}, {}

    def _team_block(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        return self._set_team_blocked(body["team_id"], True)

    def _team_unblock(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        return self._set_team_blocked(body["team_id"], False)

    def _set_team_blocked(self, team_id: str, blocked: bool) -> Reply:
        team = self.teams.get(team_id)
        if team is None:
            return 404, {"detail": {"error": f"Team not found, passed team_id={team_id}"}}, {}
        team.blocked = blocked
        return 200, team.record(), {}

    # --- /customer ----------------------------------------------------------------------------------
    def _customer_info(self, query: dict[str, str], _body: Any) -> Reply:
        customer = self.customers.get(query["end_user_id"])
        if customer is None:
            return _no_customer(query["end_user_id"], "end_user_id")
        return 200, customer.record(), {}

    def _customer_block(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        records = []
        for user_id in body["user_ids"]:
            customer = self.customers.setdefault(user_id, Customer(user_id=user_id))
            customer.blocked = True
            records.append(customer.record())
        if self.customer_block_fails_after_write:
            return proxy_error(500, "Internal server error", "internal_server_error", None)
        return 200, {"blocked_users": records}, {}

    def _customer_unblock(self, _query: dict[str, str], _body: Any) -> Reply:
        return 400, {"detail": {"error": UNBLOCK_WITHOUT_ENTERPRISE}}, {}

    def _customer_update(self, _query: dict[str, str], body: dict[str, Any]) -> Reply:
        customer = self.customers.get(body["user_id"])
        if customer is None:
            return _no_customer(body["user_id"], "user_id")
        changes = {name: body[name] for name in CUSTOMER_UPDATABLE if name in body}
        if self.customer_update_drops_false:
            changes = {k: v for k, v in changes.items() if v is not None and v not in ([], {}, 0)}
        for name, value in changes.items():
            setattr(customer, name, value)
        return 200, customer.record(), {}


def _wrapped(status: int, detail: dict[str, str]) -> Reply:
    """An HTTPException passed through `handle_exception_on_proxy`: the status stays, the detail is stringified."""
    return proxy_error(status, str(detail), "internal_server_error", "None")


def _duration_seconds(duration: str) -> int:
    """`duration_in_seconds` for the grace period; a garbled value only logs a warning upstream, so 0 here."""
    match = _DURATION.match(duration or "")
    return int(match[1]) * _SECONDS[match[2]] if match else 0


def _no_customer(user_id: str, param: str) -> Reply:
    return proxy_error(404, f"End User Id={user_id} does not exist in db", "not_found", param)


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _validate(path: str, query: dict[str, str], body: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 entries for what this route requires, in pydantic v2's words."""
    if path == "/customer/info" and "end_user_id" not in query:
        return [_missing(["query", "end_user_id"], None)]
    if path in OPTIONAL_BODY:
        return _optional_body_problems(body, OPTIONAL_BODY[path])
    if path not in BODY_SCHEMA:
        return []
    if body is _INVALID_JSON:
        return [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}]
    if body is None:
        return [_missing(["body"], None)]
    if not isinstance(body, dict):
        return [{"type": "model_attributes_type", "loc": ["body"], "input": body,
                 "msg": "Input should be a valid dictionary or object to extract fields from"}]
    problems = [p for name, kind in BODY_SCHEMA[path].items() for p in _field_problems(body, name, kind)]
    if path == "/key/delete" and not problems and not (body.get("keys") or body.get("key_aliases")):
        problems.append({"type": "value_error", "loc": ["body"], "input": body,
                         "msg": "Value error, At least one of 'keys' or 'key_aliases' must be provided."})
    return problems


def _optional_body_problems(body: Any, names: tuple[str, ...]) -> list[dict[str, Any]]:
    if body is None:
        return []
    if body is _INVALID_JSON:
        return [{"type": "json_invalid", "loc": ["body", 0], "msg": "JSON decode error", "input": {}}]
    if not isinstance(body, dict):
        return [{"type": "model_attributes_type", "loc": ["body"], "input": body,
                 "msg": "Input should be a valid dictionary or object to extract fields from"}]
    return [_wrong(["body", name], body[name], "string_type", "a valid string")
            for name in names if body.get(name) is not None and not isinstance(body[name], str)]


def _field_problems(body: dict[str, Any], name: str, kind: str) -> list[dict[str, Any]]:
    if name not in body:
        return [_missing(["body", name], body)]
    value = body[name]
    if kind == "str":
        return [] if isinstance(value, str) else [_wrong(["body", name], value, "string_type", "a valid string")]
    if not isinstance(value, list):
        return [_wrong(["body", name], value, "list_type", "a valid list")]
    return [_wrong(["body", name, i], v, "string_type", "a valid string")
            for i, v in enumerate(value) if not isinstance(v, str)]


def _missing(loc: list[str | int], given: Any) -> dict[str, Any]:
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": given}


def _wrong(loc: list[str | int], given: Any, kind: str, what: str) -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": f"Input should be {what}", "input": given}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 1 << 16  # headers and body leave in one write: no Nagle / delayed-ACK stall per request

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        proxy: LiteLLMProxy = self.server.proxy  # type: ignore[attr-defined]
        status, payload, headers = proxy.handle(self.command, self.path, self.headers.get("Authorization"), raw)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        pass  # keep pytest output to what the tests say
