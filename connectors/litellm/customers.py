"""UserBlocker over the LiteLLM proxy: end users ("customers"), the `user` an AI app passes on each request.

End users are blocked with /customer/block and unblocked with /customer/update. Every write reads the end
user first, so a retried task finds "already suspended" instead of failing, and `Outcome.before` holds what
the inverse restores.
"""

from __future__ import annotations

import requests

from irflow.connectors.errors import Conflict, NotFound, RateLimited, Unavailable
from irflow.connectors.litellm.proxy import SYSTEM, ProxyApi, dry, expect_blocked, planned
from irflow.connectors.litellm.settings import LiteLLMSettings
from irflow.connectors.outcome import Outcome, PlannedCall

CUSTOMER_FIELDS = ("blocked", "alias", "spend", "budget_id", "allowed_model_region", "default_model")
NO_SESSIONS = ("LiteLLM keeps no end-user sessions: an end user is named per request (the `user` field), "
               "so suspend is what stops them; nothing to revoke")


class LiteLLMUsers:
    """UserBlocker for LiteLLM end users ("customers"): the `user` an AI app passes on each request.

    Unsuspend uses POST /customer/update {"blocked": false}, not /customer/unblock: the latter only edits
    the enterprise in-memory `blocked_user_list` and answers 400 without it, leaving the database flag
    that /customer/block set untouched (BerriAI/litellm#35564; fixed path: PR #34696).
    """

    system = SYSTEM

    def __init__(self, settings: LiteLLMSettings, *, session: requests.Session | None = None) -> None:
        self._http = ProxyApi(settings, session)

    def __repr__(self) -> str:
        return f"LiteLLMUsers({self._http.base_url!r})"

    def info(self, user: str) -> dict[str, object]:
        """The end user as GET /customer/info describes it; an id the proxy never saw is simply not blocked.

        /customer/block upserts, so blocking an end user before their first request is legitimate; treating
        the proxy's 404 as `{"blocked": False, "exists": False}` lets suspend and its checks work for them.
        """
        try:
            body = self._http.get("/customer/info", {"end_user_id": user})
        except NotFound:
            return {"blocked": False, "exists": False}
        state: dict[str, object] = {name: body.get(name) for name in CUSTOMER_FIELDS}
        state.update(blocked=bool(body.get("blocked")), exists=True)
        return state

    def suspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Make the proxy refuse requests naming this end user (POST /customer/block); inverse: `unsuspend`."""
        call = planned("POST", "/customer/block", {"user_ids": [user]})
        if dry_run:
            return dry(call)
        before = self.info(user)
        if before["blocked"]:
            return Outcome(call, before, before, changed=False, detail="already suspended")
        try:
            self._http.post("/customer/block", {"user_ids": [user]})
        except RateLimited:
            raise
        except Unavailable as exc:
            return self._landed_despite(call, before, user, exc)
        after = self.info(user)
        expect_blocked(after, True, "the end user")
        return Outcome(call, before, after, changed=True)

    def unsuspend(self, user: str, *, dry_run: bool = False) -> Outcome:
        """Let the end user through again (POST /customer/update blocked=false); inverse: `suspend`."""
        call = planned("POST", "/customer/update", {"user_id": user, "blocked": False})
        if dry_run:
            return dry(call)
        before = self.info(user)
        if not before["blocked"]:
            return Outcome(call, before, before, changed=False, detail="already unsuspended")
        self._http.post("/customer/update", {"user_id": user, "blocked": False})
        after = self.info(user)
        if after["blocked"]:
            raise Conflict("the proxy kept the end user blocked after /customer/update blocked=false; proxies "
                           "without BerriAI/litellm PR #34696 drop it: upgrade the proxy", system=SYSTEM)
        return Outcome(call, before, after, changed=True)

    def revoke_sessions(self, user: str, *, dry_run: bool = False) -> Outcome:
        """A no-op that says why: the proxy has no end-user sessions to end."""
        call = PlannedCall(SYSTEM, "revoke sessions", {"user": user})
        return Outcome(call, {}, {}, changed=False, dry_run=dry_run, detail=NO_SESSIONS)

    def _landed_despite(self, call: PlannedCall, before: dict[str, object], user: str,
                        exc: Unavailable) -> Outcome:
        # Some proxy versions write the block and then fail serialising the answer with a 500
        # (BerriAI/litellm#39011): trust the state at the target over the status of the answer.
        after = self.info(user)
        if not after["blocked"]:
            raise exc
        detail = f"the proxy answered HTTP {exc.status} but the end user is blocked (BerriAI/litellm#39011)"
        return Outcome(call, before, after, changed=True, detail=detail)
