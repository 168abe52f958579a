"""Crash recovery: a killed aggregator, a restarted Redis, nothing lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.feed.snapshot import read_snapshot
from data.keys import GROUP, Keys
from data.redis_conn import EmbeddedRedis, connect
from tests.common import FIXTURES, PREFIX

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

INC1 = "00000000-0000-4000-8000-000000000001"


def incident_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import sys
from data.feed.aggregator import Aggregator
from data.redis_conn import connect
from data.site_files import load_site
site = load_site(sys.argv[2])
Aggregator(connect(sys.argv[1], decode=False), {"tiny": site}, sys.argv[3],
           consumer="doomed", lease_ms=1000).run()
"""


def fill(r, n: int) -> None:
    keys = Keys(PREFIX, "tiny")
    now = now_ms()
    pipe = r.pipeline(transaction=False)
    for i in range(n):
        fields = {"v": "1", "src": "cam", "entrance": "E1" if i % 2 else "E2",
                  "ts": str(now), "in": "1", "out": "0"}
        if i % 3 == 0:
            fields["eid"] = f"e{i}"
        pipe.xadd(keys.stream("crowd"), fields)
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()


def folded(r) -> int:
    return int(r.hget(Keys(PREFIX, "tiny").stats, "folded:crowd") or 0)


def test_killed_aggregator_mid_batch_counts_every_entry_once(r, raw, redis_url, tiny):
    total = 100_000
    fill(r, total)
    stream = Keys(PREFIX, "tiny").stream("crowd")
    pending_at_kill = 0
    for _attempt in range(5):  # the kill may land between two batches: retry
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, redis_url,
             str(FIXTURES / "sites" / "tiny"), PREFIX],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        start = folded(r)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                folded(r) >= start + 3_000 and r.xpending(stream, GROUP)["pending"]):
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        pending_at_kill = r.xpending(stream, GROUP)["pending"]
        if pending_at_kill:
            break
        time.sleep(1.1)  # let the dead child's lease expire before the next one
    done_at_kill = folded(r)
    assert 0 < done_at_kill < total, "the child must die mid-run"
    assert pending_at_kill > 0, "the child must die holding a read, unacked batch"

    survivor = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="survivor",
                          lease_ms=1000, snapshot_interval_ms=10)
    deadline = time.monotonic() + 60
    while folded(r) < total and time.monotonic() < deadline:
        survivor.step(block_ms=50)
    survivor.states["tiny"].last_snapshot_ms = 0
    survivor.step(block_ms=1)

    assert folded(r) == total
    assert r.xpending(stream, GROUP)["pending"] == 0
    snap = read_snapshot(r, Keys(PREFIX, "tiny"))
    assert snap["people_in_today"] == total
    assert snap["people_present"] == total


def test_incidents_survive_a_restart_of_embedded_redis(tmp_path, tiny):
    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        client = connect(server.url, decode=False)
        agg = Aggregator(client, {"tiny": tiny}, PREFIX, consumer="a")
        agg.setup()
        keys = Keys(PREFIX, "tiny")
        now = now_ms()
        for n in range(3):
            client.xadd(keys.stream("incident"), {
                "v": "1", "src": "phone", "op": "report", "id": incident_id(n),
                "ts": str(now), "category": "sanitation", "level": "3",
                "title": f"事件{n}", "grid": "G1"})
        while agg.step(block_ms=20):
            pass
        agg.release()
        client.close()
    finally:
        server.stop()

    again = EmbeddedRedis(tmp_path / "redis", port=server.port).start()
    try:
        client = connect(again.url)
        ids = client.zrange(Keys(PREFIX, "tiny").incidents_all, 0, -1)
        assert sorted(ids) == [incident_id(n) for n in range(3)]
        assert client.get(Keys(PREFIX, "tiny").incident(INC1))
    finally:
        again.stop()


def test_aggregator_survives_redis_going_away(tmp_path, tiny):
    server = EmbeddedRedis(tmp_path / "redis").start()
    port = server.port
    client = connect(server.url, decode=False)
    agg = Aggregator(client, {"tiny": tiny}, PREFIX, consumer="a",
                     snapshot_interval_ms=10)
    import threading
    worker = threading.Thread(target=agg.run, daemon=True)
    worker.start()
    try:
        keys = Keys(PREFIX, "tiny")
        server.kill()
        time.sleep(1.5)
        assert worker.is_alive()
        server = EmbeddedRedis(tmp_path / "redis", port=port).start()
        now = now_ms()
        writer = connect(server.url)
        writer.xadd(keys.stream("crowd"), {"v": "1", "src": "c", "entrance": "E1",
                                           "ts": str(now), "in": "7", "out": "0"})
        deadline = time.monotonic() + 20
        snap = None
        while time.monotonic() < deadline:
            snap = read_snapshot(writer, keys)
            if snap and snap["people_in_1h"] == 7:
                break
            time.sleep(0.1)
        assert snap and snap["people_in_1h"] == 7
    finally:
        agg.stop()
        worker.join(5)
        server.stop()
