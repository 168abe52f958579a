"""Sites: what describes one community — its grids, entrances, parking lots,
incident categories, people and the chain above it — as read from its folder
by :mod:`data.site_files`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import geopandas as gpd
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from data.terms import CHAIN

ENTRANCE_KINDS = ("pedestrian", "vehicle")


class SiteError(ValueError):
    """A site file is missing or wrong; the message names the file."""


@dataclass(frozen=True)
class Unit:
    """One level of the ownership chain above a grid (community/street/district)."""

    id: str
    level: str
    name: str
    name_en: str
    parent: str | None


@dataclass(frozen=True)
class Grid:
    id: str
    name: str
    name_en: str
    capacity: int
    thresholds: tuple[float, float, float]  # share of capacity: yellow, orange, red
    community: str
    street: str
    district: str
    party_branch: str
    party_secretary: str
    worker: str | None
    geometry: BaseGeometry
    area_m2: float

    def density_level(self, present: int) -> int:
        """0 green, 1 yellow, 2 orange, 3 red by this grid's thresholds."""
        load = present / self.capacity
        return sum(1 for t in self.thresholds if load >= t)


@dataclass(frozen=True)
class Entrance:
    id: str
    name: str
    name_en: str
    kind: str  # pedestrian | vehicle
    grid: str
    lon: float
    lat: float


@dataclass(frozen=True)
class ParkingLot:
    id: str
    name: str
    name_en: str
    capacity: int
    grid: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    name_en: str
    deadlines_h: dict[int, float]  # level -> hours to close


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str
    grids: tuple[str, ...]  # empty = the whole site
    duty: str
    phone: str
    max_level: str = "grid"  # highest chain level a supervisor may act for


@dataclass(frozen=True, eq=False)  # one object per loaded site: hash by identity
class Site:
    id: str
    name: str
    name_en: str
    kind: str
    timezone: str
    baseline_hour: int
    escalate_grace_min: float
    units: dict[str, Unit]
    grids: dict[str, Grid]
    entrances: dict[str, Entrance]
    parking: dict[str, ParkingLot]
    categories: dict[str, Category]
    users: dict[str, User]
    path: Path
    make_grids_frame: Callable[[], gpd.GeoDataFrame] = field(repr=False,
                                                            compare=False)

    @cached_property
    def grids_frame(self) -> gpd.GeoDataFrame:
        """The grid polygons by id (EPSG:4326), with every property of
        grids.geojson: made on first use (a point to place, a map), since
        building a data frame for each of a city's sites was half of its load."""
        return self.make_grids_frame()

    def grid_at(self, lon: float, lat: float) -> str | None:
        """The id of the grid containing the point, or None outside the site."""
        point = Point(lon, lat)
        hits = self.grids_frame.sindex.query(point, predicate="intersects")
        return str(self.grids_frame.index[hits[0]]) if len(hits) else None

    def deadline_hours(self, category: str, level: int) -> float:
        return self.categories[category].deadlines_h[level]

    def describe(self) -> dict[str, Any]:
        """What a producer may send: the ids of this site (JSON-ready)."""
        return {
            "site": self.id,
            "name": self.name,
            "name_en": self.name_en,
            "timezone": self.timezone,
            "grids": [
                {"id": g.id, "name": g.name, "name_en": g.name_en,
                 "capacity": g.capacity, "community": g.community,
                 "street": g.street, "district": g.district}
                for g in self.grids.values()
            ],
            "entrances": [
                {"id": e.id, "name": e.name, "name_en": e.name_en, "kind": e.kind,
                 "grid": e.grid, "lon": e.lon, "lat": e.lat}
                for e in self.entrances.values()
            ],
            "parking": [
                {"id": p.id, "name": p.name, "name_en": p.name_en,
                 "capacity": p.capacity, "grid": p.grid}
                for p in self.parking.values()
            ],
            "categories": [
                {"id": c.id, "name": c.name, "name_en": c.name_en,
                 "deadlines": {str(k): v for k, v in c.deadlines_h.items()}}
                for c in self.categories.values()
            ],
            "levels": {"1": "urgent", "2": "important", "3": "general"},
            "chain": list(CHAIN),
        }


# --- loading ---------------------------------------------------------------
