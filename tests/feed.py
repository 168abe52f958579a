"""Writing feed entries for the ``tiny`` site and folding them, in tests."""

from __future__ import annotations

from data.clock import now_ms
from data.keys import Keys
from tests.common import PREFIX

INC1 = "00000000-0000-4000-8000-000000000001"
INC2 = "00000000-0000-4000-8000-000000000002"
INC9 = "00000000-0000-4000-8000-000000000009"


def xadd(r, stream: str, **fields) -> str:
    """One entry on one of ``tiny``'s streams, every value as a string."""
    return r.xadd(Keys(PREFIX, "tiny").stream(stream),
                  {k: str(v) for k, v in fields.items()})


def crowd(r, entrance: str, n_in: int, n_out: int, ts: int | None = None,
          **extra) -> str:
    fields = {"v": 1, "src": "cam-1", "entrance": entrance, "ts": ts or now_ms(),
              "in": n_in, "out": n_out, **extra}
    return xadd(r, "crowd", **fields)


def drain(agg, rounds: int = 5) -> None:
    """Fold until nothing is left, then publish a snapshot."""
    for _ in range(rounds):
        if not agg.step(block_ms=20):
            break
    for state in agg.states.values():
        state.last_snapshot_ms = 0
    agg.step(block_ms=1)
