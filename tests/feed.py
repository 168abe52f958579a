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


def fold_at(raw, site, now: int, consumer: str = "test-folder") -> int:
    """Fold what is waiting on ``site``'s streams as the aggregator does
    (check, then one :class:`~data.feed.batch.Batch`), at the aggregator
    time ``now``: scripted feeds whose producers stop and come back."""
    import redis as redis_py

    from data.feed.aggregator import ensure_groups
    from data.feed.batch import Batch
    from data.feed.check import check
    from data.feed.contract import Rejected
    from data.keys import FEED_STREAMS, GROUP

    keys = Keys(PREFIX, site.id)
    ensure_groups(raw, keys)
    raw.set(keys.lease, consumer)
    reply = raw.xreadgroup(GROUP, consumer, {keys.stream(n): ">"
                                             for n in FEED_STREAMS}, count=1000)
    checked, raws = [], {}
    for key, entries in reply or []:
        key = key.decode() if isinstance(key, bytes) else key
        name = key.rsplit(":", 1)[1]
        for entry_id, fields in entries:
            entry_id = entry_id.decode()
            try:
                checked.append((key, name, entry_id, check(name, fields, site, now)))
            except Rejected as exc:
                checked.append((key, name, entry_id, exc))
                raws[entry_id, key] = fields
            else:
                if name == "incident":
                    raws[entry_id, key] = fields
    if not checked:
        return 0
    batch = Batch(raw, PREFIX, consumer, 3600, site, keys, checked, raws, now)
    while True:
        try:
            with raw.pipeline(transaction=True) as pipe:
                batch.apply(pipe)
            return len(checked)
        except redis_py.WatchError:
            continue
