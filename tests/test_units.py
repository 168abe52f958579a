"""Units: the tree above the sites, its command line and the outlines
dissolved from the grids (issue 12 item 1)."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner

from data.city.write import generate_city
from data.site import Unit
from data.site_files import load_sites
from data.units.cli import units as units_command
from data.units.outlines import unit_outlines
from data.units.tree import UnitError, build_tree, tree_of_sites
from tests.chain import write_chain_sites
from tests.common import DATA_SITES


@pytest.fixture(scope="module")
def chain_sites(tmp_path_factory):
    root = write_chain_sites(tmp_path_factory.mktemp("chain"))
    return load_sites(root, ["ta", "tb", "tc"])


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    folder = tmp_path_factory.mktemp("city") / "city"
    generate_city(folder, 12, seed="units")
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    return folder, load_sites(folder, names)


def run_units(sites_dir, tmp_path, *args: str):
    result = CliRunner().invoke(units_command, list(args), env={
        "GOV_SITES_DIR": str(sites_dir), "GOV_DATA_DIR": str(tmp_path),
        "GOV_SITES": "", "REDIS_URL": ""})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_the_sample_sites_hang_under_their_streets_districts_and_the_city(tmp_path):
    lines = run_units(DATA_SITES, tmp_path)
    assert lines[0] == "zhengzhou city 郑州市"
    yaozhai = lines.index("      comm_yaozhai community 姚寨社区")
    assert lines[yaozhai - 1] == "    st_dashiqiao street 大石桥街道"
    assert lines[yaozhai - 2] == "  dist_jinshui district 金水区"
    # the business district spans five communities in three districts
    sites = load_sites(DATA_SITES, ["erqi", "yaozhai"])
    tree = tree_of_sites(sites)
    assert tree.site_communities["erqi"] == (
        "comm_dehuajie", "comm_minggonglu", "comm_renmingongyuan",
        "comm_shuyuanjie", "comm_xidajie")
    assert {tree[c].site for c in tree.site_communities["erqi"]} == {"erqi"}
    assert tree["comm_yaozhai"].site == "yaozhai"
    assert len(lines) == len(tree.units) == 1 + 4 + 4 + 6


def test_the_command_lists_parents_before_their_indented_children(tmp_path):
    root = write_chain_sites(tmp_path / "sites")
    assert run_units(root, tmp_path, "--lang", "en") == [
        "city city City",
        "  D1 district Test District",
        "    S1 street Street S1",
        "      C1 community Community C1",
        "      C2 community Community C2",
        "    S2 street Street S2",
        "      C3 community Community C3",
    ]


def test_a_generated_city_gives_the_tree_of_its_units_file(city, tmp_path):
    folder, sites = city
    listed = yaml.safe_load((folder / "units.yaml").read_text(encoding="utf-8"))
    lines = run_units(folder, tmp_path)
    assert len(lines) == len(listed["units"])
    tree = tree_of_sites(sites)
    for entry in listed["units"]:
        node = tree[entry["id"]]
        assert (node.level, node.name, node.parent) == (
            entry["level"], entry["name"], entry["parent"])
        assert node.site == entry.get("site")
    depth = {"city": 0, "district": 1, "street": 2, "community": 3}
    for line in lines:
        unit_id, level, _ = line.strip().split(" ")
        assert line.startswith("  " * depth[level] + unit_id)


def test_outlines_are_the_grids_dissolved_level_by_level(city):
    _, sites = city
    tree = tree_of_sites(sites)
    outlines = unit_outlines(sites, tree)
    assert set(outlines.index) == set(tree.units)
    for site in sites.values():
        grids = [g.geometry for g in site.grids.values()]
        community = outlines.loc[site.id, "geometry"]
        assert community.area == pytest.approx(sum(g.area for g in grids), rel=1e-6)
    for unit_id, row in outlines.iterrows():
        node = tree[unit_id]
        assert row["level"] == node.level
        if node.parent is not None:
            parent = outlines.loc[node.parent, "geometry"]
            assert parent.buffer(1e-9).contains(row["geometry"])
    city_area = outlines.loc[tree.root, "geometry"].area
    assert city_area == pytest.approx(sum(
        outlines.loc[c, "geometry"].area for c in tree.site_communities), rel=1e-6)


def test_the_command_writes_the_outlines_as_geojson(tmp_path):
    root = write_chain_sites(tmp_path / "sites")
    run_units(root, tmp_path, "--outlines", str(tmp_path / "units.geojson"))
    import geopandas as gpd

    written = gpd.read_file(tmp_path / "units.geojson").set_index("id")
    assert written.loc["S1", "name"] == "测试街道"
    assert written.loc["S1", "geometry"].geom_type == "MultiPolygon"
    assert written.loc["C3", "level"] == "community"


def test_sites_that_disagree_about_a_unit_are_refused():
    street_a = Unit("S1", "street", "测试街道", "Test Street", "D1")
    street_b = Unit("S1", "street", "别的街道", "Test Street", "D1")
    district = Unit("D1", "district", "测试区", "Test District", None)
    with pytest.raises(UnitError, match="site a and site b describe it"):
        build_tree({"a": [street_a, district], "b": [street_b, district]})
    community = Unit("C1", "community", "社区", "C", "S1")
    with pytest.raises(UnitError, match="community C1 is in site a and in site b"):
        build_tree({"a": [community, street_a, district],
                    "b": [community, street_a, district]})
    with pytest.raises(UnitError, match="needs a street as its parent"):
        build_tree({"a": [Unit("C1", "community", "社区", "C", "D1"), district]})
