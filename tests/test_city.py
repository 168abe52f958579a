"""A generated city (``python app.py city generate``) and the simulator driving
all of its sites at a total rate.

The city is written once per module (30 sites); every check reads what a
center would serve: the folders through the real loader, the units tree, the
shapes, and what the real aggregator folds from the simulator's feed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
import yaml
from click.testing import CliRunner

from data.city.layout import SNAP_M
from data.city.write import generate_city
from data.config import load_config
from data.feed.aggregator import Aggregator
from data.keys import Keys
from data.sim import run as simulator
from data.sim.model import SiteSim
from data.sim.pace import RoundRobin, tick_for_total
from data.site_files import load_sites
from tests.common import PREFIX

N_SITES = 30
METRIC = 32649  # UTM zone 49N, where Zhengzhou lies
SLIVER_M2 = 0.01  # rounding to six decimals may leave a shared edge this far off


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("city") / "zz"
    generate_city(folder, N_SITES, seed=11)
    return folder


@pytest.fixture(scope="module")
def city(city_dir: Path) -> dict:
    config = load_config({"GOV_SITES_DIR": str(city_dir)})
    return load_sites(config.sites_root, config.sites)


@pytest.fixture(scope="module")
def tree(city_dir: Path) -> dict[str, dict]:
    doc = yaml.safe_load((city_dir / "units.yaml").read_text(encoding="utf-8"))
    return {u["id"]: u for u in doc["units"]}


@pytest.fixture(scope="module")
def grids(city: dict) -> gpd.GeoDataFrame:
    """Every grid of the city, in metres."""
    frames = [site.grids_frame.assign(site=site.id) for site in city.values()]
    return gpd.GeoDataFrame(pd.concat(frames), crs=4326).to_crs(METRIC)


@pytest.fixture(scope="module")
def outlines(city_dir: Path) -> gpd.GeoSeries:
    frame = gpd.read_file(city_dir / "units.geojson").set_index("id")
    return frame.geometry.to_crs(METRIC)


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# --- generation ------------------------------------------------------------------


def test_the_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    generate_city(tmp_path / "a", 12, seed="s1")
    generate_city(tmp_path / "b", 12, seed="s1")
    generate_city(tmp_path / "c", 12, seed="s2")
    first = files(tmp_path / "a")
    assert len(first) == 12 * 4 + 2
    assert files(tmp_path / "b") == first
    other = files(tmp_path / "c")
    assert other.keys() == first.keys()  # the same ids: they say where a unit is
    assert other != first


def test_the_command_writes_a_city_and_refuses_a_folder_in_use(tmp_path: Path) -> None:
    from app import cli

    runner = CliRunner()
    done = runner.invoke(cli, ["city", "generate", str(tmp_path / "new"),
                               "--sites", "3", "--seed", "5"])
    assert done.exit_code == 0, done.output
    assert "3 sites" in done.output and "GOV_SITES_DIR=" in done.output
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    refused = runner.invoke(cli, ["city", "generate", str(used), "--sites", "3"])
    assert refused.exit_code != 0
    assert "not an empty folder" in refused.output
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    assert (used / "notes.txt").read_text() == "mine"
    zero = runner.invoke(cli, ["city", "generate", str(tmp_path / "z"), "--sites", "0"])
    assert zero.exit_code != 0 and not (tmp_path / "z").exists()


def test_a_generated_city_loads_as_sites_with_grids_gates_and_people(city) -> None:
    assert len(city) == N_SITES
    n_grids = [len(site.grids) for site in city.values()]
    assert sum(n_grids) / N_SITES >= 9
    for site in city.values():
        walk_in = {e.grid for e in site.entrances.values() if e.kind == "pedestrian"}
        assert walk_in == set(site.grids), "people reach every grid through a gate"
        assert site.parking
        assert {site.users[g.worker].grids for g in site.grids.values()} == {
            (g,) for g in site.grids}
        assert any(u.role == "supervisor" and u.max_level == "community"
                   for u in site.users.values())
        assert site.name.endswith("社区") and site.name_en.endswith("Community")
    assert len({site.name for site in city.values()}) == N_SITES


def test_the_city_lies_around_zhengzhou(grids) -> None:
    lon0, lat0, lon1, lat1 = grids.to_crs(4326).total_bounds
    assert 113.45 < lon0 < lon1 < 113.85 and 34.6 < lat0 < lat1 < 34.9
    assert 0.2 < grids.area.sum() / 1e6 / N_SITES < 0.5  # km² a community


def test_grids_do_not_overlap_and_each_lies_inside_its_community(
        grids, outlines) -> None:
    shapes = grids.geometry.values
    assert shapely.is_valid(shapes).all()
    left, right = shapely.STRtree(shapes).query(shapes, predicate="intersects")
    pairs = left < right
    overlap = shapely.area(shapely.intersection(shapes[left[pairs]],
                                                shapes[right[pairs]]))
    assert pairs.sum() > len(grids)  # neighbours share edges …
    assert overlap.max() < SLIVER_M2  # … and nothing more
    sites = grids["site"].to_numpy()
    assert (sites[left[pairs]] == sites[right[pairs]]).all(), "roads between sites"
    community = outlines.loc[grids["community"]].values
    outside = shapely.area(shapely.difference(shapes, community))
    assert outside.max() < SLIVER_M2


def test_entrances_and_car_parks_lie_inside_their_grid(city) -> None:
    for site in city.values():
        for point in [*site.entrances.values(), *site.parking.values()]:
            assert site.grid_at(point.lon, point.lat) == point.grid, (site.id, point.id)


# --- the units -------------------------------------------------------------------


def test_units_form_one_tree_from_the_city_down_to_its_sites(city, tree) -> None:
    levels = Counter(u["level"] for u in tree.values())
    assert levels["city"] == 1 and levels["community"] == N_SITES
    assert tree["zz"]["parent"] is None and tree["zz"]["name"] == "郑州市"
    above = {"district": "city", "street": "district", "community": "street"}
    for unit in tree.values():
        if unit["level"] != "city":
            parent = tree[unit["parent"]]
            assert parent["level"] == above[unit["level"]], unit["id"]
            assert unit["id"].startswith(parent["id"] + "-")
    assert {u["site"] for u in tree.values() if "site" in u} == set(city)
    assert levels["district"] >= 3
    assert {u["name"] for u in tree.values() if u["level"] == "district"} <= {
        "金水区", "二七区", "中原区", "管城回族区", "惠济区", "郑东新区", "高新区",
        "经开区"}


def test_each_sites_chain_matches_the_tree(city, tree) -> None:
    for site in city.values():
        for unit in site.units.values():
            known = tree[unit.id]
            assert (unit.level, unit.name, unit.name_en) == (
                known["level"], known["name"], known["name_en"])
            # the site's chain stops at its district; the tree goes on to the city
            assert unit.parent == (None if unit.level == "district"
                                   else known["parent"])
        for grid in site.grids.values():
            assert grid.community == site.id
            assert tree[grid.community]["parent"] == grid.street
            assert tree[grid.street]["parent"] == grid.district


def test_each_unit_outline_lies_inside_its_parents(tree, outlines) -> None:
    for unit in tree.values():
        if unit["parent"] is not None:
            # a cell's vertices sit on a half-metre lattice and are written to
            # about 0.1 m, so where it runs along its parent's edge it may stray
            # out by less than a metre, never more
            inner = outlines[unit["id"]].buffer(-2 * SNAP_M)
            assert inner.difference(outlines[unit["parent"]]).area < SLIVER_M2, (
                unit["id"])


# --- the simulator at a total rate ------------------------------------------------


def test_sites_take_turns_and_a_lag_beyond_one_round_is_skipped() -> None:
    turns = RoundRobin(4, tick_s=1.0, start=0.0)
    assert turns.take(0.0) == [0]
    assert turns.take(0.6) == [1, 2]
    assert turns.next_at() == 0.75
    assert turns.take(1.0) == [3, 0]
    assert turns.take(1.1) == []
    behind = turns.take(9.3)  # the machine stalled for eight rounds
    assert sorted(behind) == [0, 1, 2, 3], "each site once, never a burst"


def test_the_tick_gives_the_asked_total_or_a_clear_refusal(city) -> None:
    sims = [SiteSim(site, seed=1) for site in city.values()]
    per_tick = sum(sim.readings_per_tick() for sim in sims)
    tick = tick_for_total(sims, 2500)
    assert per_tick / tick == pytest.approx(2500)
    with pytest.raises(ValueError, match="at most .* entries a second"):
        tick_for_total(sims, per_tick / 0.01)


def test_a_total_rate_feeds_every_site_and_the_aggregator_folds_it(
        r, raw, city) -> None:
    total = 3000.0
    stop = threading.Event()
    written: list[int] = []
    started = time.monotonic()
    # rate: the volumes, incidents too; at night the model reports a tenth
    # of the day's incidents, and this many keep a few in 3 s at any hour
    worker = threading.Thread(target=lambda: written.append(simulator.run(
        raw, city, PREFIX, stop, rate=2000, seed=7, total_rate=total, limit=9000)))
    worker.start()
    worker.join(120)
    elapsed = time.monotonic() - started
    stop.set()
    assert not worker.is_alive()
    streams = {name: {s: r.xlen(Keys(PREFIX, name).stream(s))
                      for s in ("crowd", "traffic", "incident")} for name in city}
    assert sum(n for site in streams.values() for n in site.values()) == written[0]
    rounds = {name: streams[name]["crowd"] / len(site.entrances)
              for name, site in city.items()}
    assert all(n == int(n) for n in rounds.values()), "every counter each turn"
    assert max(rounds.values()) - min(rounds.values()) <= 1, "spread over the sites"
    assert min(rounds.values()) >= 2
    one_round = sum(SiteSim(site).readings_per_tick() for site in city.values())
    assert elapsed >= (written[0] - 2 * one_round) / total, "never ahead of the pace"
    assert sum(s["incident"] for s in streams.values()) > 0, "incidents included"

    agg = Aggregator(raw, city, PREFIX, snapshot_interval_ms=50,
                     consumer="agg-city-test")
    agg.setup()
    idle = 0
    while idle < 2:
        idle = 0 if agg.step(block_ms=20) else idle + 1
    for name in city:
        stats = {k.decode(): int(v) for k, v in
                 raw.hgetall(Keys(PREFIX, name).stats).items()}
        assert stats.get("dead", 0) == 0, (name, raw.xrange(
            Keys(PREFIX, name).dead, count=3))
        assert stats["folded:crowd"] == streams[name]["crowd"]
        reports = sum(1 for _, f in raw.xrange(Keys(PREFIX, name).stream(
            "incident")) if f[b"op"] == b"report")
        assert r.zcard(Keys(PREFIX, name).incidents_all) == reports
