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


def write_example(r) -> None:
    """The example of tests/test_rollup.py, whose figures are worked out by
    hand there: people at each site; on ``ta`` one incident overdue in the
    grid, one closed in the grid on time, one escalated to the community; on
    ``tb`` one closed, reopened (rework) and closed again on time, one closed
    late (a 1 h deadline, reported 3 h ago), both by the grid; on ``tc`` one
    escalated to the street and open, one escalated to the street and closed
    there on time."""
    people(r, "ta", "E1", 30)
    people(r, "tb", "E2", 50)
    people(r, "tc", "E1", 20)
    people(r, "tc", "E2", 10)
    report(r, "ta", ago_ms=3 * HOUR, category="parking", level=1)
    close(r, "ta", report(r, "ta", ago_ms=HOUR))
    op(r, "ta", report(r, "ta", ago_ms=HOUR), "escalate", "sup")
    b1 = report(r, "tb", ago_ms=HOUR // 2)
    close(r, "tb", b1)
    op(r, "tb", b1, "reopen", note="又坏了")
    op(r, "tb", b1, "resolve", note="修好了")
    op(r, "tb", b1, "verify", passed=1)
    close(r, "tb", report(r, "tb", ago_ms=3 * HOUR, category="parking", level=1))
    op(r, "tc", report(r, "tc", ago_ms=HOUR), "escalate", "sup", level="street")
    c2 = report(r, "tc", ago_ms=HOUR)
    op(r, "tc", c2, "escalate", "sup", level="street")
    close(r, "tc", c2, actor="sup_street")
