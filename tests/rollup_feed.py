"""Incidents and people on the three sites of :mod:`tests.chain`, written to
their streams as producers and the app would, and the roll-up read back."""

from __future__ import annotations

import itertools
import uuid

from data.clock import now_ms
from data.keys import Keys
from data.units.rollup import read_units
from tests.common import PREFIX

HOUR = 3_600_000
_ids = itertools.count(1)


def new_id() -> str:
    return str(uuid.UUID(int=next(_ids)))


def put(r, site: str, stream: str, **fields) -> None:
    r.xadd(Keys(PREFIX, site).stream(stream), {k: str(v) for k, v in fields.items()})


def people(r, site: str, entrance: str, n_in: int) -> None:
    put(r, site, "crowd", v=1, src="cam", entrance=entrance, ts=now_ms(),
        **{"in": n_in, "out": 0})


def report(r, site: str, *, ago_ms: int, category: str = "sanitation",
           level: int = 2, grid: str = "G1") -> str:
    incident = new_id()
    put(r, site, "incident", v=1, src="phone", op="report", id=incident,
        ts=now_ms() - ago_ms, category=category, level=level, title="测试",
        grid=grid)
    return incident


def op(r, site: str, incident: str, name: str, actor: str = "adm",
       **extra) -> None:
    put(r, site, "incident", v=1, src="app", op=name, id=incident, ts=now_ms(),
        actor=f"{site}-{actor}", **extra)


def close(r, site: str, incident: str, actor: str = "adm",
          worker: str = "w1") -> None:
    """Accepted, dispatched to the grid's worker, resolved and verified."""
    op(r, site, incident, "accept", actor)
    op(r, site, incident, "dispatch", actor, assignee=f"{site}-{worker}")
    op(r, site, incident, "resolve", actor, note="好了")
    op(r, site, incident, "verify", actor, passed=1)


def figures(r, tree) -> dict[str, dict[str, int]]:
    """Every unit's rolled-up counts, without the bookkeeping."""
    return {u: {k: v for k, v in counts.items()
                if k not in ("generated_ms", "version") and v}
            for u, counts in read_units(r, PREFIX, tree.units).items()}
