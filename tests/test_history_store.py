"""History on several machines: what an archiver process writes to the shared
history (a folder, or an S3 bucket through moto's server) the readers of
another process see, month copies stay faithful there, and a writer killed
in the middle of an upload leaves the old object."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from data.config import ConfigError, load_config
from data.feed.aggregator import Aggregator
from data.history import analytics, archive, files
from data.history.compaction import compact_site
from data.history.dataset import Filters, History, clear_cache
from data.history.store import StoreError, as_store
from data.keys import Keys
from tests import analysis_data as hand
from tests.auth import add_account, sign_in_client
from tests.common import PREFIX, ROOT
from tests.conftest import S3_ENV

TZ = ZoneInfo("Asia/Shanghai")
INC = "00000000-0000-4000-8000-0000000000a1"

# The archiver of another machine: one pass, for the ``tiny`` site (always the
# same archiver: another name would wait for the first one's lease to lapse).
ARCHIVE_ELSEWHERE = """
import json, sys
from pathlib import Path
from data.history.archiver import Archiver
from data.redis_conn import connect
from data.site_files import load_site

site = load_site(Path(sys.argv[3]))
written = Archiver(connect(sys.argv[1]), {"tiny": site}, sys.argv[4],
                   sys.argv[2], name="arch-elsewhere").run_once()
print(json.dumps({k: [d.isoformat() for d in v] for k, v in written.items()}))
"""


def elsewhere(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT,
                          env={**os.environ, **S3_ENV}, capture_output=True,
                          timeout=120)


def archive_elsewhere(redis_url: str, history: str, tiny) -> dict[str, list[str]]:
    done = elsewhere(ARCHIVE_ELSEWHERE, redis_url, history, str(tiny.path), PREFIX)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


def two_hours_ago_today() -> int:
    """A minute start two hours ago, on today's local date when possible:
    else the day's first minute, but never less than ten minutes ago (the
    test adds a minute after it, and the archiver takes no minute still to
    come): in the first minutes after midnight, two hours ago, yesterday."""
    now = int(datetime.now(TZ).timestamp() * 1000)
    midnight = int(datetime.now(TZ).replace(hour=0, minute=0, second=0,
                                            microsecond=0).timestamp() * 1000)
    ts = max(midnight + 60_000, now - 2 * 3_600_000)
    if ts > now - 10 * 60_000:
        ts = now - 2 * 3_600_000
    return ts // 60_000 * 60_000 + 5_000


def feed(r, raw, tiny, ts: int, people: int, **incident: str) -> None:
    keys = Keys(PREFIX, "tiny")
    r.xadd(keys.stream("crowd"), {"v": "1", "src": "c1", "entrance": "E1",
                                  "ts": str(ts), "in": str(people), "out": "0"})
    if incident:
        r.xadd(keys.stream("incident"), {
            "v": "1", "src": "hotline", "op": "report", "id": INC, "ts": str(ts),
            "category": "sanitation", "level": "2", "title": "楼道堆放杂物",
            "grid": "G1", **incident})
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, consumer="agg-store")
    while agg.step(block_ms=20):
        pass


def site_people(data) -> int:
    return int(data.flow[data.flow["scope"] == "site"]["in"].sum())


def test_what_an_archiver_process_writes_another_process_reads(
        r, raw, tiny, redis_url, shared_history, make_app):
    ts = two_hours_ago_today()
    day = datetime.fromtimestamp(ts / 1000, TZ).date()
    feed(r, raw, tiny, ts, 7, channel="hotline")
    assert archive_elsewhere(redis_url, shared_history, tiny) == {
        "tiny": [day.isoformat()]}

    history = History(shared_history)  # this process: the web tier's reader
    filters = Filters(site="tiny", start=day, end=day)
    data = history.load(tiny, filters)
    assert site_people(data) == 7 and data.incidents["id"].tolist() == [INC]
    assert history.days(tiny) == [day]

    add_account(r, PREFIX, "ana", "analyst")
    web = make_app(GOV_HISTORY_URL=shared_history).server.test_client()
    sign_in_client(web, "ana")
    response = web.get(f"/api/v1/sites/tiny/export/daily_trend.csv"
                       f"?start={day}&end={day}")
    assert response.status_code == 200, response.get_json()
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [(r["day"], float(r["people_in"])) for r in rows] == [(str(day), 7)]

    # a later pass elsewhere is seen here without a restart or a cache reset
    feed(r, raw, tiny, ts + 60_000, 5)
    archive_elsewhere(redis_url, shared_history, tiny)
    assert site_people(history.load(tiny, filters)) == 12


def people_in(data, tiny, day: date) -> int:
    trend = analytics.daily_trend(data, tiny).set_index("day")
    return int(trend.loc[day, "people_in"])


def test_month_copies_on_the_shared_history_match_the_day_files(shared_history,
                                                                tiny):
    hand.write(shared_history, tiny)
    clear_cache()
    history = History(shared_history)
    filters = Filters(site="tiny", start=hand.START, end=hand.END)
    from_days = history.load(tiny, filters)
    after = date(2024, 6, 1)
    assert sorted(compact_site(shared_history, "tiny", tiny.timezone, after)) == [
        ("2024-05", "flow_hourly"), ("2024-05", "incidents")]
    # the copies agree with what a listing says of the day files: not rewritten
    assert compact_site(shared_history, "tiny", tiny.timezone, after) == []
    from_months = history.load(tiny, filters)
    pd.testing.assert_frame_equal(from_days.flow, from_months.flow)
    pd.testing.assert_frame_equal(from_days.incidents, from_months.incidents)
    assert people_in(from_months, tiny, hand.END) == 20
    late = archive.flow_frame([(hand.ms(5, 13, 9, 5), "site", "site", 30, 4)],
                              tiny.timezone)
    archive.write_flow_day(shared_history, tiny, hand.END, late,
                           int(hand.AS_OF.timestamp() * 1000))
    assert people_in(history.load(tiny, filters), tiny, hand.END) == 30


KILLED_MID_UPLOAD = """
import os, signal, sys
from pathlib import Path
from data.history import archive, files, store
from data.site_files import load_site


def half_then_die(self, path, body):
    # the real upload stream gets half the bytes, then the power is cut
    out = self.fs.open_output_stream(str(path))
    out.write(memoryview(body)[: len(body) // 2])
    os.kill(os.getpid(), signal.SIGKILL)


store.Store._put = half_then_die
site = load_site(Path(sys.argv[2]))
ts = int(sys.argv[3])
frame = archive.flow_frame([(ts, "site", "site", 999, 1)], site.timezone)
archive.write_flow_day(sys.argv[1], site, files.local_day(ts, site.timezone),
                       frame, 1)
"""


@pytest.mark.parametrize("shared_history", ["s3"], indirect=True)
def test_a_writer_killed_in_the_middle_of_an_upload_leaves_the_old_object(
        shared_history, tiny):
    url = shared_history
    ts = int(datetime(2024, 5, 6, 9, 30, tzinfo=TZ).timestamp() * 1000)
    day = files.local_day(ts, tiny.timezone)
    first = archive.flow_frame([(ts, "site", "site", 12, 3)], tiny.timezone)
    archive.write_flow_day(url, tiny, day, first, 1)
    store = as_store(url)
    path = files.day_file(url, "tiny", day, "flow")
    good = store.read_exactly(path)
    result = elsewhere(KILLED_MID_UPLOAD, url, str(tiny.path), str(ts + 60_000))
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    again = store.read_exactly(path)
    assert again[1] == good[1]  # the same object, whole
    assert again[0].read().equals(good[0].read())
    listing = store.identities(path.parent, [path, path.with_name("x")])
    assert list(listing) == [path]
    clear_cache()
    flow, _, days = History(url).flow(tiny, day, day, minutes=True)
    assert flow["in"].tolist() == [12] and days == {day}


# --- configuration ------------------------------------------------------------


def test_the_history_is_under_the_data_folder_unless_a_url_is_given(tmp_path):
    config = load_config({"GOV_DATA_DIR": str(tmp_path)})
    assert config.history == tmp_path.resolve() / "history"
    url = "s3://bucket/city?endpoint_override=http://minio:9000"
    assert load_config({"GOV_HISTORY_URL": url}).history == url


@pytest.mark.parametrize("raw", ["history", "./var/history", "s3://", "s3:///"])
def test_a_history_url_of_the_wrong_form_is_named(raw):
    with pytest.raises(ConfigError, match="GOV_HISTORY_URL"):
        load_config({"GOV_HISTORY_URL": raw})


def test_a_history_url_pyarrow_cannot_open_is_named_without_its_secrets():
    with pytest.raises(StoreError, match="GOV_HISTORY_URL") as caught:
        as_store("nosuch://bucket/city?secret_key=hunter2")
    assert "hunter2" not in str(caught.value)
