"""A loopback Jira for contract and integration tests: real HTTP on 127.0.0.1, Jira's status codes and
error bodies, and enough of Jira's workflow to sync against.

It serves what `JiraClient` (through the `jira` library) uses, under /rest/api/2 and /rest/api/3 ("Cloud")
or /rest/api/2 only ("Server", i.e. Data Center): serverInfo, myself, field, project, create/get/edit
issue, comments, transitions (GET, POST 204), properties, remote links (upserted by globalId), issue link
types and links, `search/jql` (pages by `nextPageToken`) and v2 `search`. Switches: a required custom
field, answering the next requests with 429/5xx, an outage (every request fails until healed), dropping
the connection after a request was processed (a lost answer), and the eventual consistency of Cloud's
enhanced search. People can be simulated (`human_transition`, `human_comment`), each returning the
webhook payload Jira would send. Every request is recorded. When ../shared/specs/jira holds Atlassian's
v3 OpenAPI spec, every request and response is validated against it with openapi-core (v2 traffic is
mapped onto the v3 paths, whose shapes it shares); violations are kept in `spec_errors`.

The pieces: this file is the HTTP pipeline (route, faults, auth, spec checks, lost answers) on
`loopback.LoopbackServer`; jira_server_resources.py answers each route, jira_server_state.py is the Jira
behind them, jira_server_model.py its vocabulary and rules, jira_server_spec.py the OpenAPI validation.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Literal

from tests.contract.jira_server_model import BOT_CLOUD, NOT_ADF, Problem, Recorded, parse_body
from tests.contract.jira_server_resources import JiraResources
from tests.contract.jira_server_spec import validator
from tests.contract.jira_server_state import JiraState
from tests.contract.loopback import DROP, Fault, LoopbackServer, Reply, Request, Routes, Text

__all__ = ["BOT_CLOUD", "NOT_ADF", "ROUTES", "JiraLoopback"]

DEAD_LINK = Text("<html><body>Oops, you&#39;ve found a dead link.</body></html>", "text/html")
ROUTES: Routes[str] = Routes({  # below /rest/api/<version>/: method -> the JiraResources method answering it
    "serverInfo": {"GET": "server_info"}, "myself": {"GET": "myself"}, "field": {"GET": "fields"},
    "project/{key}": {"GET": "project"}, "issue": {"POST": "create_issue"},
    "issue/{key}": {"GET": "get_issue", "PUT": "edit_issue"},
    "issue/{key}/comment": {"POST": "add_comment"},
    "issue/{key}/properties/{prop}": {"PUT": "set_property"},
    "issue/{key}/transitions": {"GET": "transitions", "POST": "do_transition"},
    "issue/{key}/remotelink": {"GET": "remote_links", "POST": "add_remote_link"},
    "issueLinkType": {"GET": "link_types"}, "issueLink": {"POST": "add_issue_link"},
    "search/jql": {"GET": "search_jql", "POST": "search_jql"},
    "search": {"GET": "search", "POST": "search"},
})


class JiraLoopback(LoopbackServer[Recorded], JiraResources):
    """The server and its state; `with JiraLoopback() as jira:` serves on `jira.url`.

    LoopbackServer comes first in the bases: it gives `url`, which JiraState only declares.
    """

    json_type = "application/json;charset=UTF-8"

    def __init__(
        self, deployment: Literal["Cloud", "Server"] = "Cloud", *, user: str = "bot@example.com",
        token: str = "s3cret-token", projects: tuple[str, ...] = ("SEC",), validate: bool = True,
    ) -> None:
        LoopbackServer.__init__(self, Recorded.of)
        JiraState.__init__(self, deployment, user, token, projects)
        self.down_status: int | None = None  # an outage: every request answered with this until healed
        self.spec_errors: list[str] = []
        self.validator = validator() if validate else None
        self._drops: list[tuple[str, str]] = []  # (method, path pattern): process, then hang up

    # --- switches -----------------------------------------------------------------------------
    def fail_next(self, status: int, times: int = 1, headers: Mapping[str, str] | None = None, *,
                  retry_after: str | int | None = None) -> None:
        """Answer the next `times` routed requests with `status` (429, 503, ...) and Retry-After if > 0."""
        super().fail_next(status, times, headers, retry_after=str(retry_after) if retry_after else None)

    def drop_next(self, method: str, path_pattern: str) -> None:
        """Process the next matching request, then close the connection unanswered: the create happened,
        the client never hears of it (what a crash or a timeout between create and record looks like)."""
        with self._lock:
            self._drops.append((method, path_pattern))

    def outage(self, status: int = 500) -> None:
        """Every request fails with `status` until `heal()`."""
        self.down_status = status

    def heal(self) -> None:
        self.down_status = None
        with self._lock:
            self._faults.clear()

    def calls(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- request pipeline ---------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        """Route first, then faults and auth (`_gate`): Jira refuses an unknown URL before anything else."""
        self.wait()
        rec = self.log(request)
        if not rec.version or (rec.version == "3" and self.deployment == "Server"):
            rec.status = 404
            return 404, DEAD_LINK, {}  # Jira answers an unknown URL with an HTML page, not JSON
        reply = self._serve(rec, request.raw)
        rec.status = reply[0]
        if self.validator and rec.routed:
            self._note(self.validator.check(rec, request.raw, reply))
        with self._lock:
            drop = next((d for d in self._drops if d[0] == rec.method and re.fullmatch(d[1], rec.path)), None)
            if drop and 200 <= reply[0] < 300:
                self._drops.remove(drop)
                return DROP, None, {}
        return reply

    def _serve(self, rec: Recorded, raw: bytes) -> Reply:
        try:
            route, params = self._route(rec)
            rec.routed = True
            self._gate(rec)
            rec.body = parse_body(raw) if raw else None
            if self.validator:
                error = self.validator.check(rec, raw, None)
                if error:
                    self._note(error)
                    raise Problem(400, [error])
            with self._lock:
                return route(rec, **params)
        except Problem as problem:
            return problem.reply

    def _note(self, error: str | None) -> None:  # the validator's findings, for the fixture to assert on
        if error:
            with self._lock:
                self.spec_errors.append(error)

    def _route(self, rec: Recorded) -> tuple[Callable[..., Reply], dict[str, str]]:
        found = ROUTES.find(rec.path)
        if found is None:
            raise Problem(404, [f"No resource at /rest/api/{rec.version}/{rec.path}"])
        _, methods, params = found
        if rec.method not in methods:
            raise Problem(405, [f"Method {rec.method} is not allowed; allowed: {', '.join(methods)}"])
        return getattr(self, methods[rec.method]), params

    def _gate(self, rec: Recorded) -> None:
        fault = self.take_fault()
        if self.down_status is not None:
            fault = Fault(self.down_status)
        if fault is not None:
            status = fault.status
            problem = Problem(status, ["Rate limit exceeded." if status == 429 else "Service unavailable."
                                       if status == 503 else "Internal server error."])
            problem.reply[2].update(fault.headers)
            raise problem
        auth = rec.headers.get("Authorization", "")
        basic = "Basic " + base64.b64encode(f"{self.user}:{self.token}".encode()).decode()
        accepted = {basic, f"Bearer {self.token}"} if self.deployment == "Server" else {basic}
        if auth in accepted or (not auth and rec.path == "serverInfo"):
            return
        raise Problem(401, ["You are not authenticated. Authentication required to perform this operation."])
