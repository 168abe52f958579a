"""Loading sites with the cache of parsed site.yaml files (data/site_cache.py)
and the plain GeoJSON reader (data/site_geojson.py).

What a center notices: an edited file is read on the next start, a site loads
the same with the cache, without it, cold or warm, and a cache that is broken
or cannot be written never stops a start.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import shapely
import yaml
from geopandas.testing import assert_geodataframe_equal

from data import site_cache, site_geojson
from data.site import Site, SiteError
from data.site_files import load_site

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = [ROOT / "data" / "sites" / name for name in ("yaozhai", "erqi")] + [
    ROOT / "tests" / "fixtures" / "sites" / "tiny"]


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SAMPLES[0], tmp_path / "sites" / "yaozhai"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cache" / "sites"


def same_site(a: Site, b: Site) -> None:
    for f in dataclasses.fields(a):
        if f.name != "make_grids_frame":
            assert getattr(a, f.name) == getattr(b, f.name), f.name
    assert_geodataframe_equal(a.grids_frame, b.grids_frame)


@pytest.mark.parametrize("folder", SAMPLES, ids=lambda p: p.name)
def test_a_site_loads_the_same_without_the_cache_cold_and_warm(
    folder: Path, cache: Path
) -> None:
    plain = load_site(folder)
    cold = load_site(folder, cache)
    assert (cache / f"{folder.name}.json").is_file()
    warm = load_site(folder, cache)
    same_site(plain, cold)
    same_site(plain, warm)


def test_a_warm_load_does_not_parse_site_yaml_again(
    copy: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_site(copy, cache)

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("site.yaml parsed again")

    monkeypatch.setattr(yaml, "load", no_parse)
    same_site(first, load_site(copy, cache))


def test_an_edited_site_yaml_is_read_on_the_next_load(copy: Path, cache: Path) -> None:
    """Even when the edit keeps the file's size and its time stamp."""
    meta = copy / "site.yaml"
    assert load_site(copy, cache).name == "姚寨社区"
    stat = meta.stat()
    text = meta.read_text(encoding="utf-8")
    edited = text.replace("name: 姚寨社区", "name: 姚砦社区", 1)
    assert edited != text and len(edited.encode()) == stat.st_size
    meta.write_text(edited, encoding="utf-8")
    os.utime(meta, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert meta.stat().st_size == stat.st_size
    assert meta.stat().st_mtime_ns == stat.st_mtime_ns
    assert load_site(copy, cache).name == "姚砦社区"
    assert load_site(copy, cache).name == "姚砦社区"  # and from the cache


def test_an_edited_geojson_is_read_on_the_next_load(copy: Path, cache: Path) -> None:
    load_site(copy, cache)
    grids = copy / "grids.geojson"
    doc = json.loads(grids.read_text(encoding="utf-8"))
    doc["features"][0]["properties"]["capacity"] = 4321
    grids.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    assert load_site(copy, cache).grids["G01"].capacity == 4321


def test_a_broken_site_yaml_gets_its_message_and_is_not_kept(
    copy: Path, cache: Path
) -> None:
    load_site(copy, cache)
    (copy / "site.yaml").write_text("id: yaozhai\nname: [姚寨社区\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(SiteError, match="site.yaml: not valid YAML"):
            load_site(copy, cache)


def test_a_spoiled_cache_file_is_passed_over_and_written_anew(
    copy: Path, cache: Path
) -> None:
    expected = load_site(copy)
    entry = cache / "yaozhai.json"
    for spoiled in ("", "{not json", '{"key": 1}', "[]", '{"key": "x", "doc": 1}'):
        cache.mkdir(parents=True, exist_ok=True)
        entry.write_text(spoiled, encoding="utf-8")
        same_site(expected, load_site(copy, cache))
        assert json.loads(entry.read_text(encoding="utf-8"))["doc"]["id"] == "yaozhai"


def test_a_cache_that_cannot_be_written_does_not_stop_the_load(
    copy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    same_site(load_site(copy), load_site(copy, blocked / "sites"))
    assert "site cache" in caplog.text


def test_two_writers_at_once_leave_one_whole_entry(cache: Path) -> None:
    docs = [{"id": "s", "n": n, "text": "网格" * 2000} for n in range(2)]

    def write(doc: dict) -> None:
        for _ in range(40):
            site_cache.write(cache, "s", f"key{doc['n']}", doc)

    threads = [threading.Thread(target=write, args=(doc,)) for doc in docs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.name for p in cache.iterdir()] == ["s.json"]
    entry = json.loads((cache / "s.json").read_text(encoding="utf-8"))
    assert entry["doc"] == docs[int(entry["key"][-1])]


def test_mappings_with_number_keys_and_values_json_cannot_hold(cache: Path) -> None:
    doc = {"deadlines": {1: 0.5, 2: 4, 3: 24.0}, "flags": {True: None, 1.5: "x"},
           "\x00pairs": [1], "list": [{"a": [1, 2]}]}
    site_cache.write(cache, "s", "k", doc)
    back = site_cache.read(cache, "s", "k")
    assert back == doc
    assert [type(k) for k in back["deadlines"]] == [int, int, int]
    assert [type(v) for v in back["deadlines"].values()] == [float, int, float]
    assert site_cache.read(cache, "s", "other key") is None
    site_cache.write(cache, "t", "k", {"when": __import__("datetime").date.today()})
    assert not (cache / "t.json").exists()  # a YAML date: parsed every time


# --- the plain GeoJSON reader against geopandas --------------------------------


@pytest.mark.parametrize("path", [folder / name for folder in SAMPLES for name in (
    "grids.geojson", "entrances.geojson", "parking.geojson")],
    ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_plain_reader_gives_what_geopandas_gives(path: Path) -> None:
    plain = site_geojson._read_plain(path).in_lonlat()
    slow = site_geojson._read_geopandas(path).in_lonlat()
    assert plain.frame is None and slow.frame is not None
    assert len(plain.rows) == len(slow.rows)
    for mine, theirs in zip(plain.rows, slow.rows, strict=True):
        assert mine.keys() <= theirs.keys()
        for key, value in theirs.items():
            if key == "geometry":
                assert shapely.to_wkb(mine[key]) == shapely.to_wkb(value)
            elif isinstance(value, np.ndarray):  # a list: thresholds
                assert mine[key] == value.tolist(), key
            elif value is None or value != value:  # missing: None or NaN
                assert mine.get(key) is None, key
            else:
                assert (mine[key], type(mine[key])) == (value, type(value)), key
    assert_geodataframe_equal(plain.grids_frame(), slow.grids_frame())


@pytest.mark.parametrize("spoil", [
    lambda d: d.update(crs={"type": "name", "properties": {"name": "EPSG:4490"}}),
    lambda d: d["features"][0]["properties"].update(name=7),
    lambda d: d["features"][0]["properties"].update(name="2024-05-01"),
    lambda d: d["features"][0].update(id=1),
    lambda d: d["features"][0].update(geometry=None),
], ids=["crs", "mixed-types", "date-like", "feature-id", "no-geometry"])
@pytest.mark.filterwarnings("ignore:Could not parse column")
def test_a_file_the_plain_reader_does_not_take_goes_the_geopandas_way(
    copy: Path, spoil
) -> None:
    grids = copy / "grids.geojson"
    doc = json.loads(grids.read_text(encoding="utf-8"))
    spoil(doc)
    grids.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(site_geojson._Unusual):
        site_geojson._read_plain(grids)
    assert site_geojson.read_geojson(grids).frame is not None


@pytest.mark.filterwarnings("ignore:Non closed ring")
def test_an_open_ring_is_refused_as_before(copy: Path) -> None:
    grids = copy / "grids.geojson"
    doc = json.loads(grids.read_text(encoding="utf-8"))
    doc["features"][0]["geometry"]["coordinates"][0].pop()
    grids.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(site_geojson._Unusual):
        site_geojson._read_plain(grids)
    with pytest.raises(SiteError, match="grids.geojson: cannot be read as GeoJSON"):
        load_site(copy)
