"""Validation of the Jira loopback's traffic against Atlassian's Jira Cloud platform REST v3 OpenAPI spec.

When ../shared/specs/jira holds the spec and openapi-core is installed, every routed request and its
answer are checked (v2 traffic is mapped onto the v3 paths, whose shapes it shares); the server keeps what
this finds in `spec_errors` for the tests to assert on.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import threading
import warnings
from pathlib import Path
from urllib.parse import urlencode

from tests.contract.jira_server_model import Recorded
from tests.contract.loopback import Reply

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "jira" / "jira-platform-v3.openapi.json"
SPEC_HOST = "https://your-domain.atlassian.net"  # the spec's only server; the path is what matters


class SpecValidator:
    """openapi-core over the v3 spec; loaded lazily, used under a lock (validators cache internally)."""

    def __init__(self, path: Path) -> None:
        from openapi_core import Config, OpenAPI

        self._api = OpenAPI.from_dict(json.loads(path.read_text()), config=Config(spec_validator_cls=None))
        self._lock = threading.Lock()

    def check(self, rec: Recorded, raw: bytes, reply: Reply | None) -> str | None:
        from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
        from openapi_core.exceptions import OpenAPIError
        from werkzeug.test import EnvironBuilder
        from werkzeug.wrappers import Request, Response

        env = EnvironBuilder(
            method=rec.method, path=f"/rest/api/3/{rec.path}", base_url=SPEC_HOST,
            headers=[(k, v) for k, v in rec.headers.items() if k != "Host"],  # the spec's host, not ours
            query_string=urlencode(v3_query(rec), doseq=True), data=raw or None,
        ).get_environ()
        request = WerkzeugOpenAPIRequest(Request(env))
        with self._lock, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Unsupported scheme type" for the spec's OAuth2 scheme
            try:
                if reply is None:
                    self._api.validate_request(request)
                    return None
                status, body, _ = reply
                if body is None or status in (410, 429, 500, 503):  # empty; any operation (410: a removed API)
                    return None
                response = Response(json.dumps(body), status=status, content_type="application/json")
                self._api.validate_response(request, WerkzeugOpenAPIResponse(response))
            except OpenAPIError as exc:
                return f"{rec.method} {rec.path} {'request' if reply is None else reply[0]}: {exc}"
        return None


V2_ONLY_PARAMS = {"validateQuery"}  # v2 `search` takes it; v3's spec never heard of it


def v3_query(rec: Recorded) -> dict[str, list[str]]:
    """The query as the v3 operation would take it: v2 requests are validated against the v3 paths."""
    return {k: v for k, v in rec.query.items() if rec.version == "3" or k not in V2_ONLY_PARAMS}


@functools.cache
def validator() -> SpecValidator | None:
    """One per process (the spec is 2.4 MB); None without ../shared or without openapi-core."""
    if not SPEC.exists() or importlib.util.find_spec("openapi_core") is None:
        return None
    return SpecValidator(SPEC)
