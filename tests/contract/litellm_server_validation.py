"""FastAPI's 422 answers for the LiteLLM proxy's request models: what `litellm_server.LiteLLMProxy` says to a
body or query its route refuses, in pydantic v2's words ({"type", "loc", "msg", "input"}).

Kept apart from the proxy's routes because it follows FastAPI and pydantic, not the proxy's own logic; the
models are those of `litellm/proxy/_types.py` (see litellm_server's docstring).
"""

from __future__ import annotations

from typing import Any

from tests.contract.loopback import INVALID_JSON

REGENERATE = "/key/{key:path}/regenerate"  # Starlette's {key:path}: anything, slashes too

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


def validate(path: str, query: dict[str, str], body: Any) -> list[dict[str, Any]]:
    """FastAPI's 422 entries for what this route requires, in pydantic v2's words."""
    if path == "/customer/info" and "end_user_id" not in query:
        return [_missing(["query", "end_user_id"], None)]
    if path in OPTIONAL_BODY:
        return _optional_body_problems(body, OPTIONAL_BODY[path])
    if path not in BODY_SCHEMA:
        return []
    if body is INVALID_JSON:
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
    if body is INVALID_JSON:
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
