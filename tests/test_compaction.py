"""Month copies of the day files, and the cache of reads: the same numbers as
the day files, never stale, and a crash never leaves half a file to read."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from data.history import analytics, archive, files
from data.history.archiver import Archiver
from data.history.compaction import compact_site, month_file
from data.history.dataset import Filters, History, clear_cache
from data.history.files import day_dir
from layouts import analysis_charts as charts
from tests import analysis_data as hand
from tests.common import PREFIX
from tests.crash import HALF_WRITE_THEN_DIE

ROOT = Path(__file__).resolve().parent.parent
AFTER = date(2024, 6, 1)  # every hand-made day is over by then
AS_OF = int(hand.AS_OF.timestamp() * 1000)


def load(root: Path, tiny, start=hand.START, end=hand.END, **extra):
    return History(root).load(tiny, Filters(site="tiny", start=start, end=end,
                                            **extra))


def views(data, tiny) -> dict:
    out = {name: chart.frame(data, tiny) for name, chart in charts.CHARTS.items()}
    out["summary"] = pd.DataFrame([analytics.summary(data, tiny)])
    return out


def assert_same(a, b, tiny) -> None:
    pd.testing.assert_frame_equal(a.flow, b.flow)
    pd.testing.assert_frame_equal(a.incidents, b.incidents)
    assert (a.as_of, a.flow_days) == (b.as_of, b.flow_days)
    theirs = views(b, tiny)
    for name, frame in views(a, tiny).items():
        pd.testing.assert_frame_equal(frame, theirs[name])


def people_in(data, tiny, day: date) -> int:
    trend = analytics.daily_trend(data, tiny).set_index("day")
    return int(trend.loc[day, "people_in"])


@pytest.fixture
def root(tmp_path, tiny) -> Path:
    hand.write(tmp_path, tiny)
    clear_cache()
    return tmp_path


@pytest.mark.parametrize(("start", "end", "extra"), [
    (hand.START, hand.END, {}),
    (date(2024, 5, 1), date(2024, 5, 9), {"grids": ("G1",), "repeat_days": 3}),
    (hand.END, hand.END, {"entrance": "E1"}),
])
def test_month_copies_give_the_numbers_of_the_day_files(root, tiny, start, end,
                                                        extra):
    from_days = load(root, tiny, start, end, **extra)
    written = compact_site(root, "tiny", tiny.timezone, AFTER)
    assert set(written) == {("2024-05", "flow_hourly"), ("2024-05", "incidents")}
    assert compact_site(root, "tiny", tiny.timezone, AFTER) == []  # up to date
    clear_cache()
    assert_same(from_days, load(root, tiny, start, end, **extra), tiny)


def test_a_day_rewritten_after_compaction_is_read_from_its_new_file(root, tiny):
    compact_site(root, "tiny", tiny.timezone, AFTER)
    assert people_in(load(root, tiny), tiny, hand.END) == 20
    late = archive.flow_frame([(hand.ms(5, 13, 9, 5), "site", "site", 30, 4)],
                              tiny.timezone)  # a late entry: the count grew
    archive.write_flow_day(root, tiny, hand.END, late, AS_OF)
    e = hand.INCIDENTS[-1]
    archive.write_incidents(root, tiny, [{**e, "status": "closed",
                                          "closed_at": e["reported_at"] + 1}], AS_OF)
    data = load(root, tiny)  # no clear_cache(): new files are read again
    assert people_in(data, tiny, hand.END) == 30
    assert analytics.summary(data, tiny)["closed"] == 3  # A, B, now E
    compact_site(root, "tiny", tiny.timezone, AFTER)  # the copy catches up
    clear_cache()
    assert_same(data, load(root, tiny), tiny)


def test_a_day_removed_after_compaction_is_not_read_from_the_copy(root, tiny):
    compact_site(root, "tiny", tiny.timezone, AFTER)
    assert date(2024, 5, 7) in load(root, tiny).flow_days
    shutil.rmtree(day_dir(root, "tiny", date(2024, 5, 7)))
    data = load(root, tiny)
    assert date(2024, 5, 7) not in data.flow_days
    assert "A" not in set(data.incidents["id"])  # reported on 05-07


def test_new_history_is_seen_without_a_restart(root, tiny):
    """The reads are cached in the process; a new or rewritten file is not."""
    assert date(2024, 5, 12) not in load(root, tiny).flow_days
    assert analytics.summary(load(root, tiny), tiny)["reported"] == 5
    flow = archive.flow_frame([(hand.ms(5, 12, 10), "site", "site", 7, 1)],
                              tiny.timezone)
    archive.write_flow_day(root, tiny, date(2024, 5, 12), flow, AS_OF + 60_000)
    new = hand.record("G", "parking", 2, "G1", hand.ms(5, 12, 11), 8, "reported")
    archive.write_incidents(root, tiny, [new], AS_OF + 60_000)
    data = load(root, tiny)
    assert people_in(data, tiny, date(2024, 5, 12)) == 7
    assert analytics.summary(data, tiny)["reported"] == 6
    assert data.as_of == hand.AS_OF + pd.Timedelta(minutes=1)


CRASH = """
import os, signal, sys
from datetime import date
from pathlib import Path
import pyarrow.parquet as pq
from data.history.compaction import compact_site

""" + HALF_WRITE_THEN_DIE + """
compact_site(Path(sys.argv[1]), "tiny", sys.argv[2], date(2024, 6, 1))
"""


def test_a_crash_while_compacting_leaves_the_old_month_file(root, tiny):
    compact_site(root, "tiny", tiny.timezone, AFTER)
    path = month_file(root, "tiny", "2024-05", "flow_hourly")
    good = path.read_bytes()
    late = archive.flow_frame([(hand.ms(5, 13, 9, 5), "site", "site", 30, 4)],
                              tiny.timezone)
    archive.write_flow_day(root, tiny, hand.END, late, AS_OF)
    result = subprocess.run([sys.executable, "-c", CRASH, str(root), tiny.timezone],
                            cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL
    assert path.read_bytes() == good  # the old copy, whole
    temps = list(path.parent.glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].stat().st_size > 0
    clear_cache()
    assert people_in(load(root, tiny), tiny, hand.END) == 30  # from the day file
    os.utime(temps[0], (0, 0))
    assert files.remove_stale_temps(root) == 1
    assert compact_site(root, "tiny", tiny.timezone, AFTER)  # the next pass
    clear_cache()
    assert people_in(load(root, tiny), tiny, hand.END) == 30


def test_a_broken_month_file_is_skipped_not_a_traceback(root, tiny, caplog):
    from_days = load(root, tiny)
    compact_site(root, "tiny", tiny.timezone, AFTER)
    for kind in ("flow_hourly", "incidents"):
        month_file(root, "tiny", "2024-05", kind).write_bytes(b"PAR1 not parquet")
    clear_cache()
    assert_same(from_days, load(root, tiny), tiny)
    assert "unreadable month file" in caplog.text


def test_the_archiver_keeps_month_copies_of_the_days_that_are_over(r, root, tiny):
    Archiver(r, {"tiny": tiny}, PREFIX, root).run_once()
    for kind in ("flow_hourly", "incidents"):
        assert month_file(root, "tiny", "2024-05", kind).is_file()
