"""The archiver against a real Redis: minute buckets and incidents to Parquet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow.parquet as pq
import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.history import archive, files
from data.history.archiver import Archiver
from data.history.dataset import History, clear_cache
from data.history.files import day_file
from data.keys import Keys
from tests.common import PREFIX
from tests.crash import HALF_WRITE_THEN_DIE
from tests.waiting import wait_until

pytestmark = pytest.mark.cluster  # on one Redis and on a cluster

INC1 = "00000000-0000-4000-8000-000000000001"
INC2 = "00000000-0000-4000-8000-000000000002"

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parent.parent




def xadd(r, stream: str, **fields) -> str:
    return r.xadd(Keys(PREFIX, "tiny").stream(stream),
                  {k: str(v) for k, v in fields.items()})


def fold(raw, tiny) -> None:
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="agg-arch")
    for _ in range(5):
        if not agg.step(block_ms=20):
            break


def minute_of(ts: int) -> int:
    """The start of ``ts``'s minute, epoch ms."""
    return ts // 60_000 * 60_000


@pytest.fixture
def base_ts() -> int:
    """Two hours ago, but on today's local date when possible (files per day)."""
    now = now_ms()
    start_of_day = int(datetime.now(TZ).replace(hour=0, minute=0, second=0,
                                                microsecond=0).timestamp() * 1000)
    return max(start_of_day + 60_000, now - 2 * 3_600_000) // 60_000 * 60_000 + 5_000


def day_of(ts: int) -> date:
    return datetime.fromtimestamp(ts / 1000, TZ).date()


def read_minutes(root: Path, ts: int):
    return pq.read_table(day_file(root, "tiny", day_of(ts), "flow")).to_pandas()


def test_minute_buckets_round_trip(r, raw, tiny, tmp_path, base_ts):
    xadd(r, "crowd", v=1, src="c1", entrance="E1", ts=base_ts, **{"in": 7, "out": 2})
    xadd(r, "crowd", v=1, src="c1", entrance="E1", ts=base_ts + 20_000,
         **{"in": 3, "out": 1})
    xadd(r, "crowd", v=1, src="c2", entrance="E2", ts=base_ts + 60_000,
         **{"in": 5, "out": 0})
    xadd(r, "traffic", v=1, src="g1", entrance="V1", ts=base_ts, **{"in": 4, "out": 1})
    fold(raw, tiny)
    written = Archiver(r, {"tiny": tiny}, PREFIX, tmp_path).run_once()
    assert written == {"tiny": [day_of(base_ts)]}
    rows = read_minutes(tmp_path, base_ts)
    got = {(row.scope, row.id, int(row.minute.timestamp() * 1000)): (row._4, row.out)
           for row in rows.itertuples()}
    m0, m1 = minute_of(base_ts), minute_of(base_ts) + 60_000
    assert got == {
        ("entrance", "E1", m0): (10, 3), ("grid", "G1", m0): (10, 3),
        ("site", "site", m0): (10, 3), ("gate", "V1", m0): (4, 1),
        ("vehicles", "vehicles", m0): (4, 1),
        ("entrance", "E2", m1): (5, 0), ("grid", "G2", m1): (5, 0),
        ("site", "site", m1): (5, 0),
    }
    hourly, _, days = History(tmp_path).flow(tiny, day_of(base_ts), day_of(base_ts))
    site_rows = hourly[hourly["scope"] == "site"]
    assert int(site_rows["in"].sum()) == 15 and days == {day_of(base_ts)}
    meta = files.read_meta(day_file(tmp_path, "tiny", day_of(base_ts), "flow"))
    assert meta["gov.site"] == "tiny" and int(meta["gov.as_of"]) > 0


def test_history_survives_a_redis_that_lost_its_data(r, raw, tiny, tmp_path,
                                                     base_ts):
    xadd(r, "crowd", v=1, src="c1", entrance="E1", ts=base_ts, **{"in": 7, "out": 2})
    fold(raw, tiny)
    archiver = Archiver(r, {"tiny": tiny}, PREFIX, tmp_path)
    archiver.run_once()
    path = day_file(tmp_path, "tiny", day_of(base_ts), "flow")
    before = path.stat().st_mtime_ns
    assert archiver.run_once() == {"tiny": []}
    assert path.stat().st_mtime_ns == before  # nothing new: nothing rewritten
    r.flushdb()
    archiver.run_once()
    rows = read_minutes(tmp_path, base_ts)
    assert int(rows[rows["scope"] == "site"]["in"].sum()) == 7
    # a late entry for the same minute still lands
    xadd(r, "crowd", v=1, src="c1", entrance="E1", ts=base_ts + 1000,
         **{"in": 9, "out": 0})
    fold(raw, tiny)
    archiver.run_once()
    rows = read_minutes(tmp_path, base_ts)
    assert int(rows[rows["scope"] == "site"]["in"].sum()) == 9  # max(7, 9): no loss


def report(r, incident_id: str, ts: int, **extra) -> None:
    fields = {"v": 1, "src": "hotline", "op": "report", "id": incident_id, "ts": ts,
              "category": "sanitation", "level": 2, "title": "楼道堆放杂物",
              "grid": "G1", "channel": "hotline", "reporter": "张三丰",
              "phone": "13812345678", **extra}
    xadd(r, "incident", **fields)


def op(r, incident_id: str, name: str, actor: str, ts: int, **extra) -> None:
    xadd(r, "incident", v=1, src="app", op=name, id=incident_id, ts=ts, actor=actor,
         **extra)


def test_incidents_round_trip_with_history_and_later_changes(r, raw, tiny,
                                                             tmp_path, base_ts):
    t0 = base_ts
    report(r, INC1, t0)
    op(r, INC1, "accept", "sup", t0 + 60_000)
    op(r, INC1, "escalate", "sup", t0 + 120_000)
    report(r, INC2, t0 + 1000, grid="G2")
    fold(raw, tiny)
    archiver = Archiver(r, {"tiny": tiny}, PREFIX, tmp_path)
    archiver.run_once()
    inc, _ = History(tmp_path).incidents(tiny, day_of(t0), day_of(t0))
    one = inc.set_index("id").loc[INC1]
    assert (one["status"], one["owner_level"], one["path"]) == (
        "escalated", "community", "grid>community")
    assert one["reporter"] == "张**" and one["phone"] == "138****5678"
    history = json.loads(one["history"])
    assert [h["op"] for h in history] == ["report", "accept", "escalate"]
    assert "13812345678" not in one["history"]
    assert one["reported_at"] == datetime.fromtimestamp(t0 / 1000, TZ)
    # later work on INC1 is picked up by the next (incremental) pass
    op(r, INC1, "dispatch", "sup", t0 + 180_000, assignee="w1")
    op(r, INC1, "resolve", "w1", t0 + 240_000, note="已清理")
    op(r, INC1, "verify", "sup", t0 + 300_000, passed=1)
    fold(raw, tiny)
    archiver.run_once()
    clear_cache()
    inc, _ = History(tmp_path).incidents(tiny, day_of(t0), day_of(t0))
    one = inc.set_index("id").loc[INC1]
    assert (one["status"], one["solved_level"]) == ("closed", "community")
    assert len(inc) == 2


def test_one_archiver_per_site_at_a_time(r, tiny, tmp_path):
    first = Archiver(r, {"tiny": tiny}, PREFIX, tmp_path, name="a")
    second = Archiver(r, {"tiny": tiny}, PREFIX, tmp_path, name="b")
    assert "tiny" in first.run_once()
    assert second.run_once() == {}


CRASH = """
import os, signal, sys
import pyarrow.parquet as pq
from pathlib import Path
from data.history import archive, files
from data.site_files import load_site

""" + HALF_WRITE_THEN_DIE + """site = load_site(Path(sys.argv[2]))
frame = archive.flow_frame([(int(sys.argv[3]), "site", "site", 999, 1)], site.timezone)
archive.write_flow_day(Path(sys.argv[1]), site, files.local_day(int(sys.argv[3]),
                       site.timezone), frame, 1)
"""


def test_a_crash_in_the_middle_of_a_write_leaves_the_old_file(tiny, tmp_path):
    ts = int(datetime(2024, 5, 6, 9, 30, tzinfo=TZ).timestamp() * 1000)
    day = files.local_day(ts, tiny.timezone)
    first = archive.flow_frame([(ts, "site", "site", 12, 3)], tiny.timezone)
    archive.write_flow_day(tmp_path, tiny, day, first, 1)
    path = day_file(tmp_path, "tiny", day, "flow")
    good = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path), str(tiny.path), str(ts + 60_000)],
        cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert path.read_bytes() == good  # the old file, whole
    temps = list(path.parent.glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0  # the half-written one
    clear_cache()
    flow, _, days = History(tmp_path).flow(tiny, day, day, minutes=True)
    assert flow["in"].tolist() == [12] and days == {day}
    os.utime(temps[0], (0, 0))
    assert files.remove_stale_temps(tmp_path) == 1
    assert not list(path.parent.glob(".*.tmp"))


def test_a_broken_file_is_skipped_not_a_traceback(tiny, tmp_path, caplog):
    day = date(2024, 5, 6)
    path = day_file(tmp_path, "tiny", day, "flow_hourly")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PAR1 this is not parquet")
    clear_cache()
    flow, _, days = History(tmp_path).flow(tiny, day, day)
    assert flow.empty and days == set()
    assert "unreadable" in caplog.text


def test_the_loop_stops_and_survives_a_dead_redis(tiny, tmp_path, caplog):
    """It keeps retrying while Redis is away (a loop that died on its first
    error would log once and end), and stops when asked."""
    import logging
    import threading

    from data.redis_conn import connect

    dead = connect("redis://127.0.0.1:1/0")
    archiver = Archiver(dead, {"tiny": tiny}, PREFIX, tmp_path, every_s=0.05)
    thread = threading.Thread(target=archiver.run)
    with caplog.at_level(logging.WARNING):
        thread.start()
        wait_until(lambda: sum("redis unavailable" in rec.getMessage()
                               for rec in caplog.records) >= 3,
                   what="three retries against a dead Redis")
        assert thread.is_alive()
    archiver.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
