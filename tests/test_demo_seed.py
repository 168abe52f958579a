"""A fresh demo start is lived in: history, incidents in every state, a short banner.

Starts ``python app.py`` (the demo, embedded Redis) twice on one empty data
folder, with one site and a few days of history so that it runs in well
under a minute; the default (every site, 30 days) is measured by
``bench/demo_start.py``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from data.feed.snapshot import read_snapshot
from data.history.dataset import Filters, History, clear_cache, site_today
from data.incidents.lifecycle import OPEN
from data.keys import Keys
from data.redis_conn import connect
from data.sim import demo_seed
from data.site_files import load_site
from layouts import analysis_charts as charts
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
SITE = "yaozhai"
DAYS = 8
SAMPLE = load_site(ROOT / "data" / "sites" / SITE)
STATES = ("reported", "accepted", "dispatched", "in_progress", "escalated",
          "resolved", "closed")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(data: Path) -> subprocess.Popen:
    env = {**os.environ, "GOV_DATA_DIR": str(data), "PORT": str(_free_port()),
           "GOV_SITES": SITE, "GOV_DEMO_DAYS": str(DAYS)}
    env.pop("REDIS_URL", None)
    env.pop("GOV_DEMO", None)
    return subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _banner(proc: subprocess.Popen, timeout: float = 60.0) -> list[str]:
    """The start-up lines: up to the one naming the accounts file (and the
    seeding line after it, when there is one)."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("Every demo account"):
            break
        assert time.monotonic() < deadline, lines
    return lines


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err




def test_a_fresh_demo_start_is_lived_in_and_a_restart_does_not_seed_again(tmp_path):
    data = tmp_path / "var"
    # the seeding's today; the run may cross the site's midnight (CI at 16:00
    # UTC), then the live archiver adds the new day's file
    started_on = site_today(SAMPLE)
    proc = _start(data)
    try:
        banner = _banner(proc)
        seeding_line = proc.stdout.readline()
        marker = wait_until(lambda: (demo_seed.read_marker(data) or {}).get(
            "state") == "done", 90, every=0.5, what="the demo history written")
        assert marker
        url = (data / "redis" / "url").read_text().strip()  # while it runs
        assert (data / "redis" / "url").stat().st_mode & 0o777 == 0o600
        r = connect(url)
        keys = Keys("gov", SITE)
        records = wait_until(lambda: _records_if_applied(r, keys), 30, every=0.5,
                             what="the seeded incidents applied")
        snap = wait_until(lambda: _snapshot_with_week(r, keys), 15, every=0.5,
                          what="a snapshot")
        today_in = sum(int(r.hget(keys.day(day.strftime("%Y%m%d")), "s:i") or 0)
                       for day in {started_on, site_today(SAMPLE)})
        dead = r.xrange(keys.dead, count=3)
    finally:
        err = _stop(proc)
    assert "Traceback" not in err, err

    # the banner: short, a sign-in per screen, the wall's kiosk address, where
    # Redis is and which file holds every password (readable by its owner only)
    assert len(banner) <= 10, banner
    text = "\n".join(banner)
    for path in ("/wall?site=", "kiosk=kt_", "/console", "/m ", "/analysis"):
        assert path in text, (path, text)
    accounts = data / "demo-accounts.txt"
    assert str(accounts) in text and url in text and "redis/url" in text
    assert (accounts.stat().st_mode & 0o777) == 0o600
    assert accounts.read_text().count(SITE) > 10
    assert f"Writing {DAYS} days" in seeding_line

    # history: a file for each of the days, today included
    site = SAMPLE
    today = site_today(site)
    history = History(data / "history")
    seeded = [started_on - timedelta(days=n) for n in reversed(range(DAYS))]
    assert history.days(site) in (seeded, seeded + [today]), history.days(site)
    # every chart of the analysis page has data for the last 7 days
    clear_cache()
    last_week = history.load(site, Filters(site=SITE, start=today - timedelta(days=6),
                                           end=today))
    empty = [name for name in charts.CHARTS
             if charts.frame(name, last_week, site).empty]
    assert not empty

    # incidents in every state, overdue ones among the open, UUID ids
    states = Counter(rec["status"] for rec in records)
    assert set(STATES) <= states.keys(), states
    now = time.time() * 1000
    assert any(rec["status"] in OPEN and rec["deadline"] < now for rec in records)
    assert all(uuid.UUID(rec["id"]).version == 4 for rec in records)
    assert not dead, dead
    # the wall: the last hour of the flow chart populated, a week-ago curve
    hour = snap["flow"]["in"][-60:]
    assert sum(1 for v in hour if v) >= 50, hour
    assert snap["open_incidents"] and snap["recent_incidents"]

    # a restart does not seed again
    proc = _start(data)
    try:
        again = _banner(proc)
        time.sleep(3)
    finally:
        err = _stop(proc)
    assert not any(line.startswith("Writing") for line in again)
    assert "demo history" not in err
    assert json.loads((data / "demo-seed.json").read_text())["state"] == "done"
    assert len(again) <= 9, again
    assert today_in > 0


def _records_if_applied(r, keys: Keys) -> list[dict] | None:
    if not demo_seed.incidents_applied(r, keys):
        return None
    ids = r.zrange(keys.incidents_all, 0, -1)
    return [json.loads(raw) for raw in r.mget([keys.incident(i) for i in ids]) if raw]


def _snapshot_with_week(r, keys: Keys) -> dict | None:
    snap = read_snapshot(r, keys)
    return snap if snap and snap["flow"].get("in_week_ago") else None


def test_seeding_is_due_only_on_an_empty_or_unfinished_data_folder(tmp_path):
    assert demo_seed.pending(tmp_path)
    (tmp_path / "history" / f"site={SITE}" / "day=2024-05-01").mkdir(parents=True)
    assert not demo_seed.pending(tmp_path)  # history from before: never seed
    (tmp_path / demo_seed.MARKER).write_text('{"state": "running", "live": []}')
    assert demo_seed.pending(tmp_path)  # stopped half-way: resume
    (tmp_path / demo_seed.MARKER).write_text('{"state": "done"}')
    assert not demo_seed.pending(tmp_path)
