"""Which incident an alert belongs to.

The actor is the API key for key-shaped categories (the key itself is abused) and otherwise the first
known of end user -> session -> source IP: one gateway key usually fronts every end user of an app, so
grouping prompt injections by key would merge unrelated attackers. Related categories (the same
`family` in taxonomy.yaml) from the same actor join one incident.
"""

from __future__ import annotations

from irflow.models import Actor, Alert, sha256_hex
from irflow.taxonomy import info, key_shaped_categories


def actor_identity(alert: Alert) -> tuple[str, str] | None:
    """(kind, value) of the actor this alert is grouped by, or None when nobody is known."""
    a: Actor = alert.actor
    if alert.category in key_shaped_categories():
        order = (("key", a.api_key), ("user", a.user), ("session", a.session), ("ip", a.ip))
    else:
        order = (("user", a.user), ("session", a.session), ("ip", a.ip), ("key", a.api_key))
    return next(((kind, value) for kind, value in order if value), None)


def group_key(alert: Alert) -> str:
    family = info(alert.category).family
    who = actor_identity(alert)
    if who is None:
        # Nobody known: group what one app/source reports of one category, rather than one per alert.
        return f"{family}|unknown|{alert.source}|{alert.app or '-'}|{alert.category}"
    value = who[1] if len(who[1]) <= 200 else "sha256:" + sha256_hex(who[1])
    return f"{family}|{who[0]}:{value}"
