"""Recording chosen moments for the replay's tests: a snapshot published at
a moment of the test's choosing, then recorded (the ``recorder`` fixture of
``conftest.py``)."""

from __future__ import annotations

import json

from data.feed.snapshot import publish
from data.keys import Keys
from tests.common import PREFIX
from tests.feed import crowd


def publish_at(raw, tiny, rec, ms: int, people: int = 0) -> dict:
    """The snapshot of ``tiny`` published at ``ms`` (after ``people`` more
    came in at E1), recorded; as the walls read it."""
    keys = Keys(PREFIX, "tiny")
    folded = int(raw.hget(keys.stats, "folded:crowd") or 0)
    if people:
        crowd(raw, "E1", people, 0, ts=ms)
        folded += 1
    # fold what was written (it publishes now, too), however long the
    # aggregator takes to hear of it on a loaded machine
    for _ in range(500):
        rec.agg.step(block_ms=10)
        if int(raw.hget(keys.stats, "folded:crowd") or 0) >= folded:
            break
    for _ in range(2):
        rec.agg.step(block_ms=10)
    publish(raw, keys, tiny, ms)
    rec.record("tiny")
    return json.loads(raw.get(keys.snapshot))
