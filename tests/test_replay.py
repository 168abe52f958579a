"""Replay: what the walls were shown, recorded and read back at any moment.

The recorder follows the site's channel on a real Redis as it does in
production; snapshots are the aggregator's own (a live run, or ``publish``
at chosen moments for days long past)."""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from urllib.parse import quote

from data.clock import now_ms
from data.feed.snapshot import read_snapshot
from data.keys import Keys
from data.redis_conn import connect
from data.replay import read
from data.replay import records as rec_file
from data.replay.moments import iso
from data.replay.recorder import Recorder
from data.replay.records import hour_files, records
from tests.auth import add_account, kiosk_token, sign_in_client
from tests.common import PREFIX
from tests.replay_feed import publish_at
from tests.waiting import wait_until

DAY_MS = 86_400_000


def start_recorder(url: str, sites: dict, prefix: str, root) -> tuple:
    recorder = Recorder(connect(url, decode=False), sites, prefix, root)
    thread = threading.Thread(target=recorder.run, daemon=True)
    thread.start()
    return recorder, thread


def recorded_up_to(root, site: str, version: int) -> bool:
    last = read.last_record(root, site)
    return last is not None and last.version >= version


def replayed(client, site: str, snap: dict) -> dict:
    answer = client.get(f"/api/v1/sites/{site}/replay?at="
                        f"{quote(snap['generated_at'])}")
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_moments_of_a_live_run_replay_as_recorded_before_and_after_a_restart(
        live):
    """At random moments the snapshot the walls could read then is taken;
    replayed at its generated_at, the same version with the same figures
    comes back, whether recorded before the recorder's restart or after."""
    root = live.config.replay
    recorder, thread = start_recorder(live.redis.url, live.sites,
                                      live.config.prefix, root)
    keys = live.keys("tiny")
    wait_until(lambda: read_snapshot(live.client, keys), what="a first snapshot")
    rng = random.Random()
    taken: list[dict] = []

    def take(n: int) -> None:
        for _ in range(n):
            if rng.random() < 0.5:
                live.xadd("tiny", "crowd", {"v": 1, "src": "cam-r", "eid":
                                            uuid.uuid4().hex, "entrance": "E1",
                                            "ts": now_ms(), "in": rng.randint(0, 9),
                                            "out": rng.randint(0, 3)})
            time.sleep(rng.uniform(0.05, 0.6))
            taken.append(read_snapshot(live.client, keys))

    take(8)
    before = len(taken)
    wait_until(lambda: recorded_up_to(root, "tiny", taken[-1]["version"]),
               what="the recorder to catch up")
    recorder.stop()
    thread.join(10)
    assert not thread.is_alive()
    recorder, thread = start_recorder(live.redis.url, live.sites,
                                      live.config.prefix, root)
    take(8)
    wait_until(lambda: recorded_up_to(root, "tiny", taken[-1]["version"]),
               what="the restarted recorder to catch up")
    client = live.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    versions = {s["version"] for s in taken}
    assert len(versions) > 4, "the run made too few versions to judge"
    found = [r for f in hour_files(root, "tiny") for r in records(f.read_bytes())]
    for snap in taken:
        got = replayed(client, "tiny", snap)
        assert got == snap, (got["version"], got["generated_ms"], snap["version"],
                             snap["generated_ms"],
                             " ".join(f"{r.version}{r.kind}{r.base}" for r in found))
    assert any(s["people_present"] != taken[0]["people_present"] for s in taken)
    recorder.stop()
    thread.join(10)
    # both runs' records are there, each hour file starting whole
    found = [r for f in hour_files(root, "tiny") for r in records(f.read_bytes())]
    assert {s["version"] for s in taken[:before]} <= {r.version for r in found}
    assert found[0].kind == "F"


def test_days_older_than_those_kept_are_pruned_and_named_in_the_404(
        raw, tiny, recorder):
    now = now_ms()
    old = [publish_at(raw, tiny, recorder, now - d * DAY_MS) for d in (6, 5, 4)]
    recent = [publish_at(raw, tiny, recorder, now - d * DAY_MS) for d in (2, 1)]
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "ana").status_code == 302
    assert replayed(client, "tiny", old[0]) == old[0]
    gone = recorder.prune(now)["tiny"]
    assert len(gone) == 3
    answer = client.get(f"/api/v1/sites/tiny/replay?at={quote(old[1]['generated_at'])}")
    assert answer.status_code == 404
    body = answer.get_json()
    assert body["kept"]["from"] == iso(recent[0]["generated_ms"], tiny.timezone)
    assert body["kept"]["from"] in body["error"]
    for snap in recent:
        assert replayed(client, "tiny", snap) == snap


def test_a_corrupt_or_torn_record_is_skipped_never_a_crash(raw, tiny, recorder):
    # the 20 moments (190 s) in one hour's file, whatever the time of day:
    # they end 5 minutes before the start of the hour now running
    hour = 3_600_000
    start = (now_ms() // hour) * hour - 300_000 - 19 * 10_000
    made = [publish_at(raw, tiny, recorder, start + k * 10_000, people=k + 1)
            for k in range(20)]  # a whole record every minute, changes between
    (path,) = {recorder.tracks["tiny"].path}
    recorder.close()
    lines = path.read_bytes().split(b"\n")
    kinds = [line.split(b" ")[3][:1] for line in lines if line]
    broken = kinds.index(b"D", 2)  # a change, some way in
    mid = len(lines[broken]) // 2  # one byte flipped, as a bad disk would
    lines[broken] = (lines[broken][:mid] + bytes([lines[broken][mid] ^ 1])
                     + lines[broken][mid + 1:])
    path.write_bytes(b"\n".join(lines) + b'3f2a0c11 999 1 F {"torn')
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "adm").status_code == 302
    next_full = kinds.index(b"F", broken)
    index = rec_file.index_file(path)
    for damage in (None, b"00000000 1 2 F 0\nnot an index", b""):
        if damage is not None:  # a broken or lost index: the hour is scanned
            index.write_bytes(damage)
        for n, snap in enumerate(made):
            got = replayed(client, "tiny", snap)
            if broken <= n < next_full:  # the chain is cut: the last good one
                assert got == made[broken - 1]
            else:
                assert got == snap
    # a restarted recorder goes on after the torn line
    again = publish_at(raw, tiny, recorder, start + 20 * 10_000, people=3)
    assert replayed(client, "tiny", again) == again
    last = path.read_bytes().split(b"\n")[-2]
    assert rec_file.decode(last).version == again["version"]


def test_moments_outside_and_bad_moments_are_answered_with_reasons(
        raw, tiny, recorder):
    made = publish_at(raw, tiny, recorder, now_ms() - 60_000, people=4)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    early = iso(made["generated_ms"] - 1000, tiny.timezone)
    answer = client.get(f"/api/v1/sites/tiny/replay?at={quote(early)}")
    assert answer.status_code == 404
    assert "outside what is kept" in answer.get_json()["error"]
    for bad in ("", "yesterday", "2026-13-01T00:00:00",
                quote("0001-01-01T00:00:00+00:01")):
        answer = client.get(f"/api/v1/sites/tiny/replay?at={bad}")
        assert answer.status_code == 400 and "at" in answer.get_json()["error"]


def test_events_list_incidents_alerts_and_stale_periods(raw, tiny, recorder):
    start = now_ms() - 10 * 60_000
    publish_at(raw, tiny, recorder, start)
    keys = Keys(PREFIX, "tiny")
    from tests.feed import xadd

    xadd(raw, "incident", v=1, src="phone", op="report", id=str(uuid.uuid4()),
         ts=start + 1000, category="sanitation", level=1, title="井盖缺失",
         grid="G1")
    reported = publish_at(raw, tiny, recorder, start + 2000)
    dense = publish_at(raw, tiny, recorder, start + 4000, people=95)
    late = publish_at(raw, tiny, recorder, start + 60_000)  # a silent minute
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    answer = client.get("/api/v1/sites/tiny/replay/events?start="
                        f"{quote(iso(start, tiny.timezone))}&end="
                        f"{quote(iso(late['generated_ms'], tiny.timezone))}")
    assert answer.status_code == 200, answer.get_json()
    found = answer.get_json()["events"]
    kinds = {(e["kind"], e["version"]) for e in found}
    assert ("incident_reported", reported["version"]) in kinds
    assert ("alert_raised", reported["version"]) in kinds  # an urgent report
    assert ("alert_raised", dense["version"]) in kinds  # the grid over its threshold
    stale = [e for e in found if e["kind"] == "stale"]
    assert stale and stale[0]["end_ms"] == late["generated_ms"]
    assert read_snapshot(raw, keys)["version"] == late["version"]


def test_a_kiosk_and_another_sites_people_are_refused(r, raw, tiny, recorder):
    made = publish_at(raw, tiny, recorder, now_ms() - 5000, people=2)
    app = recorder.app
    add_account(r, PREFIX, "other_sup", "supervisor", "elsewhere")
    at = quote(made["generated_at"])
    other = app.server.test_client()
    assert sign_in_client(other, "other_sup").status_code == 302
    for path in (f"/api/v1/sites/tiny/replay?at={at}",
                 f"/api/v1/sites/tiny/replay/events?start={at}&end={at}",
                 f"/replay?site=tiny&at={at}", f"/replay/frame?site=tiny&at={at}",
                 "/replay/bookmarks?site=tiny"):
        assert other.get(path).status_code == 403, path
    mark = {"at": made["generated_at"], "note": "越权书签"}
    assert other.post("/replay/bookmarks?site=tiny", json=mark).status_code == 403
    kiosk = app.server.test_client()
    token = kiosk_token(r, PREFIX, "tiny")
    assert kiosk.get(f"/wall?site=tiny&kiosk={token}").status_code == 302
    assert kiosk.get(f"/api/v1/sites/tiny/replay?at={at}").status_code == 401
    assert kiosk.get(f"/replay?site=tiny&at={at}").status_code == 403
    assert kiosk.post("/replay/bookmarks?site=tiny", json=mark).status_code == 403
    assert kiosk.get(f"/replay/frame?site=tiny&at={at}").status_code == 403
    worker = app.server.test_client()
    assert sign_in_client(worker, "w1").status_code == 302
    assert worker.get(f"/replay?site=tiny&at={at}").status_code == 403
    assert r.xlen(Keys(PREFIX, "tiny").replay_marks) == 0


def test_a_bookmark_needs_a_note_and_a_kept_moment(raw, tiny, recorder):
    made = publish_at(raw, tiny, recorder, now_ms() - 5000, people=2)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    for body, field in (({"at": made["generated_at"], "note": " "}, "note"),
                        ({"at": made["generated_at"], "note": "长" * 201}, "note"),
                        ({"at": "2000-01-01T00:00:00", "note": "早"}, "at"),
                        ({"at": "soon", "note": "早"}, "at")):
        answer = client.post("/replay/bookmarks?site=tiny", json=body)
        assert answer.status_code == 400 and answer.get_json()["field"] == field
    kept = client.post("/replay/bookmarks?site=tiny",
                       json={"at": made["generated_at"], "note": "人流高峰"})
    assert kept.status_code == 201
    listed = client.get("/replay/bookmarks?site=tiny").get_json()["bookmarks"]
    assert [(b["at_ms"], b["note"], b["who"]) for b in listed] == [
        (made["generated_ms"], "人流高峰", "sup")]
    assert client.get(listed[0]["link"]).status_code == 200


def test_a_frame_is_the_wall_of_that_moment_whole_or_as_a_change(
        raw, tiny, recorder):
    start = now_ms() - 60_000
    a = publish_at(raw, tiny, recorder, start, people=12)
    b = publish_at(raw, tiny, recorder, start + 5000, people=30)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "ana").status_code == 302

    def frame(snap, shown=""):
        answer = client.get(f"/replay/frame?site=tiny&at="
                            f"{quote(snap['generated_at'])}&shown={shown}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        body = answer.get_json()
        return body, {json.dumps(cid): props for cid, props in body["props"]}

    whole, props = frame(a)
    people = "".join(tile["props"]["children"] for tile in
                     props['"wall-people"']["children"])
    assert whole["v"] == a["version"] and whole["base"] is None
    assert int(people) == a["people_present"] > 0
    assert '"wall-status"' not in props  # a store of the live wall only
    change, props = frame(b, shown=whole["name"])
    assert change["v"] == b["version"] and change["base"] == a["version"]
    people = "".join(tile["props"]["children"] for tile in
                     props['"wall-people"']["children"])
    assert int(people) == b["people_present"] > a["people_present"]
    assert len(json.dumps(change)) < len(json.dumps(whole))


def test_a_moment_exports_as_a_stamped_png(r, raw, tiny, recorder, warm):
    from data import audit
    from data.keys import AuthKeys
    from web.replay_page import EXPORT_HEIGHT, EXPORT_WIDTH, moment_figure

    made = publish_at(raw, tiny, recorder, now_ms() - 30_000, people=21)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "ana").status_code == 302
    answer = client.get(f"/replay/export.png?site=tiny&at="
                        f"{quote(made['generated_at'])}")
    assert answer.status_code == 200 and answer.mimetype == "image/png"
    png = answer.data
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = (int.from_bytes(png[16:20], "big"),
                     int.from_bytes(png[20:24], "big"))
    assert (width, height) == (EXPORT_WIDTH, EXPORT_HEIGHT)
    assert "tiny" in answer.headers["Content-Disposition"]
    lines = audit.read(r, AuthKeys(PREFIX), site="tiny")
    assert any(line["action"] == "export" and line["who"] == "ana"
               and f"version {made['version']}" in line["detail"] for line in lines)
    with recorder.app.server.test_request_context():
        fig = moment_figure(tiny, made, made["generated_ms"], "zh", "孙八 (ana)")
    stamped = fig.layout.title.text + " ".join(a.text for a in fig.layout.annotations)
    assert tiny.name in stamped and "孙八 (ana)" in stamped
    assert f"当前在场人数: {made['people_present']}" in stamped
    assert made["generated_at"][11:19] in stamped


def _json_values():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=4)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=6)
                        | st.dictionaries(st.text(max_size=3), inner, max_size=5),
                        max_leaves=30)


def test_a_change_applied_to_the_old_value_gives_the_new_one():
    import copy

    from hypothesis import given, settings

    from data.replay.records import apply, diff

    @settings(max_examples=300, deadline=None)
    @given(_json_values(), _json_values())
    def check(old, new):
        ops = json.loads(json.dumps(diff(old, new)))  # as stored
        assert apply(copy.deepcopy(old), ops) == new

    check()
