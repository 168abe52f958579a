"""The wall's pieces without a browser: builders, shaping, masking, diffing."""

from __future__ import annotations

import pandas as pd
from dash import Patch, no_update

from data.incidents.lifecycle import mask_name, mask_phone
from layouts.theme import DARK
from layouts.wall import flip_digits
from layouts.wall_data import grid_outlines, map_frames, ranking
from layouts.wall_figures import (
    MAP_ENTRANCES,
    MAP_INCIDENTS,
    entrance_size,
    flow_figure,
    grid_map_figure,
)
from web.wall_changes import map_patch
from web.wall_shape import shape


def snapshot(**over) -> dict:
    base = {
        "version": 3, "generated_ms": 1_700_000_000_000, "people_present": 12,
        "people_in_1h": 20, "people_out_1h": 8, "people_in_today": 50,
        "people_out_today": 38, "vehicles_in_today": 4, "vehicles_out_today": 1,
        "parking_occupied": 10, "parking_capacity": 50,
        "parking": {"P1": {"name": "一号停车场", "name_en": "Lot 1", "capacity": 50,
                           "occupied": 10, "ts": None}},
        "entrances": {
            "E1": {"name": "西门", "name_en": "West gate", "people_in_1h": 5,
                   "people_out_1h": 1, "vehicles_in_1h": 0, "vehicles_out_1h": 0,
                   "flow_5m": 6},
            "E2": {"name": "东门", "name_en": "East gate", "people_in_1h": 15,
                   "people_out_1h": 7, "vehicles_in_1h": 0, "vehicles_out_1h": 0,
                   "flow_5m": 0},
            "V1": {"name": "车辆门", "name_en": "Vehicle gate", "people_in_1h": 0,
                   "people_out_1h": 0, "vehicles_in_1h": 4, "vehicles_out_1h": 1,
                   "flow_5m": 5}},
        "grids": {"G1": {"people_present": 4, "density_level": 0, "load": 0.04},
                  "G2": {"people_present": 190, "density_level": 3, "load": 0.95}},
        "incidents": {"open": 1, "overdue": 0, "closed_today": 2,
                      "on_time_rate": 0.5, "solved_in_grid_share": 1.0},
        "open_incidents": [{"id": "a", "grid": "G1", "level": 1, "lat": None,
                            "lon": None, "title": "井盖缺失"}],
        "recent_incidents": [],
        "flow": {"start_ms": 1_700_000_000_000, "step_ms": 60_000,
                 "in": [1, 2], "out": [0, 1], "in_week_ago": None,
                 "out_week_ago": None},
        "feeds": {"crowd": {"last_ts": 1, "lag_ms": 0}},
        "alerts": [{"kind": "density", "grid": "G2", "level": 3}],
    }
    base.update(over)
    return base


def test_masking_keeps_nothing_identifying():
    assert mask_name("张三丰") == "张**"
    assert mask_name("李四") == "李*"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("12345") == "***45"
    assert mask_name("") == "" and mask_phone("") == ""


def test_flip_digits_dims_leading_zeros():
    tiles = flip_digits(305)
    assert "".join(t.children for t in tiles) == "000305"
    assert [t.className for t in tiles] == ["flip dim"] * 3 + ["flip"] * 3
    assert flip_digits(0)[-1].className == "flip"


def test_entrance_marker_grows_with_flow_but_is_capped():
    assert entrance_size(0) < entrance_size(10) < entrance_size(100)
    assert entrance_size(10**9) == 46.0


def test_map_draws_every_grid_entrance_and_incident(tiny):
    outlines = grid_outlines(tiny)
    grids, entrances, incidents = map_frames(snapshot(), tiny, outlines, "zh")
    fig = grid_map_figure(grids, entrances, incidents, theme=DARK)
    n = len(tiny.grids)
    assert [tr.name for tr in fig.data[:n]] == ["G1", "G2"]
    assert fig.data[1].line.color == DARK.density[3]  # G2 is red
    assert len(fig.data[n + MAP_ENTRANCES].x) == 3
    assert list(fig.data[n + MAP_INCIDENTS].marker.color) == [DARK.levels[1]]
    assert fig.layout.uirevision == "wall-map"


def test_empty_frames_give_a_readable_no_data_figure():
    fig = flow_figure(pd.DataFrame(), theme=DARK, lang="en")
    assert fig.layout.annotations[0].text == "No data yet"
    assert len(fig.data) == 0


def test_ranking_busiest_pedestrian_entrances_first(tiny):
    rows = ranking(snapshot(), tiny, "zh")
    assert [r["id"] for r in rows] == ["E2", "E1"]  # V1 is a vehicle gate


def test_shape_and_patch_send_only_what_changed(tiny):
    outlines = grid_outlines(tiny)
    old = shape(snapshot(), tiny, outlines, "zh")
    same = shape(snapshot(version=4), tiny, outlines, "zh")
    assert map_patch(old, same, len(tiny.grids)) is no_update
    grids = {**snapshot()["grids"], "G1": {"people_present": 90,
                                          "density_level": 2, "load": 0.9}}
    new = shape(snapshot(version=5, grids=grids), tiny, outlines, "zh")
    patch = map_patch(old, new, len(tiny.grids))
    assert isinstance(patch, Patch)
    ops = patch.to_plotly_json()["operations"]
    touched = {tuple(op["location"]) for op in ops}
    assert ("data", 0, "fillcolor") in touched
    assert ("data", 1, "fillcolor") not in touched  # G2 did not change
    assert old["kpi"]["on_time_rate"] == "50%"
    assert old["kpi"]["vehicles_today"] == "4 / 1"
    assert old["alerts"][0]["kind"] == "density3"


def test_patch_values_match_what_the_figure_builder_draws(tiny):
    from layouts.wall_data import map_patch_values, map_values

    outlines = grid_outlines(tiny)
    snap = snapshot()
    frames = map_frames(snap, tiny, outlines, "zh")
    assert map_values(snap, tiny, outlines, "zh", DARK) == map_patch_values(
        *frames, DARK)


def test_flow_patch_sends_only_the_minutes_that_moved(tiny):
    from web.wall_changes import flow_patch

    outlines = grid_outlines(tiny)
    old = shape(snapshot(), tiny, outlines, "zh")
    first = flow_patch(None, old, "zh")
    # a whole figure the first time, with plain lists a patch can index into
    assert [tr["y"] for tr in first["data"][:2]] == [[1, 2], [0, 1]]
    flow = {**snapshot()["flow"], "in": [1, 5]}
    new = shape(snapshot(version=4, flow=flow), tiny, outlines, "zh")
    ops = flow_patch(old, new, "zh").to_plotly_json()["operations"]
    assert [(op["location"], op["params"]["value"]) for op in ops] == [
        (["data", 0, "y", 1], 5)]
    moved = {**flow, "start_ms": flow["start_ms"] + 60_000}
    later = shape(snapshot(version=5, flow=moved), tiny, outlines, "zh")
    ops = flow_patch(new, later, "zh").to_plotly_json()["operations"]
    assert {tuple(op["location"]) for op in ops} >= {("data", 0, "x"),
                                                      ("data", 0, "y")}


def wall_data(r, tiny):
    from flask import Flask
    from flask_caching import Cache

    from data.config import load_config
    from tests.common import PREFIX
    from web.state import AppState
    from web.wall_push import WallData

    config = load_config({"GOV_PREFIX": PREFIX, "REDIS_URL": "redis://x",
                          "GOV_SITES_DIR": str(tiny.path.parent)})
    cache = Cache(Flask(__name__), config={"CACHE_TYPE": "SimpleCache"})
    return WallData(AppState(config=config, sites={"tiny": tiny}, redis=r), cache)


def test_pushed_change_is_made_once_and_follows_on_what_the_stream_sent(r, tiny):
    import json

    from data.feed.snapshot import publish

    data = wall_data(r, tiny)
    keys = data.state.keys("tiny")
    v1 = publish(r, keys, tiny, 1_700_000_000_000)
    version, whole = data.event("tiny", "zh", None)
    assert version == v1 and json.loads(whole)["base"] is None
    assert len(json.loads(whole)["props"]) > 10  # the whole wall
    assert data.event("tiny", "zh", v1) == (v1, None)  # nothing new to send
    r.hset(keys.present, mapping={"site": 37, "g:G2": 37})
    v2 = publish(r, keys, tiny, 1_700_000_000_000)
    version, body = data.event("tiny", "zh", v1)
    assert data.event("tiny", "zh", v1)[1] is body  # serialized once
    r.set(keys.version, 10**6)  # the next streams do not even read Redis
    assert data.event("tiny", "zh", v1, v2) == (v2, body)
    r.set(keys.version, v2)
    change = json.loads(body)
    assert (change["v"], change["base"]) == (v2, v1)
    sent = {cid if isinstance(cid, str) else cid["name"]: props
            for cid, props in change["props"]}
    digits = "".join(tile["props"]["children"]
                     for tile in sent["wall-people"]["children"])
    assert digits == "000037"
    assert "wall-ranking" not in sent and "wall-ticker" not in sent  # unchanged
    assert sent["wall-map"]["figure"]["__dash_patch_update"]
    # a stream that sent a version this process does not know gets it whole
    assert json.loads(data.event("tiny", "zh", v1 - 1 if v1 > 1 else 999)[1])[
        "base"] is None


def test_wall_stream_carries_the_whole_wall_then_each_change():
    import json
    import time

    from web.push import event_stream

    class FakeHub:
        connected = True

        def __init__(self):
            self.steps = iter([(5, 0, 0, 0), (6, 0, 0, 0), (6, 0, 1, 0),
                               (6, 0, 1, 0), (7, 0, 1, 0), (7, 0, 2, 0),
                               (7, 0, 2, 0)])
            self.now = (4, 0, 0, 0)

        def current(self, site):
            return self.now

        def wait(self, site, seen, connected, timeout, people=True):
            step = next(self.steps)
            if step == self.now:  # nothing new: the heartbeat is due
                time.sleep(timeout)
            self.now = step
            return self.now, True

        def people_now(self, site):  # people 12 after 6, then 15 after 6
            return {1: (6, 12), 2: (6, 15)}[self.now[2]]

    asked = []

    def changes(base, version):
        asked.append(base)
        v = {None: 4, 4: 5, 5: 6, 6: 7}[base]
        return v, json.dumps({"v": v, "base": base, "props": []})

    stream = event_stream(FakeHub(), "tiny", "b", changes=changes, ping_s=0.05,
                          people=lambda n: json.dumps([["wall-people", n]]))
    events = [next(stream).decode() for _ in range(7)][1:]
    bodies = [json.loads(e.split("data: ", 1)[1]) for e in events]
    assert [e.split("\n")[0] for e in events] == [
        "event: hello", "event: version", "event: version", "event: live",
        "event: ping", "event: version"]
    assert [b.get("wall", {}).get("v") for b in bodies] == [4, 5, 6, None, None, 7]
    assert bodies[3]["live"] == {"b": 6, "props": [["wall-people", 12]]}
    assert asked == [None, 4, 5, 6]  # each change follows on what was sent
    # people counted after version 6 are old news once 7 is carried: no event
    assert next(stream).startswith(b"event: ping")


def test_a_ranking_that_keeps_its_order_is_patched_number_by_number():
    from layouts.wall_render import render_ranking
    from web.wall_changes import children_patch

    rows = [{"name": "东门", "in": 15, "out": 7, "total": 22},
            {"name": "西门", "in": 5, "out": 1, "total": 6}]
    moved = [{**rows[0]}, {**rows[1], "in": 6, "total": 7}]
    ops = children_patch(render_ranking(rows, "zh"),
                         render_ranking(moved, "zh")).to_plotly_json()["operations"]
    assert {(tuple(op["location"]), op["params"]["value"]) for op in ops} == {
        ((1, "props", "children", 2, "props", "children", "props", "style",
          "width"), "32%"),
        ((1, "props", "children", 3, "props", "children"), "6")}
    swapped = [rows[1] | {"in": 50, "total": 51}, rows[0]]
    whole = children_patch(render_ranking(rows, "zh"), render_ranking(swapped, "zh"))
    assert not isinstance(whole, Patch) or len(whole.to_plotly_json()[
        "operations"]) <= 24
    assert children_patch(render_ranking(rows, "zh"),
                          render_ranking(rows, "zh")) is no_update


def test_the_rotation_is_decided_once_a_period_for_every_web_process(r, tiny):
    from data.keys import Keys
    from tests.common import PREFIX
    from web.wall_spot import busiest_grids, rotation_grid

    keys = Keys(PREFIX, "tiny")
    g1_busy = {"grids": {"G1": {"people_in_1h": 30}}, "open_by_grid": {}}
    g2_busy = {"grids": {"G1": {"people_in_1h": 30}}, "open_by_grid": {"G2": 1}}
    assert busiest_grids(tiny, g1_busy) == ["G1", "G2"]
    assert busiest_grids(tiny, g2_busy) == ["G2", "G1"]  # an incident weighs 50
    period = 2 * 10**6  # even: the busiest grid's turn
    assert rotation_grid(r, keys, tiny, g1_busy, period, 15_000) == "G1"
    # another process, whose data moved on meanwhile, shows the same grid
    assert rotation_grid(r, keys, tiny, g2_busy, period, 15_000) == "G1"
    assert rotation_grid(r, keys, tiny, g1_busy, period + 1, 15_000) == "G2"
    assert 0 < r.pttl(keys.spot(period)) <= 30_000


def test_wall_stream_turns_the_spotlight_by_the_clock_and_on_a_cast():
    import json
    import time

    from web.push import event_stream

    class QuietHub:  # nothing happens but the clock, then one cast
        connected = True
        now = (4, 0, 0, 0)  # version, cast, people, incidents

        def current(self, site):
            return self.now

        def wait(self, site, seen, connected, timeout, people=True):
            time.sleep(timeout)
            return self.now, True

    hub = QuietHub()
    built = []

    def spot(period, cast):
        built.append((period, cast))
        if cast == 2:
            raise KeyError("a cast incident in no grid")
        return json.dumps({"period": period, "cast": cast})

    stream = (e.decode() for e in event_stream(hub, "tiny", "b", ping_s=3.0,
                                               spot=spot, spot_ms=300))
    next(stream)  # retry
    hello = json.loads(next(stream).split("data: ", 1)[1])
    turned = next(stream)
    assert turned.startswith("event: spot")  # at the turn, not a ping 3 s on
    after = json.loads(turned.split("data: ", 1)[1])["spot"]
    assert after["period"] == hello["spot"]["period"] + 1
    assert after["period"] == int(time.time() * 1000) // 300
    hub.now = (4, 1, 0, 0)  # a supervisor casts
    kinds = [next(stream).split("\n")[0] for _ in range(2)]
    # the spotlight first (an urgent event in it is what the room must see
    # at once), the version it came with after it
    assert kinds == ["event: spot", "event: version"]
    assert built[-1][1] == 1  # the spotlight of the cast
    hub.now = (4, 2, 0, 0)  # a spotlight that fails: the stream goes on
    kinds = [next(stream) for _ in range(3)]
    assert [k.split("\n")[0] for k in kinds] == [
        "event: spot", "event: version", "event: spot"]
    assert '"spot":' not in kinds[0] + kinds[2]  # and the wall keeps its own


def test_every_screen_builds_from_its_arguments_alone(tiny):
    """No app, no request: a layout shows what it is given (layouts/)."""
    from layouts import analysis, console, home, mobile, wall
    from layouts.live import LiveLink

    link = LiveLink(build="b1", ping_ms=3000, heartbeat_ms=5000)
    worker = next(iter(tiny.users.values()))
    built = [
        wall.layout(tiny, "en", link=link, reload_hour=4, spot_ms=15_000),
        console.layout(tiny, user=worker, link=link),
        mobile.layout(tiny, user=None, link=link, max_photo_bytes=1024),
        analysis.layout(tiny, sites=[tiny], start="2024-01-01"),
        home.layout(tiny, admin=True),
    ]
    root = built[0].to_plotly_json()["props"]
    assert root["data-spot-ms"] == "15000" and root["data-reload-hour"] == "4"
    assert root["data-site"] == tiny.id and root["data-build"] == "b1"
    assert "/admin" in str(built[4].to_plotly_json())
    assert "/admin" not in str(home.layout(tiny).to_plotly_json())
