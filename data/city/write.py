"""Writing a generated city: one site folder per community under ``OUT_DIR``
(what ``GOV_SITES_DIR`` points at) and, at its root, ``units.yaml`` (the tree:
id, level, names, parent, and each community's site) and ``units.geojson``
(each unit's outline), since a site's own files stop at its district.

Coordinates are lon/lat with six decimals (about 0.1 m), as in the sample
sites; the same seed writes byte-identical files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import yaml
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from data.city.plan import CityPlan, plan_city
from data.city.site_docs import Flow, SiteDocs, build_site

CENTRE = (113.65, 34.755)  # lon, lat: Zhengzhou, between Erqi and Jinshui
UNITS_FILE = "units.yaml"
OUTLINES_FILE = "units.geojson"
MAX_SITES = 5000
OUTLINE_STEP_M = 100.0


class CityError(ValueError):
    """The city cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class Written:
    sites: int
    grids: int
    entrances: int
    units: int


# libyaml's emitter: the pure-Python one took three quarters of the time of a
# city (20 ms a site.yaml). Without libyaml the files read the same but are laid
# out a little differently, so byte-identical output assumes the same PyYAML.
class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(list, lambda d, s: d.represent_sequence(
    "tag:yaml.org,2002:seq", s,
    flow_style=all(not isinstance(v, dict | list) for v in s)))
_Dumper.add_representer(Flow, lambda d, m: d.represent_mapping(
    "tag:yaml.org,2002:map", m.items(), flow_style=True))


class _LonLat:
    """Metres around :data:`CENTRE` to rounded lon/lat, many points a call."""

    def __init__(self) -> None:
        lon, lat = CENTRE
        self._tf = Transformer.from_crs(
            f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs",
            "EPSG:4326", always_xy=True)

    def _convert(self, xy: np.ndarray) -> np.ndarray:
        lon, lat = self._tf.transform(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), 6)

    def geometries(self, geoms: list) -> list[dict[str, Any]]:
        moved = shapely.transform(np.array(geoms, dtype=object), self._convert)
        return [_geojson(g) for g in moved]


def _geojson(geom: Polygon | Point) -> dict[str, Any]:
    if geom.geom_type == "Point":
        return {"type": "Point", "coordinates": [geom.x, geom.y]}
    return {"type": "Polygon",
            "coordinates": [[[x, y] for x, y in geom.exterior.coords]]}


def _collection(props: list[dict[str, Any]], geoms: list[dict[str, Any]]) -> str:
    lines = ",\n".join(
        json.dumps({"type": "Feature", "properties": p, "geometry": g},
                   ensure_ascii=False) for p, g in zip(props, geoms, strict=True))
    return f'{{"type": "FeatureCollection", "features": [\n{lines}\n]}}\n'


def _yaml(doc: Any, head: str) -> str:
    body = yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     width=100)
    for key in ("units", "categories", "users"):
        body = body.replace(f"\n{key}:", f"\n\n{key}:")
    return head + body


def site_files(docs: SiteDocs, lonlat: _LonLat) -> dict[str, str]:
    """The text of each file of one site."""
    meta = docs.meta
    head = (f"# {meta['name']} ({meta['name_en']}): generated site, synthetic but "
            "plausible data.\n# Written by `python app.py city generate`.\n")
    layers = (docs.grids, docs.entrances, docs.parking)
    shapes = lonlat.geometries([g for layer in layers for _, g in layer])
    files, at = {"site.yaml": _yaml(meta, head)}, 0
    for name, layer in zip(("grids", "entrances", "parking"), layers, strict=True):
        files[f"{name}.geojson"] = _collection([p for p, _ in layer],
                                               shapes[at:at + len(layer)])
        at += len(layer)
    return files


def units_files(plan: CityPlan, lonlat: _LonLat, seed: object) -> dict[str, str]:
    """``units.yaml`` (the tree) and ``units.geojson`` (the outlines)."""
    tree = []
    for u in plan.units:
        entry = {"id": u.id, "level": u.level, "name": u.name, "name_en": u.name_en,
                 "parent": u.parent}
        if u.level == "community":
            entry["site"] = u.id
        tree.append(entry)
    head = (f"# {plan.units[0].name}: the units of a generated city, parents first "
            f"(seed {seed!r}).\n# Written by `python app.py city generate`.\n")
    # long straight edges in metres bow a little in lon/lat: vertices every
    # 100 m keep a street's outline inside its district's once projected
    outlines = lonlat.geometries([shapely.segmentize(u.outline, OUTLINE_STEP_M)
                                  for u in plan.units])
    return {UNITS_FILE: _yaml({"units": tree}, head).replace("\n\nunits:", "\nunits:"),
            OUTLINES_FILE: _collection([{"id": u.id, "level": u.level}
                                        for u in plan.units], outlines)}


def generate_city(out_dir: Path, n_sites: int, seed: object = 0) -> Written:
    """Write a city of ``n_sites`` sites into ``out_dir`` (new or empty)."""
    out_dir = Path(out_dir)
    if not 1 <= n_sites <= MAX_SITES:
        raise CityError(f"--sites {n_sites}: expected 1 to {MAX_SITES}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise CityError(f"{out_dir}: exists and is not an empty folder; "
                        "choose a new one (nothing was written)")
    plan = plan_city(n_sites, seed)
    lonlat = _LonLat()
    out_dir.mkdir(parents=True, exist_ok=True)
    grids = entrances = 0
    for community in plan.communities:
        docs = build_site(plan, community, seed)
        folder = out_dir / community.id
        folder.mkdir()
        for name, text in site_files(docs, lonlat).items():
            (folder / name).write_text(text, encoding="utf-8")
        grids += len(docs.grids)
        entrances += len(docs.entrances)
    for name, text in units_files(plan, lonlat, seed).items():
        (out_dir / name).write_text(text, encoding="utf-8")
    return Written(len(plan.communities), grids, entrances, len(plan.units))
