"""The wall's feed-health strip shaped from the stored summary: counts per
state, devices named whole or counted, never cut (layouts/wall_health.py)."""

from __future__ import annotations

from dash import Patch

from data.feed.producers import STATES
from layouts.theme import DARK
from layouts.wall_data import grid_outlines, map_frames, map_patch_values, map_values
from layouts.wall_health import (
    NAME_BUDGET,
    STRIP_STATES,
    estimate_values,
    render_feed_health,
    silent_places,
    strip_values,
    width,
)
from tests.test_wall import snapshot
from web.wall_changes import map_patch
from web.wall_shape import shape


def summary(named: list[dict], **counts: int) -> dict:
    return {"at": 0, "counts": {s: counts.get(s, 0) for s in STATES},
            "named": named, "silent_counters": {}}


def row(device: str, state: str = "silent", kind: str = "counter",
        src: str = "cam") -> dict:
    return {"device": device, "src": src, "kind": kind, "state": state}


def test_every_state_has_a_chip():
    assert set(STRIP_STATES) == set(STATES)


def test_names_by_the_site_file_and_counts_per_state(tiny):
    values = strip_values(summary([row("E2"), row("P1", kind="parking"),
                                   row("?", state="erroring", src="junk-cam")],
                                  ok=4, silent=2, erroring=1), tiny, "zh")
    assert dict(values["counts"]) == {"ok": 4, "late": 0, "silent": 2,
                                      "erroring": 1, "flapping": 0}
    assert values["groups"] == [
        {"state": "silent", "names": ["东门", "一号停车场"], "more": 0},  # counter 1st
        {"state": "erroring", "names": ["junk-cam"], "more": 0}]
    english = strip_values(summary([row("E2")], silent=1), tiny, "en")
    assert english["groups"][0]["names"] == ["East gate"]


def test_a_place_with_two_silent_producers_is_told_apart(tiny):
    values = strip_values(summary([row("E2", src="a"), row("E2", src="b")],
                                  silent=2), tiny, "zh")
    assert values["groups"][0]["names"] == ["东门 (a)", "东门 (b)"]


def test_many_silent_devices_are_named_whole_and_the_rest_counted(tiny):
    many = [row("", src=f"counter-{n:02d}-at-the-north-side") for n in range(40)]
    values = strip_values(summary(many, silent=40), tiny, "zh")
    (group,) = values["groups"]
    assert group["names"] and group["more"] == 40 - len(group["names"])
    assert all(name.startswith("counter-") and name.endswith("north-side")
               for name in group["names"])  # whole
    assert sum(width(n) + 1 for n in group["names"]) <= NAME_BUDGET
    text = str(render_feed_health(values, "zh"))
    assert f"等{group['more']}个" in text


def test_not_known_yet_says_so(tiny):
    assert strip_values(None, tiny, "zh") == {"counts": None, "groups": []}
    assert "暂无数据" in str(render_feed_health(strip_values(None, tiny, "zh"), "zh"))


def test_a_silent_counter_is_hollow_and_its_grid_an_estimate_on_the_map(tiny):
    health = summary([row("E2"), row("P1", kind="parking")], ok=2, silent=2)
    health["silent_counters"] = {"G2": ["E2"]}
    assert silent_places(health) == ["E2"]  # a parking sensor is no entrance
    assert estimate_values(health) == {"silent": 1, "grids": {"G2": 1}}
    outlines = grid_outlines(tiny)
    snap = snapshot()
    marks = {"silent": frozenset({"E2"}), "estimated": frozenset({"G2"})}
    values = map_values(snap, tiny, outlines, "zh", DARK, **marks)
    assert values == map_patch_values(*map_frames(snap, tiny, outlines, "zh",
                                                  **marks), DARK)
    assert values["labels"] == ["一网格<br>4", "二网格<br>≈190"]
    assert values["entrance_line"] == [DARK.accent, DARK.silent, DARK.accent]
    before = shape(snap, tiny, outlines, "zh", summary([], ok=4))
    after = shape(snapshot(version=4), tiny, outlines, "zh", health)
    assert after["estimate"]["silent"] == 1 and not before["estimate"]["silent"]
    patch = map_patch(before, after, len(tiny.grids))
    assert isinstance(patch, Patch)
    touched = {tuple(op["location"]) for op in patch.to_plotly_json()["operations"]}
    assert ("data", 3, "marker", "line", "color") in touched
    assert ("data", 2, "text") in touched  # the grid's label: ≈


def hgetall_calls(r) -> int:
    return int(r.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))


def test_the_walls_health_is_read_once_per_version_not_per_wall(r, tiny):
    """A hundred walls of a site on two versions: the devices are judged at
    most once a version (one HGETALL of the heard times, one per minute of
    the hour and of the hour a week ago), not once per wall; the strip and
    the estimate are in each wall's change."""
    import json

    from data.feed.snapshot import publish
    from tests.test_wall import wall_data

    judging = 1 + 60 + 60
    data = wall_data(r, tiny)
    keys = data.state.keys("tiny")
    v1 = publish(r, keys, tiny, 1_700_000_000_000)
    before = hgetall_calls(r)
    for _ in range(100):
        version, whole = data.event("tiny", "zh", None)
    first = hgetall_calls(r) - before
    sent = {cid if isinstance(cid, str) else json.dumps(cid): props
            for cid, props in json.loads(whole)["props"]}
    assert "东门" in json.dumps(sent["wall-health"], ensure_ascii=False)
    assert sent["wall-people"]["data-estimate"] == "1"  # tiny's counters: unheard
    v2 = publish(r, keys, tiny, 1_700_000_001_000)
    before = hgetall_calls(r)
    for _ in range(100):
        assert data.event("tiny", "zh", v1)[0] == v2
    second = hgetall_calls(r) - before
    assert 0 < first <= judging and second <= judging


def test_a_process_judging_a_sites_devices_again_reads_only_the_unsettled_minutes(
        r, tiny, monkeypatch):
    """The deployment judges a site with open walls once a second; the web
    process that does keeps the settled minute buckets while its walls are
    open, and lets them go a while after."""
    import web.wall_push as wall_push
    from tests.test_wall import wall_data

    data = wall_data(r, tiny)
    lock = f"{data.state.keys('tiny').producer_summary}:lock"
    before = hgetall_calls(r)
    data.health("tiny")
    assert hgetall_calls(r) - before == 1 + 60 + 60
    r.delete(lock)  # as a second later
    before = hgetall_calls(r)
    data.health("tiny")
    assert hgetall_calls(r) - before <= 1 + 3  # the heard times, ≤ 3 minutes
    data._asked["tiny", "zh"] = wall_push.time.monotonic()  # a wall asks
    data._judge_cache("other")
    assert "tiny" in data._judged
    clock = wall_push.time.monotonic() + wall_push.ASKED_S + 1
    monkeypatch.setattr(wall_push.time, "monotonic", lambda: clock)
    data._judge_cache("third")
    assert "tiny" not in data._judged  # no wall of it for two minutes
