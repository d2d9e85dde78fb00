"""TeamBlocker over the LiteLLM proxy: /team/block and /team/unblock, each read before and after the write."""

from __future__ import annotations

from typing import Any

import requests

from irflow.connectors.litellm.proxy import SYSTEM, ProxyApi, dry, planned, toggle
from irflow.connectors.litellm.settings import LiteLLMSettings
from irflow.connectors.outcome import Outcome

TEAM_FIELDS = ("blocked", "team_alias", "organization_id", "spend", "max_budget", "rpm_limit", "tpm_limit")
TEAM_CACHE_NOTE = ("blocked in the proxy's database; a proxy without the fix for BerriAI/litellm#35565 admits "
                   "keys whose team it has cached until that cache entry expires")


class LiteLLMTeams:
    """TeamBlocker for LiteLLM teams: a blocked team's keys are all refused (`common_checks`: "Team=... is blocked").

    Team ids are not secrets, so they travel as given. An unknown team is NotFound: /team/block does not
    upsert. Some older proxies answer /team/info for an unknown team with 400 "Authentication Error,
    'NoneType' ..." instead of 404, which arrives here as InvalidRequest.
    """

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = ProxyApi(settings, session)

    def __repr__(self) -> str:
        return f"LiteLLMTeams({self._http.base_url!r})"

    def info(self, team: str) -> dict[str, object]:
        """The team as GET /team/info describes it (`team_info`: blocked, alias, budget, limits)."""
        body = self._http.get("/team/info", {"team_id": team})
        raw = body.get("team_info")
        info: dict[str, Any] = raw if isinstance(raw, dict) else {}
        state: dict[str, object] = {name: info.get(name) for name in TEAM_FIELDS}
        state["blocked"] = bool(info.get("blocked"))
        return state

    def block(self, team: str, *, dry_run: bool = False) -> Outcome:
        """Refuse every request made with a key of this team (POST /team/block); inverse: `unblock`."""
        return self._set_blocked(team, True, dry_run)

    def unblock(self, team: str, *, dry_run: bool = False) -> Outcome:
        """Let the team's keys through again (POST /team/unblock); inverse: `block`."""
        return self._set_blocked(team, False, dry_run)

    def _set_blocked(self, team: str, blocked: bool, dry_run: bool) -> Outcome:
        path = "/team/block" if blocked else "/team/unblock"
        call = planned("POST", path, {"team_id": team})
        if dry_run:
            return dry(call)
        return toggle(call, lambda: self._http.post(path, {"team_id": team}), lambda: self.info(team), blocked,
                      "the team", TEAM_CACHE_NOTE)
