"""The incidents a unit's console lists, read from the indexes each site keeps
per community (:mod:`data.units.counts`), never by reading every incident of
its sites.

Three views of the communities under a unit: the incidents owned at the
unit's own level (a city owns none: it sees those owned by its districts),
the open ones past their deadline, and those under supervision (督办).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis

from data.incidents.store import read_incidents
from data.keys import Keys
from data.redis_conn import as_text
from data.terms import CHAIN
from data.units.tree import UnitTree

VIEWS = ("owned", "overdue", "supervised")
PER_COMMUNITY = 200  # the most a community adds to one view


def listed_level(level: str) -> str:
    """The owner level a unit at ``level`` lists: its own, the city's
    districts' (the city owns no incident)."""
    return level if level in CHAIN else CHAIN[-1]


def communities_of(tree: UnitTree, unit: str,
                   sites: Iterable[str]) -> list[tuple[str, str]]:
    """(community, its site) under ``unit``, for the served ``sites`` given."""
    wanted = set(sites)
    return [(node.id, node.site) for _, node in tree.walk(unit)
            if node.level == "community" and node.site in wanted]


def unit_incidents(r: redis.Redis, prefix: str, tree: UnitTree, unit: str,
                   sites: Iterable[str], view: str, now_ms: int
                   ) -> list[tuple[str, dict[str, Any]]]:
    """(site, record) of ``view`` over the communities of ``sites`` under
    ``unit``, soonest deadline first."""
    if view not in VIEWS:
        raise ValueError(f"view: one of {', '.join(VIEWS)}, not {view!r}")
    level = listed_level(tree[unit].level)
    places = communities_of(tree, unit, sites)
    pipe = r.pipeline(transaction=False)
    for comm, site in places:
        keys = Keys(prefix, site)
        if view == "owned":
            pipe.zrange(keys.unit_owned_ids(comm, level), 0, PER_COMMUNITY - 1)
        elif view == "overdue":
            pipe.zrangebyscore(keys.unit_open(comm), "-inf", now_ms - 1,
                               start=0, num=PER_COMMUNITY)
        else:
            pipe.zrange(keys.unit_supervised(comm), 0, PER_COMMUNITY - 1)
    found = pipe.execute() if places else []
    by_site: dict[str, list[str]] = {}
    for (_, site), ids in zip(places, found, strict=True):
        by_site.setdefault(site, []).extend(as_text(i) for i in ids)
    out = [(site, record) for site, ids in by_site.items()
           for record in read_incidents(r, Keys(prefix, site), ids)]
    return sorted(out, key=lambda pair: (pair[1]["deadline"], pair[1]["id"]))

