"""Clips of the replay: a range of minutes as an animated PNG made by the
exports' renderer, each frame the stamped picture of its moment.

The frames are decoded (Pillow) and compared with what the replay API
answers at their moments: the same versions and figures, and the very
pixels of that answer's picture, stamp included."""

from __future__ import annotations

import io
import json
from datetime import datetime
from urllib.parse import quote

from PIL import Image, ImageChops, ImageSequence

from data.clock import now_ms
from data.keys import Keys
from data.replay.moments import iso
from tests.auth import add_account, api_key, kiosk_token, sign_in_client
from tests.common import ARTIFACTS, PREFIX
from tests.replay_feed import publish_at
from web import replay_clip
from web.replay_clip import CLIP_HEIGHT, CLIP_WIDTH, MAX_FRAMES

TITLE, FOOTER = 84, 60  # rows of the stamp: site and moment; figures, who


def frames_of(png: bytes) -> tuple[list[Image.Image], dict]:
    clip = Image.open(io.BytesIO(png))
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(clip)]
    return frames, dict(clip.info)


def clip_path(site: str, start: int, end: int, tz: str, every: str = "") -> str:
    return (f"/replay/clip.png?site={site}&start={quote(iso(start, tz))}"
            f"&end={quote(iso(end, tz))}" + (f"&every={every}" if every else ""))


def test_a_clip_shows_each_moment_as_the_replay_api_answers_it(
        r, raw, tiny, recorder, warm):
    from data import audit
    from data.keys import AuthKeys
    from web.replay_page import moment_figure

    start = now_ms() - 120_000
    made = [publish_at(raw, tiny, recorder, start + k * 10_000, people=p)
            for k, p in enumerate((4, 0, 25, 0, 60))]  # 4, 4, 29, 29, 89
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "ana").status_code == 302
    answer = client.get(clip_path("tiny", start, start + 40_000, tiny.timezone,
                                  every="5"))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "image/png"
    assert "tiny" in answer.headers["Content-Disposition"]
    frames, info = frames_of(answer.data)
    about = json.loads(info["gov:frames"])
    assert len(frames) == len(about) == 9  # 0, 5, …, 40 s
    assert {f.size for f in frames} == {(CLIP_WIDTH, CLIP_HEIGHT)}
    assert info["Author"] == "孙八 (ana)"
    made_at = datetime.fromisoformat(info["Creation Time"])
    shown = []
    for n, (frame, meta) in enumerate(zip(frames, about, strict=True)):
        assert meta["at"] == iso(start + n * 5000, tiny.timezone)
        api = client.get(f"/api/v1/sites/tiny/replay?at={quote(meta['at'])}")
        snap = api.get_json()
        assert (meta["version"], meta["people_present"]) == (
            snap["version"], snap["people_present"])
        shown.append(snap["people_present"])
        with recorder.app.server.test_request_context():
            fig = moment_figure(tiny, snap, start + n * 5000, "zh", "孙八 (ana)",
                                made_at=made_at)
        expected = Image.open(io.BytesIO(warm.render(
            fig, "png", CLIP_WIDTH, CLIP_HEIGHT))).convert("RGB")
        assert ImageChops.difference(frame, expected).getbbox() is None, n
    assert shown == [made[n // 2]["people_present"] for n in range(9)]
    assert len(set(shown)) == 3  # the numbers change within the clip
    # two frames of one version differ by the moment stamped, only there
    same = ImageChops.difference(frames[0], frames[1])
    assert same.crop((0, 0, CLIP_WIDTH, TITLE)).getbbox()  # site · moment
    assert same.crop((0, CLIP_HEIGHT - FOOTER, CLIP_WIDTH, CLIP_HEIGHT)).getbbox()
    assert same.crop((0, TITLE, CLIP_WIDTH, CLIP_HEIGHT - FOOTER)).getbbox() is None
    moved = ImageChops.difference(frames[1], frames[4])
    assert moved.crop((0, TITLE, CLIP_WIDTH, CLIP_HEIGHT - FOOTER)).getbbox()
    ARTIFACTS.mkdir(exist_ok=True)
    frames[4].save(ARTIFACTS / "replay-clip-frame.png")
    lines = audit.read(r, AuthKeys(PREFIX), site="tiny")
    assert any(line["action"] == "export" and line["who"] == "ana"
               and "clip" in line["target"] and "9 frames" in line["detail"]
               for line in lines)


def test_the_api_makes_the_same_clip_for_a_read_key(r, raw, tiny, recorder,
                                                    warm):
    start = now_ms() - 60_000
    publish_at(raw, tiny, recorder, start, people=3)
    publish_at(raw, tiny, recorder, start + 4000, people=9)
    key = api_key(r, PREFIX, "tiny", "read")
    client = recorder.app.server.test_client()
    answer = client.get(f"/api/v1/sites/tiny/replay/clip.png?start="
                        f"{quote(iso(start, tiny.timezone))}&end="
                        f"{quote(iso(start + 6000, tiny.timezone))}&every=2",
                        headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    frames, info = frames_of(answer.data)
    assert [f["people_present"] for f in json.loads(info["gov:frames"])] == [
        3, 3, 12, 12]
    assert len(frames) == 4


def test_a_kiosk_another_sites_people_and_a_worker_are_refused(
        r, raw, tiny, recorder):
    start = now_ms() - 60_000
    publish_at(raw, tiny, recorder, start, people=2)
    publish_at(raw, tiny, recorder, start + 5000, people=2)
    page = clip_path("tiny", start, start + 5000, tiny.timezone)
    api = page.replace("/replay/clip.png?site=tiny&",
                       "/api/v1/sites/tiny/replay/clip.png?")
    add_account(r, PREFIX, "other_sup", "supervisor", "elsewhere")
    other = recorder.app.server.test_client()
    assert sign_in_client(other, "other_sup").status_code == 302
    assert other.get(page).status_code == 403
    assert other.get(api).status_code == 403
    kiosk = recorder.app.server.test_client()
    token = kiosk_token(r, PREFIX, "tiny")
    assert kiosk.get(f"/wall?site=tiny&kiosk={token}").status_code == 302
    assert kiosk.get(page).status_code == 403
    assert kiosk.get(api).status_code == 401
    worker = recorder.app.server.test_client()
    assert sign_in_client(worker, "w1").status_code == 302
    assert worker.get(page).status_code == 403
    assert recorder.app.server.test_client().get(api).status_code == 401


def test_a_bad_range_is_refused_naming_the_field(raw, tiny, recorder):
    start = now_ms() - 30 * 60_000
    publish_at(raw, tiny, recorder, start, people=2)
    publish_at(raw, tiny, recorder, now_ms() - 1000, people=2)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    tz = tiny.timezone
    minute = 60_000
    for path, field in (
            (clip_path("tiny", start + minute, start, tz), "end"),
            (clip_path("tiny", start, start + 61 * minute, tz), "end"),
            (clip_path("tiny", start, start + 20 * minute, tz, every="1"), "every"),
            (clip_path("tiny", start, start + minute, tz, every="0.5"), "every"),
            (clip_path("tiny", start, start + minute, tz, every="often"), "every"),
            ("/replay/clip.png?site=tiny&start=soon&end=later", "start"),
            (f"/replay/clip.png?site=tiny&start={quote(iso(start, tz))}", "end")):
        answer = client.get(path)
        body = answer.get_json()
        assert answer.status_code == 400 and body["field"] == field, (path, body)
        assert field in body["error"]
    frames = 20 * 60 + 1
    assert f"{frames} frames asked, at most {MAX_FRAMES}" in client.get(
        clip_path("tiny", start, start + 20 * minute, tz, every="1")
    ).get_json()["error"]
    early = client.get(clip_path("tiny", start - 5 * minute, start, tz))
    assert early.status_code == 404 and early.get_json()["field"] == "start"
    assert early.get_json()["kept"]["from"] in early.get_json()["error"]


def test_one_clip_at_a_time_per_process(raw, tiny, recorder):
    start = now_ms() - 60_000
    publish_at(raw, tiny, recorder, start, people=2)
    publish_at(raw, tiny, recorder, start + 5000, people=2)
    client = recorder.app.server.test_client()
    assert sign_in_client(client, "sup").status_code == 302
    assert replay_clip._busy.acquire(blocking=False)  # a clip being made
    try:
        answer = client.get(clip_path("tiny", start, start + 5000, tiny.timezone))
    finally:
        replay_clip._busy.release()
    assert answer.status_code == 429 and answer.headers["Retry-After"]
    assert "another clip" in answer.get_json()["error"]
    assert Keys(PREFIX, "tiny")  # the site's keys untouched by a refusal


GEVENT_SCRIPT = r"""
from gevent import monkey
monkey.patch_all()
import io, sys, gevent
from PIL import Image
from web.replay_clip import off_the_loop

ticks = []

def other_screens():  # a wall's stream: must be served meanwhile
    while True:
        ticks.append(1)
        gevent.sleep(0.005)

def encode(n):  # what a clip's APNG costs: Pillow, GIL let go
    frames = [Image.effect_noise((1280, 720), 40 + i).convert("RGB")
              for i in range(n)]
    out = io.BytesIO()
    frames[0].save(out, format="PNG", save_all=True, append_images=frames[1:])
    return len(out.getvalue())

gevent.spawn(other_screens)
gevent.sleep(0.02)
before = len(ticks)
size = off_the_loop(encode, 6)
print(len(ticks) - before, size)
"""


def test_the_clips_encoding_leaves_a_gevent_process_serving(tmp_path):
    """Under gunicorn's gevent worker, the APNG is encoded on one of gevent's
    real threads: the event loop goes on serving the other screens' streams
    meanwhile (on the loop itself they would wait for the whole clip)."""
    import subprocess
    import sys

    from tests.common import ROOT

    script = tmp_path / "clip_on_gevent.py"
    script.write_text(GEVENT_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, timeout=120,
                          capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    served, size = map(int, done.stdout.split())
    assert size > 100_000
    assert served >= 5, f"the loop was served {served} times during the encoding"
