"""The tree of a generated city: city → districts → streets → communities, each
unit with its id, names and outline (metres, see :mod:`data.city.layout`).

Ids are stable and say where a unit hangs: ``zz`` (the city), ``zz-jinshui``
(a district), ``zz-jinshui-s03`` (its third street, counted north to south),
``zz-jinshui-s03-c07`` (a community of that street, which is also the id of
the community's site). How many of each follows from the number of sites:
up to 12 sites a district (at most all eight districts), about eight
communities a street, and each district's communities in proportion to its
area, so communities come out about the same size everywhere.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shapely.geometry import Polygon

from data.city import layout
from data.city.names import CITY, DISTRICTS, PlaceNames

SITES_PER_DISTRICT = 12  # below 8 x 12 sites, fewer districts
COMMUNITIES_PER_STREET = 8


@dataclass(frozen=True)
class PlannedUnit:
    id: str
    level: str  # city | district | street | community
    name: str
    name_en: str
    parent: str | None
    outline: Polygon


@dataclass(frozen=True)
class CityPlan:
    units: list[PlannedUnit]  # parents before their children

    def children(self, unit_id: str) -> list[PlannedUnit]:
        return [u for u in self.units if u.parent == unit_id]

    @property
    def communities(self) -> list[PlannedUnit]:
        return [u for u in self.units if u.level == "community"]

    def chain(self, community: PlannedUnit) -> tuple[PlannedUnit, PlannedUnit]:
        """The street and the district above ``community``."""
        by_id = {u.id: u for u in self.units}
        street = by_id[str(community.parent)]
        return street, by_id[str(street.parent)]


def _width(n: int) -> int:
    return max(2, len(str(n)))


def plan_city(n_sites: int, seed: object) -> CityPlan:
    """The units of a city of ``n_sites`` communities, reproducible from ``seed``."""
    if n_sites < 1:
        raise ValueError("a city needs at least one site")
    rng = random.Random(f"city/{seed}")
    names = PlaceNames(rng)
    outline = layout.city_outline(n_sites)
    city = PlannedUnit(CITY[0], "city", CITY[1], CITY[2], None, outline)
    units = [city]
    n_districts = min(len(DISTRICTS), math.ceil(n_sites / SITES_PER_DISTRICT))
    chosen = DISTRICTS[:n_districts]
    cells = layout.district_cells(outline, [d[3] for d in chosen])
    per_district = layout.apportion(n_sites, [c.area for c in cells])
    for (slug, zh, en, _), cell, count in zip(chosen, cells, per_district,
                                              strict=True):
        district = PlannedUnit(f"{city.id}-{slug}", "district", zh, en, city.id, cell)
        units.append(district)
        n_streets = max(1, round(count / COMMUNITIES_PER_STREET))
        streets = layout.subdivide(cell, n_streets, rng)
        per_street = layout.apportion(count, [s.area for s in streets])
        for s, (street_cell, n_comm) in enumerate(zip(streets, per_street,
                                                      strict=True), 1):
            place = names.take()
            street = PlannedUnit(
                f"{district.id}-s{s:0{_width(n_streets)}d}", "street",
                f"{place.zh}街道", f"{place.en} Subdistrict", district.id,
                street_cell)
            units.append(street)
            for c, comm_cell in enumerate(layout.subdivide(street_cell, n_comm, rng),
                                          1):
                place = names.take()
                units.append(PlannedUnit(
                    f"{street.id}-c{c:0{_width(n_comm)}d}", "community",
                    f"{place.zh}社区", f"{place.en} Community", street.id, comm_cell))
    return CityPlan(units)
