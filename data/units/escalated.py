"""The incidents escalated to a unit: open, owned at the unit's level, in
one of its communities.

The fold keeps, per community, the ids of its open incidents owned at each
level (``Keys.unit_open_at``, data/units/counts.py), so a street's wall reads
the newest few of each of its communities and the records of those alone,
never a whole site. The city has no level of its own in the chain: its wall
lists what reached the districts, the top of the chain.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from data.incidents.lifecycle import public_view
from data.keys import Keys
from data.terms import CHAIN
from data.units.tree import UnitTree


def owner_level(level: str) -> str:
    """The owner level whose incidents a unit at ``level`` lists."""
    return level if level in CHAIN else CHAIN[-1]


def escalated(r: redis.Redis, prefix: str, tree: UnitTree, unit: str,
              now_ms: int, limit: int = 8) -> list[dict[str, Any]]:
    """The ``limit`` newest open incidents owned at ``unit``'s level under
    it, newest first, as public views (personal data masked, SLA light),
    each with its ``site`` and ``community``."""
    level = owner_level(tree[unit].level)
    communities = [n for _, n in tree.walk(unit) if n.level == "community"
                   and n.site]
    pipe = r.pipeline(transaction=False)
    for node in communities:
        pipe.zrevrange(Keys(prefix, node.site).unit_open_at(node.id, level),
                       0, limit - 1, withscores=True)
    found = []
    for node, members in zip(communities, pipe.execute(), strict=True):
        found += [(score, node, member) for member, score in members]
    found.sort(key=lambda x: -x[0])
    found = found[:limit]
    pipe = r.pipeline(transaction=False)
    for _, node, member in found:
        pipe.get(Keys(prefix, node.site).incident(
            member.decode() if isinstance(member, bytes) else member))
    out = []
    for (_, node, _), raw in zip(found, pipe.execute(), strict=True):
        if raw:
            out.append({**public_view(json.loads(raw), now_ms), "site": node.site,
                        "community": node.id})
    return out
