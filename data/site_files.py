"""Reading a site folder: ``site.yaml`` (names, ownership chain, incident
categories, users), ``grids.geojson`` (grid polygons), ``entrances.geojson``
(pedestrian and vehicle gates) and ``parking.geojson`` (parking lots).
:func:`load_site` reads and checks them into a :class:`data.site.Site`;
anything wrong raises :class:`data.site.SiteError` naming the file and the
problem, so a center that swaps in its own GeoJSON learns at start-up, not on
the wall.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import yaml
from geopandas.array import GeometryArray
from pyproj import CRS

from data import site_cache
from data.site import (
    ENTRANCE_KINDS,
    Category,
    Entrance,
    Grid,
    ParkingLot,
    Site,
    SiteError,
    Unit,
    User,
)
from data.site_geojson import GeoFile, areas_m2, read_geojson
from data.terms import CHAIN, ROLES, URGENCIES

DEFAULT_THRESHOLDS = (0.6, 0.8, 0.95)
# libyaml's parser when the wheel has it: a city's site.yaml files are read
# in a second instead of half a minute (same documents, same safe types)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _need(mapping: dict, key: str, where: str) -> Any:
    if key not in mapping or mapping[key] in (None, ""):
        raise SiteError(f"{where}: missing '{key}'")
    return mapping[key]


def _read_yaml(path: Path, cache_dir: Path | None = None) -> dict:
    if not path.is_file():
        raise SiteError(f"{path}: file not found")
    name, cached = path.parent.name, None
    try:
        text = path.read_text(encoding="utf-8")
        key = site_cache.text_key(text, _YAML_LOADER)
        if cache_dir is not None:
            cached = site_cache.read(cache_dir, name, key)
        doc = cached if cached is not None else yaml.load(text, Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SiteError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(doc, dict):
        raise SiteError(f"{path}: expected a mapping at the top level")
    if cache_dir is not None and cached is None:
        site_cache.write(cache_dir, name, key, doc)
    return doc


def _read_geojson(path: Path, geom_types: Iterable[str]) -> GeoFile:
    """The checked features of ``path``, in lon/lat."""
    geo = read_geojson(path)
    if not geo.rows:
        raise SiteError(f"{path}: no features")
    if not geo.has_ids:
        raise SiteError(f"{path}: features need an 'id' property")
    seen: set[str] = set()
    for row in geo.rows:
        if row["id"] in seen:
            raise SiteError(f"{path}: duplicate id {row['id']}")
        seen.add(row["id"])
    allowed = set(geom_types)
    for row, geom in zip(geo.rows, geo.geometries, strict=True):
        fid = row["id"]
        if geom is None or geom.is_empty:
            raise SiteError(f"{path}: feature {fid} has no geometry")
        if geom.geom_type not in allowed:
            raise SiteError(
                f"{path}: feature {fid} is a {geom.geom_type}, expected "
                f"{' or '.join(sorted(allowed))}"
            )
        if not geom.is_valid:
            raise SiteError(f"{path}: feature {fid} has an invalid geometry")
        minx, miny, maxx, maxy = geom.bounds
        if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
            raise SiteError(f"{path}: feature {fid} is not in lon/lat degrees")
    return geo.in_lonlat()


@cache
def _utm_zone(epsg: int) -> CRS:
    return CRS.from_epsg(epsg)


def _utm_crs(geometries: GeometryArray) -> CRS:
    """The UTM zone at the centre of ``geometries`` (lon/lat), to measure areas
    in.

    What ``estimate_utm_crs`` answers, without its query of the PROJ database
    (0.13 s a site: minutes for a city of a thousand sites).
    """
    minx, miny, maxx, maxy = geometries.total_bounds
    zone = min(60, int(((minx + maxx) / 2 + 180) // 6) + 1)
    return _utm_zone((32600 if (miny + maxy) / 2 >= 0 else 32700) + zone)


def _prop(row: Any, key: str, path: Path, default: Any = ...) -> Any:
    value = row.get(key) if hasattr(row, "get") else None
    missing = value is None or (isinstance(value, float) and math.isnan(value))
    if missing or (isinstance(value, str) and value == ""):
        if default is ...:
            raise SiteError(f"{path}: feature {row['id']} is missing '{key}'")
        return default
    return value


def _positive_int(value: Any, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SiteError(f"{what}: expected a whole number, got {value!r}") from None
    if number <= 0 or number != float(value):
        raise SiteError(f"{what}: expected a whole number > 0, got {value!r}")
    return number


def _thresholds(raw: Any, what: str) -> tuple[float, float, float]:
    if isinstance(raw, str):
        raw = [p for p in raw.replace(",", " ").split()]
    try:
        values = tuple(float(v) for v in raw)
    except (TypeError, ValueError):
        raise SiteError(f"{what}: thresholds must be three numbers") from None
    if len(values) != 3 or not 0 < values[0] < values[1] < values[2]:
        raise SiteError(
            f"{what}: thresholds must be three rising shares of capacity, "
            f"e.g. [0.6, 0.8, 0.95]; got {list(values) if values else raw!r}"
        )
    return values  # type: ignore[return-value]


def _load_units(doc: dict, path: Path) -> dict[str, Unit]:
    units: dict[str, Unit] = {}
    for i, raw in enumerate(doc.get("units") or []):
        where = f"{path}: units[{i}]"
        level = _need(raw, "level", where)
        if level not in CHAIN[1:]:
            raise SiteError(f"{where}: level {level!r} is not one of {CHAIN[1:]}")
        unit = Unit(
            id=str(_need(raw, "id", where)), level=level,
            name=str(_need(raw, "name", where)),
            name_en=str(raw.get("name_en") or raw["name"]),
            parent=raw.get("parent"),
        )
        if unit.id in units:
            raise SiteError(f"{where}: duplicate id {unit.id}")
        units[unit.id] = unit
    for unit in units.values():
        if unit.parent is not None and unit.parent not in units:
            raise SiteError(f"{path}: unit {unit.id} has unknown parent {unit.parent}")
    if not units:
        raise SiteError(f"{path}: 'units' must list the community, street, district")
    return units


def _load_categories(doc: dict, path: Path) -> dict[str, Category]:
    categories: dict[str, Category] = {}
    for i, raw in enumerate(doc.get("categories") or []):
        where = f"{path}: categories[{i}]"
        deadlines = _need(raw, "deadlines", where)
        try:
            hours = {int(k): float(v) for k, v in dict(deadlines).items()}
        except (TypeError, ValueError):
            raise SiteError(f"{where}: deadlines must map level to hours") from None
        if sorted(hours) != list(URGENCIES) or any(h <= 0 for h in hours.values()):
            raise SiteError(f"{where}: deadlines need hours > 0 for levels 1, 2 and 3")
        cat = Category(
            id=str(_need(raw, "id", where)), name=str(_need(raw, "name", where)),
            name_en=str(raw.get("name_en") or raw["name"]), deadlines_h=hours,
        )
        if cat.id in categories:
            raise SiteError(f"{where}: duplicate id {cat.id}")
        categories[cat.id] = cat
    if not categories:
        raise SiteError(f"{path}: 'categories' is empty")
    # a silent device's maintenance incident (data/feed/producers.py) needs
    # a category: every site has one, unless its file names its own
    categories.setdefault(DEVICE_FAULT.id, DEVICE_FAULT)
    return categories


DEVICE_FAULT = Category(id="device_fault", name="设备故障", name_en="Device fault",
                        deadlines_h={1: 2.0, 2: 8.0, 3: 24.0})


def _load_users(doc: dict, path: Path, grids: Iterable[str]) -> dict[str, User]:
    grid_ids = set(grids)
    users: dict[str, User] = {}
    for i, raw in enumerate(doc.get("users") or []):
        where = f"{path}: users[{i}]"
        role = _need(raw, "role", where)
        if role not in ROLES:
            raise SiteError(f"{where}: role {role!r} is not one of {ROLES}")
        scope = tuple(str(g) for g in raw.get("grids") or ())
        unknown = [g for g in scope if g not in grid_ids]
        if unknown:
            raise SiteError(f"{where}: grid {unknown[0]} is not in this site")
        max_level = raw.get("max_level", "grid")
        if max_level not in CHAIN:
            raise SiteError(f"{where}: max_level {max_level!r} is not one of {CHAIN}")
        user = User(
            id=str(_need(raw, "id", where)), name=str(_need(raw, "name", where)),
            role=role, grids=scope, duty=str(raw.get("duty") or role),
            phone=str(raw.get("phone") or ""), max_level=max_level,
        )
        if user.id in users:
            raise SiteError(f"{where}: duplicate id {user.id}")
        users[user.id] = user
    return users


def _load_grids(
    path: Path, units: dict[str, Unit], default_thresholds: tuple
) -> tuple[dict[str, Grid], Callable[[], gpd.GeoDataFrame]]:
    geo = _read_geojson(path, ("Polygon", "MultiPolygon"))
    lonlat = geo.lonlat_array()
    grids: dict[str, Grid] = {}
    for row, area in zip(geo.rows, areas_m2(lonlat, _utm_crs(lonlat)), strict=True):
        gid = row["id"]
        chain = {}
        for level in CHAIN[1:]:
            unit = _prop(row, level, path)
            if unit not in units or units[unit].level != level:
                raise SiteError(f"{path}: grid {gid}: {level} {unit!r} is not a unit")
            chain[level] = unit
        raw_t = _prop(row, "thresholds", path, default=None)
        grids[gid] = Grid(
            id=gid, name=str(_prop(row, "name", path)),
            name_en=str(_prop(row, "name_en", path, default=row["name"])),
            capacity=_positive_int(_prop(row, "capacity", path),
                                   f"{path}: grid {gid} capacity"),
            thresholds=(default_thresholds if raw_t is None
                        else _thresholds(raw_t, f"{path}: grid {gid}")),
            party_branch=str(_prop(row, "party_branch", path, default="")),
            party_secretary=str(_prop(row, "party_secretary", path, default="")),
            worker=_prop(row, "worker", path, default=None),
            geometry=row["geometry"], area_m2=float(area), **chain,
        )
    return grids, geo.grids_frame


def _load_points(path: Path, grids: dict[str, Grid], what: str) -> list[dict]:
    rows = []
    for row in _read_geojson(path, ("Point",)).rows:
        grid = str(_prop(row, "grid", path))
        if grid not in grids:
            raise SiteError(
                f"{path}: {what} {row['id']}: grid {grid} is not in the site")
        rows.append({
            "id": row["id"], "name": str(_prop(row, "name", path)),
            "name_en": str(_prop(row, "name_en", path, default=row["name"])),
            "grid": grid, "lon": row["geometry"].x, "lat": row["geometry"].y,
            "row": row,
        })
    return rows


def load_site(folder: Path, cache_dir: Path | None = None) -> Site:
    """Read and check the site in ``folder``; raise :class:`SiteError` if wrong.

    ``cache_dir`` keeps parsed site.yaml files (:mod:`data.site_cache`).
    """
    folder = Path(folder)
    meta_path = folder / "site.yaml"
    doc = _read_yaml(meta_path, cache_dir)
    site_id = str(_need(doc, "id", str(meta_path)))
    if site_id != folder.name:
        raise SiteError(
            f"{meta_path}: id {site_id!r} differs from folder {folder.name!r}")
    units = _load_units(doc, meta_path)
    default_t = _thresholds(doc.get("thresholds", DEFAULT_THRESHOLDS), str(meta_path))
    grids, make_frame = _load_grids(folder / "grids.geojson", units, default_t)

    entrances = {}
    ent_path = folder / "entrances.geojson"
    for p in _load_points(ent_path, grids, "entrance"):
        kind = str(_prop(p.pop("row"), "kind", ent_path))
        if kind not in ENTRANCE_KINDS:
            raise SiteError(f"{ent_path}: entrance {p['id']}: kind {kind!r} is not "
                            f"one of {ENTRANCE_KINDS}")
        entrances[p["id"]] = Entrance(kind=kind, **p)

    parking = {}
    park_path = folder / "parking.geojson"
    if park_path.exists():
        for p in _load_points(park_path, grids, "parking lot"):
            row = p.pop("row")
            cap = _positive_int(_prop(row, "capacity", park_path),
                                f"{park_path}: lot {p['id']} capacity")
            parking[p["id"]] = ParkingLot(capacity=cap, **p)

    users = _load_users(doc, meta_path, grids)
    for grid in grids.values():
        if grid.worker is not None and grid.worker not in users:
            raise SiteError(f"{folder / 'grids.geojson'}: grid {grid.id}: worker "
                            f"{grid.worker} is not in the users of {meta_path}")
    baseline = doc.get("baseline_hour", 4)
    if not isinstance(baseline, int) or not 0 <= baseline <= 23:
        raise SiteError(f"{meta_path}: baseline_hour must be a whole hour 0-23")
    return Site(
        id=site_id, name=str(_need(doc, "name", str(meta_path))),
        name_en=str(doc.get("name_en") or doc["name"]),
        kind=str(doc.get("kind", "community")),
        timezone=str(doc.get("timezone", "Asia/Shanghai")),
        baseline_hour=baseline,
        escalate_grace_min=float(doc.get("escalate_grace_minutes", 30)),
        units=units, grids=grids, entrances=entrances, parking=parking,
        categories=_load_categories(doc, meta_path), users=users,
        path=folder, make_grids_frame=make_frame,
    )


def load_site_units(folder: Path, cache_dir: Path | None = None) -> dict[str, Unit]:
    """The chain of the site in ``folder`` as its ``site.yaml`` lists it, read
    and checked without its grids (the tree of a city in a second)."""
    meta_path = Path(folder) / "site.yaml"
    return _load_units(_read_yaml(meta_path, cache_dir), meta_path)


def load_sites(root: Path, names: Iterable[str],
               cache_dir: Path | None = None) -> dict[str, Site]:
    """Load every named site under ``root``; the first error stops it.

    A user id names one person across all sites served together: it is the
    name they sign in with and the actor of their ops.
    """
    sites = {name: load_site(root / name, cache_dir) for name in names}
    owner: dict[str, str] = {}
    for site in sites.values():
        for user_id in site.users:
            if user_id in owner:
                raise SiteError(f"{site.path / 'site.yaml'}: user {user_id} is also "
                                f"in site {owner[user_id]}; user ids must be "
                                "unique across the sites served together")
            owner[user_id] = site.id
    return sites
