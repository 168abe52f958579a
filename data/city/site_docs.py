"""One generated community as the documents of a site folder: ``site.yaml``'s
content and the grid, gate and car-park features (geometry still in metres).

Every grid gets its own grid worker and at least one pedestrian gate (people
reach a grid only through its gates in the simulator); grids on the block's
edge get a gate on the road they face, the others a gate of their housing
compound. Some communities have a wet market, which the simulator recognises
by its name (市场) and gives market-hours peaks.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from shapely.geometry import Point, Polygon

from data.city import layout
from data.city.names import People, PlaceNames, cn_number, roads
from data.city.plan import CityPlan, PlannedUnit

GRIDS_PER_SITE = (8, 13)  # drawn uniformly: 10.5 a site on average
BUSINESS_SHARE = 0.1
MARKET_SHARE = 0.35
PEOPLE_PER_M2 = (0.025, 0.045)  # a grid's capacity by its area
MARKET_THRESHOLDS = [0.5, 0.7, 0.9]

CATEGORIES: tuple[tuple[str, str, str, tuple[float, float, float]], ...] = (
    ("sanitation", "环境卫生", "Sanitation", (2, 8, 24)),
    ("garbage_sorting", "垃圾分类", "Waste sorting", (4, 24, 72)),
    ("street_vending", "占道经营", "Street vending", (1, 4, 24)),
    ("illegal_parking", "违章停车", "Illegal parking", (0.5, 2, 8)),
    ("facility_damage", "公共设施损坏", "Damaged public facility", (2, 24, 72)),
    ("fire_hazard", "消防安全隐患", "Fire hazard", (0.5, 4, 24)),
    ("neighbour_dispute", "邻里纠纷", "Neighbour dispute", (2, 24, 72)),
    ("noise", "噪音扰民", "Noise nuisance", (1, 8, 48)),
    ("public_security", "治安隐患", "Public security risk", (0.5, 4, 24)),
    ("illegal_building", "违规搭建", "Illegal construction", (4, 48, 168)),
    ("streetlight", "路灯故障", "Street light out", (4, 24, 72)),
    ("manhole_cover", "井盖缺失", "Missing manhole cover", (0.5, 2, 12)),
)


class Flow(dict):
    """A mapping to write on one line (a category's deadlines)."""


@dataclass
class SiteDocs:
    """What the files of one site hold; geometry in metres."""

    meta: dict[str, Any]
    grids: list[tuple[dict[str, Any], Polygon]] = field(default_factory=list)
    entrances: list[tuple[dict[str, Any], Point]] = field(default_factory=list)
    parking: list[tuple[dict[str, Any], Point]] = field(default_factory=list)


def _unit_entry(unit: PlannedUnit, parent: str | None) -> dict[str, Any]:
    return {"id": unit.id, "level": unit.level, "name": unit.name,
            "name_en": unit.name_en, "parent": parent}


def build_site(plan: CityPlan, community: PlannedUnit, seed: object) -> SiteDocs:
    """The documents of ``community``'s site, reproducible from ``seed``."""
    rng = random.Random(f"site/{seed}/{community.id}")
    street, district = plan.chain(community)
    block = layout.block_of(community.outline)
    cells = layout.subdivide(block, rng.randint(*GRIDS_PER_SITE), rng)
    kind = "business" if rng.random() < BUSINESS_SHARE else "residential"
    people = People(rng)
    sid = community.id
    docs = SiteDocs(meta={
        "id": sid, "name": community.name, "name_en": community.name_en,
        "kind": kind, "timezone": "Asia/Shanghai", "baseline_hour": 4,
        "escalate_grace_minutes": 30, "thresholds": [0.6, 0.8, 0.95],
        # the chain in the site's own terms; the city is in units.yaml
        "units": [_unit_entry(community, street.id), _unit_entry(street, district.id),
                  _unit_entry(district, None)],
        "categories": [{"id": c, "name": zh, "name_en": en,
                        "deadlines": Flow({1: d[0], 2: d[1], 3: d[2]})}
                       for c, zh, en, d in CATEGORIES],
    })
    market = rng.randrange(len(cells)) if rng.random() < MARKET_SHARE else None
    users = []
    for n, cell in enumerate(cells, 1):
        gid, worker = f"G{n:02d}", f"{sid}-w{n:02d}"
        users.append({"id": worker, "name": people.name(), "role": "worker",
                      "grids": [gid], "duty": "grid_worker",
                      "phone": people.phone()})
        props: dict[str, Any] = {
            "id": gid, "name": f"第{cn_number(n)}网格", "name_en": f"Grid {n}",
            "capacity": max(200, round(cell.area * rng.uniform(*PEOPLE_PER_M2), -1)),
            "community": sid, "street": street.id, "district": district.id,
            "party_branch": f"{community.name}第{cn_number(n)}网格党支部",
            "party_secretary": people.name(), "worker": worker}
        if n - 1 == market:
            props["thresholds"] = MARKET_THRESHOLDS
        docs.grids.append((props, cell))
    _gates_and_lots(docs, block, market, rng)
    grid_ids = [p["id"] for p, _ in docs.grids]
    half = len(grid_ids) // 2
    for uid, role, duty, scope, extra in (
            ("police", "worker", "community_police", grid_ids[:half + 1], {}),
            ("prop", "worker", "property", grid_ids[half:], {}),
            ("vol", "volunteer", "volunteer", [], {}),
            ("sup", "supervisor", "supervisor", [], {"max_level": "community"})):
        users.append({"id": f"{sid}-{uid}", "name": people.name(), "role": role,
                      "grids": scope, "duty": duty, "phone": people.phone(), **extra})
    docs.meta["users"] = users
    return docs


def _gates_and_lots(docs: SiteDocs, block: Polygon, market: int | None,
                    rng: random.Random) -> None:
    """Pedestrian gates in every grid, vehicle gates and car parks on the roads."""
    side_roads = roads(rng, 4)  # north, east, south, west of the block
    compounds = PlaceNames(rng)
    per_road, per_drive = [0, 0, 0, 0], [0, 0, 0, 0]  # gates numbered per road
    vehicle_grids: list[int] = []
    for n, (props, cell) in enumerate(docs.grids):
        edges = layout.grid_edges(cell, block) or layout.grid_edges(cell, block, 0.0)
        outer = [e for e in edges if e.outer]
        picks = outer[:] if outer else edges
        rng.shuffle(picks)
        wanted = 2 if outer and rng.random() < 0.5 else 1
        for edge in picks[:wanted]:
            if edge.outer:
                zh, en = side_roads[edge.side]
                per_road[edge.side] += 1
                k = per_road[edge.side]
                name, name_en = f"{zh}{k}号门", f"{en} Gate {k}"
            else:
                place = compounds.take()
                name, name_en = f"{place.zh}小区门", f"{place.en} Compound Gate"
            _add_gate(docs, props["id"], name, name_en, "pedestrian",
                      layout.gate_point(edge, cell, rng))
        if n == market:
            _add_gate(docs, props["id"], "菜市场门", "Wet Market Gate", "pedestrian",
                      layout.inner_point(cell, rng, margin=10.0))
        if outer and rng.random() < 0.35:
            edge = rng.choice(outer)
            zh, en = side_roads[edge.side]
            per_drive[edge.side] += 1
            k = per_drive[edge.side]
            _add_gate(docs, props["id"], f"{zh}{k}号车行门", f"{en} Vehicle Gate {k}",
                      "vehicle", layout.gate_point(edge, cell, rng))
            vehicle_grids.append(n)
    lots = vehicle_grids[:3] or [rng.randrange(len(docs.grids))]
    if market is not None and market not in lots:
        lots.append(market)
    for k, n in enumerate(lots, 1):
        props, cell = docs.grids[n]
        if n == market:
            name, name_en = "菜市场停车场", "Wet Market Car Park"
        else:
            name, name_en = f"{docs.meta['name']}{k}号停车场", f"Car Park {k}"
        docs.parking.append((
            {"id": f"P{k:02d}", "name": name, "name_en": name_en,
             "capacity": rng.choice((40, 60, 80, 100, 120, 150, 200)),
             "grid": props["id"]},
            layout.inner_point(cell, rng)))


def _add_gate(docs: SiteDocs, grid: str, name: str, name_en: str, kind: str,
              point: Point) -> None:
    eid = f"E{len(docs.entrances) + 1:02d}"
    docs.entrances.append(({"id": eid, "name": name, "name_en": name_en,
                            "kind": kind, "grid": grid}, point))
