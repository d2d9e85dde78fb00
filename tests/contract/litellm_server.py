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
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.contract.litellm_server_validation import REGENERATE, validate
from tests.contract.loopback import Fault, LoopbackServer, Reply, Request, Routes, Seen, bearer_token, read_json

MASTER_KEY = "sk-master-loopback-7f3a9c2e5b1d"
UNBLOCK_WITHOUT_ENTERPRISE = "Blocked user check was never set. This call has no effect."
NOT_PREMIUM = ("Regenerating Virtual Keys is an Enterprise feature, You must be a LiteLLM Enterprise user to use "
               "this feature. If you have a license please set `LITELLM_LICENSE` in your env.")
_DURATION = re.compile(r"(\d+)(mo|[smhdw]?)")  # litellm_core_utils.duration_parser._extract_from_regex
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2592000}
KEY_UPDATABLE = ("key_alias", "user_id", "team_id", "spend", "max_budget", "rpm_limit", "tpm_limit", "blocked")
CUSTOMER_UPDATABLE = ("alias", "blocked", "max_budget", "budget_id", "default_model")
Handler = Callable[[dict[str, str], Any], Reply]
"""A route's handler: query (with path parameters) and JSON body in, reply out."""


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


class LiteLLMProxy(LoopbackServer[Seen]):
    """The loopback proxy: keys, teams, customers, switches, and what `LoopbackServer` serves and logs."""

    def __init__(self, master_key: str = MASTER_KEY) -> None:
        super().__init__(Seen.of)
        self.master_key = master_key
        self.keys: dict[str, KeyRow] = {}
        self.customers: dict[str, Customer] = {}
        self.teams: dict[str, Team] = {}
        self.deprecated: dict[str, tuple[str, float]] = {}
        """Old token -> (new token, revoke_at): LiteLLM_DeprecatedVerificationToken during a grace period."""
        self.customer_block_fails_after_write = False
        self.customer_update_drops_false = False
        self.premium_user = True
        self.rotation_grace_period = ""
        self._lose_next_answer = False
        self._routes: Routes[Handler] = Routes({
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
        })

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

    def lose_next_answer(self) -> None:
        """The next write is applied, but a load balancer in front answers 504: the client never sees the reply."""
        self._lose_next_answer = True

    # --- the HTTP surface ---------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Answer as the proxy would, unless a load balancer in front loses the answer to a write."""
        reply = super().handle(request)
        with self._lock:
            if self._lose_next_answer and request.method != "GET":
                self._lose_next_answer = False
                return 504, "upstream request timeout", {}
        return reply

    def answer(self, request: Request) -> Reply:
        """Route, method, auth, validation, handler: the order FastAPI and the proxy's dependencies run in."""
        found = self._routes.find(unquote(request.path))
        if found is None:
            return 404, {"detail": "Not Found"}, {}
        route, methods, path_params = found
        if request.method not in methods:
            allow = ", ".join(m for verb in methods for m in ((verb, "HEAD") if verb == "GET" else (verb,)))
            return 405, {"detail": "Method Not Allowed"}, {"Allow": allow}
        denied = self._auth(request.authorization)
        if denied:
            return denied
        query = request.query | path_params
        body = read_json(request.raw)
        problems = validate(route, query, body)
        if problems:
            return 422, {"detail": problems}, {}
        return methods[request.method](query, body)

    def fault_reply(self, fault: Fault) -> Reply:
        kind = "rate_limit_error" if fault.status == 429 else "internal_server_error"
        status, body, _ = proxy_error(fault.status, f"loopback fault {fault.status}", kind, None)
        return status, body, fault.headers

    def _auth(self, authorization: str | None) -> Reply | None:
        api_key = bearer_token(authorization)
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
