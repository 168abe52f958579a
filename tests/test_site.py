"""The site loader on the two sample sites, and on broken copies of them.

A broken copy is a sample site folder copied into ``tmp_path`` with one thing
spoiled; loading it must raise :class:`SiteError` with a message that names the
file and says what is wrong, since that message is all a center sees at start-up.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import yaml
from shapely.ops import unary_union

from data.site import Site, SiteError
from data.site_files import DEFAULT_THRESHOLDS, load_site

ROOT = Path(__file__).resolve().parents[1]
SITES = ROOT / "data" / "sites"
EXPECTED_KM2 = {"yaozhai": 0.35, "erqi": 3.17}


@pytest.fixture(scope="module")
def yaozhai() -> Site:
    return load_site(SITES / "yaozhai")


@pytest.fixture(scope="module")
def erqi() -> Site:
    return load_site(SITES / "erqi")


@pytest.fixture(scope="module", params=sorted(EXPECTED_KM2))
def site(request: pytest.FixtureRequest) -> Site:
    return load_site(SITES / request.param)


# --- the sample sites ------------------------------------------------------


def test_yaozhai_has_9_grids_24_entrances_and_a_few_car_parks(yaozhai: Site) -> None:
    kinds = [e.kind for e in yaozhai.entrances.values()]
    assert (yaozhai.name, yaozhai.kind) == ("姚寨社区", "residential")
    assert len(yaozhai.grids) == 9
    assert len(yaozhai.entrances) == 24
    assert kinds.count("vehicle") == 6 and kinds.count("pedestrian") == 18
    assert 3 <= len(yaozhai.parking) <= 4
    assert {g.community for g in yaozhai.grids.values()} == {"comm_yaozhai"}
    assert yaozhai.units["dist_jinshui"].name == "金水区"


def test_yaozhai_market_grid_turns_yellow_sooner(yaozhai: Site) -> None:
    special = [g for g in yaozhai.grids.values() if g.thresholds != DEFAULT_THRESHOLDS]
    assert len(special) == 1
    market, ordinary = special[0], yaozhai.grids["G01"]
    assert all(m < d for m, d in zip(market.thresholds, DEFAULT_THRESHOLDS,
                                     strict=True))
    assert market.density_level(round(market.capacity * 0.55)) == 1
    assert ordinary.density_level(round(ordinary.capacity * 0.55)) == 0


def test_erqi_spans_three_districts_with_22_complexes(erqi: Site) -> None:
    entrances = list(erqi.entrances.values())
    main_doors = {e.name for e in entrances if e.name.endswith("正门")}
    assert (erqi.name, erqi.kind) == ("二七商圈", "business")
    assert len(erqi.grids) == 12
    assert {erqi.units[g.district].name for g in erqi.grids.values()} == {
        "二七区", "中原区", "管城回族区"}
    assert len({g.street for g in erqi.grids.values()}) == 3
    assert len(main_doors) == 22
    assert all(e.kind == "pedestrian" for e in entrances if e.name in main_doors)
    assert sum(e.kind == "vehicle" for e in entrances) == 8
    assert len(erqi.parking) == 8
    assert min(p.capacity for p in erqi.parking.values()) >= 200


@pytest.mark.parametrize("name", sorted(EXPECTED_KM2))
def test_total_grid_area_matches_the_site(name: str) -> None:
    site = load_site(SITES / name)
    km2 = sum(g.area_m2 for g in site.grids.values()) / 1e6
    assert km2 == pytest.approx(EXPECTED_KM2[name], rel=0.15)


def test_grids_tile_the_site_without_gaps_or_overlaps(site: Site) -> None:
    metric = site.grids_frame.to_crs(site.grids_frame.estimate_utm_crs())
    whole = unary_union(list(metric.geometry))
    assert all(metric.geometry.is_valid)
    assert whole.geom_type == "Polygon" and not whole.interiors
    assert metric.area.sum() == pytest.approx(whole.area, rel=1e-6)


def test_grid_at_finds_the_grid_of_a_point_and_none_outside(site: Site) -> None:
    for gid, grid in site.grids.items():
        inside = grid.geometry.representative_point()
        assert site.grid_at(inside.x, inside.y) == gid
    minx, miny, maxx, maxy = site.grids_frame.total_bounds
    assert site.grid_at(maxx + 0.001, maxy + 0.001) is None
    assert site.grid_at(minx - 0.01, (miny + maxy) / 2) is None
    assert site.grid_at(0.0, 0.0) is None


def test_entrances_and_car_parks_lie_inside_their_grid(site: Site) -> None:
    for point in [*site.entrances.values(), *site.parking.values()]:
        assert site.grid_at(point.lon, point.lat) == point.grid, point.id
        others = [g for g in site.grids.values() if g.id != point.grid]
        assert not any(
            g.geometry.intersects(gpd.points_from_xy([point.lon], [point.lat])[0])
            for g in others), point.id


def test_ownership_chain_runs_grid_community_street_district(site: Site) -> None:
    for grid in site.grids.values():
        community = site.units[grid.community]
        assert community.parent == grid.street
        assert site.units[grid.street].parent == grid.district
        assert site.units[grid.district].parent is None
        assert grid.party_branch.endswith("党支部") and grid.party_secretary


def test_every_grid_has_its_own_grid_worker(site: Site) -> None:
    for grid in site.grids.values():
        worker = site.users[grid.worker]
        assert (worker.role, worker.duty, worker.grids) == (
            "worker", "grid_worker", (grid.id,))


def test_users_have_valid_phones_and_supervisors_a_level(site: Site) -> None:
    phones = [u.phone for u in site.users.values()]
    assert all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)
    assert len(set(phones)) == len(phones)
    levels = {u.max_level for u in site.users.values() if u.role == "supervisor"}
    assert {"community", "street"} <= levels
    assert {u.role for u in site.users.values()} >= {
        "worker", "supervisor", "volunteer", "analyst", "admin"}


def test_deadlines_are_shortest_for_urgent_incidents(site: Site) -> None:
    own = [c for c in site.categories if c != "device_fault"]  # built in
    assert 10 <= len(own) <= 12 and "device_fault" in site.categories
    for category in site.categories.values():
        hours = category.deadlines_h
        assert hours[1] < hours[2] < hours[3], category.id


def test_sample_sites_are_what_the_generator_writes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = importlib.util.spec_from_file_location(
        "make_sites", ROOT / "tools" / "make_sites.py")
    assert spec and spec.loader
    make_sites = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_sites", make_sites)  # for its dataclasses
    spec.loader.exec_module(make_sites)
    for name, build in make_sites.BUILDERS.items():
        for fname, text in make_sites.render(build()).items():
            assert (SITES / name / fname).read_text(encoding="utf-8") == text, fname


# --- broken copies -----------------------------------------------------------


def _edit_json(path: Path, change: Callable[[list[dict[str, Any]]], None]) -> None:
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc["features"])
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")


def _props(index: int, **values: Any) -> Callable[[list[dict[str, Any]]], None]:
    return lambda features: features[index]["properties"].update(values)


def _same_id(features: list[dict[str, Any]]) -> None:
    features[1]["properties"]["id"] = features[0]["properties"]["id"]


def _user(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["users"][index].update(values)


def _write(text: str) -> Callable[[Path], None]:
    return lambda path: path.write_text(text, encoding="utf-8")


BREAKAGES: list[tuple[str, str, Callable[[Path], None], str]] = [
    ("invalid-yaml", "site.yaml", _write("id: yaozhai\nname: [姚寨社区\n"),
     "not valid YAML"),
    ("yaml-not-a-mapping", "site.yaml", _write("- yaozhai\n"),
     "expected a mapping at the top level"),
    ("missing-grids", "grids.geojson", Path.unlink, "file not found"),
    ("garbage-geojson", "entrances.geojson", _write("这不是 JSON {{{"),
     "cannot be read as GeoJSON"),
    ("text-capacity", "grids.geojson",
     lambda p: _edit_json(p, _props(0, capacity="很多")),
     "grid G01 capacity: expected a whole number, got '很多'"),
    ("fractional-capacity", "parking.geojson",
     lambda p: _edit_json(p, _props(0, capacity=12.5)),
     "lot P01 capacity: expected a whole number > 0, got 12.5"),
    ("entrance-unknown-grid", "entrances.geojson",
     lambda p: _edit_json(p, _props(0, grid="G99")),
     "entrance E01: grid G99 is not in the site"),
    ("entrance-unknown-kind", "entrances.geojson",
     lambda p: _edit_json(p, _props(2, kind="bicycle")),
     "entrance E03: kind 'bicycle' is not one of"),
    ("grid-unknown-district", "grids.geojson",
     lambda p: _edit_json(p, _props(0, district="dist_nowhere")),
     "grid G01: district 'dist_nowhere' is not a unit"),
    ("grid-falling-thresholds", "grids.geojson",
     lambda p: _edit_json(p, _props(4, thresholds=[0.9, 0.7, 0.5])),
     "grid G05: thresholds must be three rising shares of capacity"),
    ("worker-not-a-user", "grids.geojson",
     lambda p: _edit_json(p, _props(0, worker="w_nobody")),
     "grid G01: worker w_nobody is not in the users"),
    ("duplicate-grid-id", "grids.geojson", lambda p: _edit_json(p, _same_id),
     "duplicate id G01"),
    ("duplicate-entrance-id", "entrances.geojson", lambda p: _edit_json(p, _same_id),
     "duplicate id E01"),
    ("unknown-role", "site.yaml", lambda p: _edit_yaml(p, _user(0, role="boss")),
     "users[0]: role 'boss' is not one of"),
    ("user-unknown-grid", "site.yaml",
     lambda p: _edit_yaml(p, _user(0, grids=["G42"])),
     "users[0]: grid G42 is not in this site"),
    ("duplicate-user-id", "site.yaml",
     lambda p: _edit_yaml(p, _user(1, id="w_g01")),
     "users[1]: duplicate id w_g01"),
    ("duplicate-category-id", "site.yaml",
     lambda p: _edit_yaml(p, lambda d: d["categories"][1].update(id="sanitation")),
     "categories[1]: duplicate id sanitation"),
    ("id-not-folder", "site.yaml", lambda p: _edit_yaml(p, lambda d: d.update(id="x")),
     "id 'x' differs from folder 'yaozhai'"),
]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A fresh copy of the yaozhai site, in a folder of the same name."""
    return Path(shutil.copytree(SITES / "yaozhai", tmp_path / "yaozhai"))


def test_an_untouched_copy_loads(copy: Path) -> None:
    assert len(load_site(copy).grids) == 9


@pytest.mark.filterwarnings("ignore:Could not parse column")
@pytest.mark.parametrize(("fname", "spoil", "problem"),
                         [b[1:] for b in BREAKAGES], ids=[b[0] for b in BREAKAGES])
def test_a_broken_file_is_named_with_its_problem(
    copy: Path, fname: str, spoil: Callable[[Path], None], problem: str
) -> None:
    spoil(copy / fname)
    with pytest.raises(SiteError) as caught:
        load_site(copy)
    message = str(caught.value)
    assert message.startswith(str(copy / fname)), message
    assert problem in message
