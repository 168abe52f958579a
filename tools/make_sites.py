"""Generate the two sample sites in ``data/sites/`` from a fixed seed.

``yaozhai`` (姚寨社区) is an open old residential community in Jinshui district,
about 0.35 km² in 9 grids with 24 entrances; ``erqi`` (二七商圈) is the business
district around Erqi Square, about 3.17 km² in 12 grids across three districts,
with 22 commercial complexes. The data are synthetic but plausible.

Grids come from a jittered lattice drawn in metres on a local azimuthal
equidistant projection: neighbouring grids are built from the same vertices, so
they share their edges exactly (no gaps, no overlaps). Entrances sit just inside
the grid they belong to, never on a boundary. Everything is drawn from seeded
generators, so a rerun writes byte-identical files; ``--check`` says whether the
files on disk still match this script.

    .venv/bin/python tools/make_sites.py [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from data.city.names import People as Names  # noqa: E402  (the city's too)

SEED = 20250305
XY = tuple[float, float]
CN = "一二三四五六七八九十"
FILES = ("site.yaml", "grids.geojson", "entrances.geojson", "parking.geojson")

# --- geometry --------------------------------------------------------------


@dataclass(frozen=True)
class Lattice:
    """A rows x cols tiling in metres; row 0 is north, column 0 is west.

    ``hmid``/``vmid`` are the bends in the middle of the east-west and
    north-south edges; each bend belongs to both cells along its edge.
    """

    nodes: list[list[XY]]  # (rows + 1) x (cols + 1)
    hmid: list[list[XY]]  # (rows + 1) x cols
    vmid: list[list[XY]]  # rows x (cols + 1)

    def cell(self, r: int, c: int) -> Polygon:
        n, h, v = self.nodes, self.hmid, self.vmid
        return Polygon([n[r][c], v[r][c], n[r + 1][c], h[r + 1][c],
                        n[r + 1][c + 1], v[r][c + 1], n[r][c + 1], h[r][c]])

    def edge(self, axis: str, line: int, seg: int) -> LineString:
        """Segment ``seg`` of east-west line ``line`` ("H") or north-south ("V")."""
        n = self.nodes
        if axis == "H":
            return LineString([n[line][seg], self.hmid[line][seg], n[line][seg + 1]])
        return LineString([n[seg][line], self.vmid[seg][line], n[seg + 1][line]])

    def edge_cells(self, axis: str, line: int, seg: int) -> list[tuple[int, int]]:
        """The cells on either side of an edge: north then south, west then east."""
        rows, cols = len(self.vmid), len(self.hmid[0])
        if axis == "H":
            return [(r, seg) for r in (line - 1, line) if 0 <= r < rows]
        return [(seg, c) for c in (line - 1, line) if 0 <= c < cols]


def make_lattice(rng: random.Random, rows: int, cols: int, cell_m: float,
                 jitter_m: float, rotate_deg: float, target_m2: float) -> Lattice:
    """A jittered lattice centred on (0, 0), rotated, scaled to ``target_m2``."""
    def spread(k: int) -> list[float]:
        steps = [cell_m * rng.uniform(0.85, 1.15) for _ in range(k)]
        return [sum(steps[:i]) for i in range(k + 1)]

    def wobble(scale: float = 1.0) -> float:
        return rng.uniform(-jitter_m, jitter_m) * scale

    xs, ys = spread(cols), spread(rows)
    nodes = [[(x + wobble(), -y + wobble()) for x in xs] for y in ys]
    hmid = [[((a[0] + b[0]) / 2 + wobble(0.3), (a[1] + b[1]) / 2 + wobble(0.5))
             for a, b in itertools.pairwise(row)] for row in nodes]
    vmid = [[((a[0] + b[0]) / 2 + wobble(0.5), (a[1] + b[1]) / 2 + wobble(0.3))
             for a, b in zip(top, bottom, strict=True)]
            for top, bottom in itertools.pairwise(nodes)]
    raw = Lattice(nodes, hmid, vmid)
    whole = unary_union([raw.cell(r, c) for r in range(rows) for c in range(cols)])
    cx, cy = whole.centroid.x, whole.centroid.y
    scale = math.sqrt(target_m2 / whole.area)
    cos, sin = math.cos(math.radians(rotate_deg)), math.sin(math.radians(rotate_deg))

    def place(p: XY) -> XY:
        x, y = (p[0] - cx) * scale, (p[1] - cy) * scale
        return (x * cos - y * sin, x * sin + y * cos)

    return Lattice(*([[place(p) for p in row] for row in grid]
                     for grid in (nodes, hmid, vmid)))


def gate_on_edge(edge: LineString, t: float, cell: Polygon,
                 inset: float = 6.0) -> tuple[Point, XY]:
    """A point ``inset`` metres inside ``cell`` from the edge at fraction ``t``,
    and the unit normal pointing into the cell."""
    base = edge.interpolate(t, normalized=True)
    a = edge.interpolate(max(t - 0.01, 0.0), normalized=True)
    b = edge.interpolate(min(t + 0.01, 1.0), normalized=True)
    length = math.hypot(b.x - a.x, b.y - a.y)
    for sign in (1.0, -1.0):
        nx, ny = -sign * (b.y - a.y) / length, sign * (b.x - a.x) / length
        point = Point(base.x + nx * inset, base.y + ny * inset)
        if cell.buffer(-inset / 3).contains(point):
            return point, (nx, ny)
    raise ValueError(f"no room for a gate at t={t} of {edge}")


def point_near(rng: random.Random, cell: Polygon, taken: list[Point],
               centre: Point | None = None, reach: tuple[float, float] = (0, 0),
               margin: float = 25.0, spacing: float = 45.0) -> Point:
    """A random point inside ``cell`` (at ``reach`` metres from ``centre`` when
    given), ``margin`` from the boundary and ``spacing`` from the ``taken``."""
    room = cell.buffer(-margin)
    minx, miny, maxx, maxy = room.bounds
    for _ in range(5000):
        if centre is None:
            p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        else:
            angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(*reach)
            p = Point(centre.x + dist * math.cos(angle),
                      centre.y + dist * math.sin(angle))
        if room.contains(p) and all(p.distance(q) >= spacing for q in taken):
            taken.append(p)
            return p
    raise ValueError("cannot place a point; relax margin or spacing")


class Local:
    """Metres on an azimuthal equidistant projection centred on the site."""

    def __init__(self, lon: float, lat: float) -> None:
        self._to_lonlat = Transformer.from_crs(
            f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m +no_defs",
            "EPSG:4326", always_xy=True)

    def lonlat(self, x: float, y: float) -> list[float]:
        lon, lat = self._to_lonlat.transform(x, y)
        return [round(lon, 6), round(lat, 6)]

    def polygon(self, poly: Polygon) -> dict[str, Any]:
        return {"type": "Polygon",
                "coordinates": [[self.lonlat(x, y) for x, y in poly.exterior.coords]]}

    def point(self, p: Point) -> dict[str, Any]:
        return {"type": "Point", "coordinates": self.lonlat(p.x, p.y)}


def feature(props: dict[str, Any], geometry: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "properties": props, "geometry": geometry}


# --- people ----------------------------------------------------------------


class People(Names):
    """The city generator's names and numbers, and a site.yaml user of them."""

    def user(self, uid: str, role: str, duty: str, grids: list[str],
             max_level: str | None = None) -> dict[str, Any]:
        user = {"id": uid, "name": self.name(), "role": role, "grids": grids,
                "duty": duty, "phone": self.phone()}
        if max_level:
            user["max_level"] = max_level
        return user


def unit(uid: str, level: str, name: str, name_en: str,
         parent: str | None) -> dict[str, Any]:
    return {"id": uid, "level": level, "name": name, "name_en": name_en,
            "parent": parent}


def categories(rows: list[tuple[str, str, str, float, float, float]]) -> list[dict]:
    return [{"id": cid, "name": name, "name_en": en,
             "deadlines": _Flow({1: h1, 2: h2, 3: h3})}
            for cid, name, en, h1, h2, h3 in rows]


def site_meta(sid: str, name: str, name_en: str, kind: str) -> dict[str, Any]:
    return {"id": sid, "name": name, "name_en": name_en, "kind": kind,
            "timezone": "Asia/Shanghai", "baseline_hour": 4,
            "escalate_grace_minutes": 30, "thresholds": [0.6, 0.8, 0.95]}


def rounded(value: float, step: int) -> int:
    return max(step, round(value / step) * step)


@dataclass
class SiteData:
    meta: dict[str, Any]
    grids: list[dict[str, Any]]
    entrances: list[dict[str, Any]]
    parking: list[dict[str, Any]]


# --- yaozhai: open residential community -----------------------------------

YAOZHAI_STREETS = {
    "H": [("纬五路", "Weiwu Rd"), ("姚寨北街", "Yaozhai North St"),
          ("姚寨路", "Yaozhai Rd"), ("黄河路", "Huanghe Rd")],
    "V": [("经二路", "Jing'er Rd"), ("姚寨西街", "Yaozhai West St"),
          ("姚寨东街", "Yaozhai East St"), ("经三路", "Jingsan Rd")],
}
# (axis, line, segment, fraction along, side of an inner street, vehicle, lot)
YAOZHAI_GATES: list[tuple[str, int, int, float, int, bool, tuple | None]] = [
    ("H", 0, 0, .5, 0, False, None), ("H", 0, 1, .3, 0, False, None),
    ("H", 0, 1, .7, 0, True, ("纬五路停车场", "Weiwu Rd Car Park", 80)),
    ("H", 0, 2, .5, 0, False, None), ("V", 3, 0, .5, 0, False, None),
    ("V", 3, 1, .3, 0, False, None),
    ("V", 3, 1, .7, 0, True, ("社区智慧立体停车楼", "Community Parking Tower", 160)),
    ("V", 3, 2, .5, 0, False, None), ("H", 3, 2, .5, 0, False, None),
    ("H", 3, 1, .7, 0, False, None),
    ("H", 3, 1, .3, 0, True,
     ("黄河路地下停车场", "Huanghe Rd Underground Car Park", 120)),
    ("H", 3, 0, .5, 0, False, None), ("V", 0, 2, .5, 0, False, None),
    ("V", 0, 1, .7, 0, False, None), ("V", 0, 1, .3, 0, True, None),
    ("V", 0, 0, .5, 0, False, None),
    # along the inner streets
    ("H", 1, 0, .5, 1, False, None), ("H", 1, 2, .4, 0, False, None),
    ("H", 2, 0, .6, 0, False, None),
    ("H", 2, 1, .45, 0, True, ("菜市场停车场", "Wet Market Car Park", 50)),
    ("H", 2, 2, .5, 1, False, None), ("V", 1, 0, .5, 1, False, None),
    ("V", 1, 2, .5, 0, True, None), ("V", 2, 1, .6, 1, False, None),
]
YAOZHAI_DENSITY = [0.042, 0.045, 0.05, 0.044, 0.06, 0.046, 0.04, 0.045, 0.043]
MARKET_GRID = 4  # 第五网格: the wet market (菜市场)


def build_yaozhai() -> SiteData:
    rng = random.Random(f"{SEED}:yaozhai")
    people, local = People(rng), Local(113.6690, 34.7565)
    lattice = make_lattice(rng, 3, 3, 200, 18, 3.0, 350_000)
    cells = {(r, c): lattice.cell(r, c) for r in range(3) for c in range(3)}
    gid = {rc: f"G{k + 1:02d}" for k, rc in enumerate(cells)}
    chain = {"community": "comm_yaozhai", "street": "st_dashiqiao",
             "district": "dist_jinshui"}
    grids = []
    for k, (rc, poly) in enumerate(cells.items()):
        props = {"id": gid[rc], "name": f"第{CN[k]}网格", "name_en": f"Grid {k + 1}",
                 "capacity": rounded(poly.area * YAOZHAI_DENSITY[k], 50)}
        if k == MARKET_GRID:
            props["thresholds"] = [0.5, 0.7, 0.85]
        props |= chain | {"party_branch": f"姚寨社区第{CN[k]}网格党支部",
                          "party_secretary": people.name(),
                          "worker": f"w_g{k + 1:02d}"}
        grids.append(feature(props, local.polygon(poly)))

    entrances, parking, counts = [], [], {}
    for axis, line, seg, t, side, vehicle, lot in YAOZHAI_GATES:
        rc = lattice.edge_cells(axis, line, seg)[side]
        point, (nx, ny) = gate_on_edge(lattice.edge(axis, line, seg), t, cells[rc])
        street, street_en = YAOZHAI_STREETS[axis][line]
        n = counts[street, vehicle] = counts.get((street, vehicle), 0) + 1
        name, name_en = ((f"{street}{n}号车行门", f"{street_en} Vehicle Gate {n}")
                         if vehicle else (f"{street}{n}号门", f"{street_en} Gate {n}"))
        entrances.append(feature(
            {"id": f"E{len(entrances) + 1:02d}", "name": name, "name_en": name_en,
             "kind": "vehicle" if vehicle else "pedestrian", "grid": gid[rc]},
            local.point(point)))
        if lot:
            spot = Point(point.x + nx * 35, point.y + ny * 35)
            require(cells[rc].buffer(-8).contains(spot), f"no room for {lot[0]}")
            parking.append(feature(
                {"id": f"P{len(parking) + 1:02d}", "name": lot[0], "name_en": lot[1],
                 "capacity": lot[2], "grid": gid[rc]}, local.point(spot)))
    parking.sort(key=lambda f: f["properties"]["grid"])
    for k, lot_feature in enumerate(parking):
        lot_feature["properties"]["id"] = f"P{k + 1:02d}"

    everywhere: list[str] = []
    all_ids = list(gid.values())
    users = [people.user(f"w_g{k + 1:02d}", "worker", "grid_worker", [g])
             for k, g in enumerate(all_ids)]
    users += [
        people.user("police_1", "worker", "community_police", all_ids[:5]),
        people.user("police_2", "worker", "community_police", all_ids[4:]),
        people.user("prop_1", "worker", "property", ["G01", "G02", "G04"]),
        people.user("prop_2", "worker", "property", ["G06", "G08", "G09"]),
        people.user("vol_rider1", "volunteer", "volunteer", everywhere),  # 外卖骑手
        people.user("vol_rider2", "volunteer", "volunteer", everywhere),  # 外卖骑手
        people.user("vol_courier1", "volunteer", "volunteer", everywhere),  # 快递员
        people.user("sup_comm", "supervisor", "supervisor", everywhere, "community"),
        people.user("sup_street", "supervisor", "supervisor", everywhere, "street"),
        people.user("analyst", "analyst", "analyst", everywhere),
        people.user("admin", "admin", "admin", everywhere),
    ]
    meta = site_meta("yaozhai", "姚寨社区", "Yaozhai Community", "residential") | {
        "units": [
            unit("comm_yaozhai", "community", "姚寨社区", "Yaozhai Community",
                 "st_dashiqiao"),
            unit("st_dashiqiao", "street", "大石桥街道", "Dashiqiao Subdistrict",
                 "dist_jinshui"),
            unit("dist_jinshui", "district", "金水区", "Jinshui District", None),
        ],
        "categories": categories([
            ("sanitation", "环境卫生", "Sanitation", 2, 8, 24),
            ("garbage_sorting", "垃圾分类", "Waste sorting", 4, 24, 72),
            ("street_vending", "占道经营", "Street vending", 1, 4, 24),
            ("illegal_parking", "违章停车", "Illegal parking", 0.5, 2, 8),
            ("facility_damage", "公共设施损坏", "Damaged public facility", 2, 24, 72),
            ("fire_hazard", "消防安全隐患", "Fire hazard", 0.5, 4, 24),
            ("neighbour_dispute", "邻里纠纷", "Neighbour dispute", 2, 24, 72),
            ("noise", "噪音扰民", "Noise nuisance", 1, 8, 48),
            ("public_security", "治安隐患", "Public security risk", 0.5, 4, 24),
            ("illegal_building", "违规搭建", "Illegal construction", 4, 48, 168),
            ("streetlight", "路灯故障", "Street light out", 4, 24, 72),
            ("manhole_cover", "井盖缺失", "Missing manhole cover", 0.5, 2, 12),
        ]),
        "users": users,
    }
    return SiteData(meta, grids, entrances, parking)


# --- erqi: business district across three districts ------------------------

ERQI_UNITS = [
    unit("comm_minggonglu", "community", "铭功路社区", "Minggonglu Community",
         "st_sanguanmiao"),
    unit("comm_renmingongyuan", "community", "人民公园社区", "Renmin Park Community",
         "st_dehuajie"),
    unit("comm_dehuajie", "community", "德化街社区", "Dehuajie Community",
         "st_dehuajie"),
    unit("comm_xidajie", "community", "西大街社区", "Xidajie Community",
         "st_xidajie"),
    unit("comm_shuyuanjie", "community", "书院街社区", "Shuyuanjie Community",
         "st_xidajie"),
    unit("st_sanguanmiao", "street", "三官庙街道", "Sanguanmiao Subdistrict",
         "dist_zhongyuan"),
    unit("st_dehuajie", "street", "德化街街道", "Dehuajie Subdistrict", "dist_erqi"),
    unit("st_xidajie", "street", "西大街街道", "Xidajie Subdistrict",
         "dist_guancheng"),
    unit("dist_zhongyuan", "district", "中原区", "Zhongyuan District", None),
    unit("dist_erqi", "district", "二七区", "Erqi District", None),
    unit("dist_guancheng", "district", "管城回族区", "Guancheng Hui District", None),
]
# Row by row from the north-west: name, name_en, community, people per m², thresholds
ERQI_GRIDS: list[tuple[str, str, str, float, list[float] | None]] = [
    ("铭功路北网格", "Minggong Rd North", "comm_minggonglu", 0.045, None),
    ("人民公园网格", "People's Park", "comm_renmingongyuan", 0.04, None),
    ("解放路网格", "Jiefang Rd", "comm_dehuajie", 0.05, None),
    ("西大街北网格", "Xidajie North", "comm_xidajie", 0.035, None),
    ("敦睦路网格", "Dunmu Rd", "comm_minggonglu", 0.05, None),
    ("二七广场网格", "Erqi Square", "comm_renmingongyuan", 0.09, [0.5, 0.7, 0.85]),
    ("德化街网格", "Dehua Street", "comm_dehuajie", 0.08, [0.55, 0.75, 0.9]),
    ("西大街网格", "Xidajie", "comm_xidajie", 0.04, None),
    ("火车站西网格", "Railway Station West", "comm_minggonglu", 0.06, None),
    ("大同路网格", "Datong Rd", "comm_renmingongyuan", 0.045, None),
    ("福寿街网格", "Fushou St", "comm_dehuajie", 0.05, None),
    ("书院街网格", "Shuyuan St", "comm_shuyuanjie", 0.035, None),
]
# name, name_en, grid, has a side door, car park (name, name_en, spaces)
ERQI_COMPLEXES: list[tuple[str, str, str, bool, tuple[str, str, int] | None]] = [
    ("铭功路服装城", "Minggong Rd Garment City", "G01", True, None),
    ("金成时代广场", "Jincheng Times Square", "G01", False,
     ("金成时代广场停车场", "Jincheng Times Square Car Park", 900)),
    ("人民公园商业街", "People's Park Shopping Street", "G02", False, None),
    ("郑州百货大楼", "Zhengzhou Department Store", "G02", False, None),
    ("解放路商厦", "Jiefang Rd Mall", "G03", False, None),
    ("华联商厦", "Hualian Mall", "G03", True,
     ("华联商厦停车场", "Hualian Mall Car Park", 300)),
    ("商城大厦", "Shangcheng Tower", "G04", False, None),
    ("敦睦路服装城", "Dunmu Rd Garment City", "G05", False, None),
    ("钱塘里商业街", "Qiantangli Shopping Street", "G05", False, None),
    ("大上海城", "Great Shanghai City", "G06", True,
     ("大上海城地下停车场", "Great Shanghai City Car Park", 600)),
    ("丹尼斯百货", "Dennis Department Store", "G06", True,
     ("丹尼斯百货停车场", "Dennis Department Store Car Park", 450)),
    ("亚细亚商场", "Asia Mall", "G06", False, None),
    ("金博大城", "Jinboda City", "G06", True,
     ("金博大城停车场", "Jinboda City Car Park", 380)),
    ("德化步行街", "Dehua Pedestrian Street", "G07", True, None),
    ("百年德化购物中心", "Bainian Dehua Shopping Centre", "G07", True,
     ("百年德化地下停车场", "Bainian Dehua Car Park", 800)),
    ("天然商厦", "Tianran Mall", "G07", False, None),
    ("西大街古玩城", "Xidajie Antique City", "G08", False, None),
    ("银基商贸城", "Yinji Trade City", "G09", True,
     ("银基商贸城停车场", "Yinji Trade City Car Park", 1200)),
    ("火车站地下商城", "Railway Station Underground Mall", "G09", False, None),
    ("光彩市场", "Guangcai Market", "G10", False, None),
    ("福寿街美食城", "Fushou St Food City", "G11", False, None),
    ("苑陵商厦", "Yuanling Mall", "G12", False, None),
]
ERQI_PUBLIC_LOT = ("G06",
                   ("二七广场地下停车场", "Erqi Square Underground Car Park", 520))


def build_erqi() -> SiteData:
    rng = random.Random(f"{SEED}:erqi")
    people, local = People(rng), Local(113.6640, 34.7545)
    lattice = make_lattice(rng, 3, 4, 500, 35, -4.0, 3_170_000)
    cells = {f"G{k + 1:02d}": lattice.cell(k // 4, k % 4) for k in range(12)}
    community_of = {}
    grids = []
    for (gid, poly), (name, name_en, comm, density, limits) in zip(
            cells.items(), ERQI_GRIDS, strict=True):
        street = next(u["parent"] for u in ERQI_UNITS if u["id"] == comm)
        district = next(u["parent"] for u in ERQI_UNITS if u["id"] == street)
        comm_name = next(u["name"] for u in ERQI_UNITS if u["id"] == comm)
        community_of[gid] = (comm, street, district)
        props = {"id": gid, "name": name, "name_en": f"{name_en} Grid",
                 "capacity": rounded(poly.area * density, 100)}
        if limits:
            props["thresholds"] = limits
        props |= {"community": comm, "street": street, "district": district,
                  "party_branch": f"{comm_name}{name}党支部",
                  "party_secretary": people.name(), "worker": f"eq_w_{gid.lower()}"}
        grids.append(feature(props, local.polygon(poly)))

    taken: list[Point] = []
    doors, gates, lots = [], [], []

    def door(name: str, name_en: str, kind: str, gid: str, p: Point) -> None:
        doors.append(({"name": name, "name_en": name_en, "kind": kind, "grid": gid},
                      p))

    def car_park(gid: str, lot: tuple[str, str, int], near: Point) -> None:
        gate = point_near(rng, cells[gid], taken, near, (50, 110), 15, 30)
        spot = point_near(rng, cells[gid], taken, gate, (25, 45), 15, 20)
        gates.append(({"name": f"{lot[0]}入口", "name_en": f"{lot[1]} Gate",
                       "kind": "vehicle", "grid": gid}, gate))
        lots.append(({"name": lot[0], "name_en": lot[1], "capacity": lot[2],
                      "grid": gid}, spot))

    for name, name_en, gid, side_door, lot in ERQI_COMPLEXES:
        main = point_near(rng, cells[gid], taken)
        door(f"{name}正门", f"{name_en} Main Entrance", "pedestrian", gid, main)
        if side_door:
            side = point_near(rng, cells[gid], taken, main, (50, 90), 15, 30)
            door(f"{name}侧门", f"{name_en} Side Entrance", "pedestrian", gid, side)
        if lot:
            car_park(gid, lot, main)
    square = cells["G06"].centroid
    for letter in "ABCD":
        exit_ = point_near(rng, cells["G06"], taken, square, (40, 120), 15, 30)
        door(f"二七广场站{letter}口", f"Erqi Square Station Exit {letter}",
             "pedestrian", "G06", exit_)
    car_park(*ERQI_PUBLIC_LOT, square)

    entrances = [feature({"id": f"E{k + 1:02d}", **props}, local.point(p))
                 for k, (props, p) in enumerate(doors + gates)]
    lots.sort(key=lambda lot: lot[0]["grid"])
    parking = [feature({"id": f"P{k + 1:02d}", **props}, local.point(p))
               for k, (props, p) in enumerate(lots)]

    def scope(level: int, unit_id: str) -> list[str]:
        return [g for g, chain in community_of.items() if chain[level] == unit_id]

    everywhere: list[str] = []
    users = [people.user(f"w_{g.lower()}", "worker", "grid_worker", [g])
             for g in cells]
    for u in ERQI_UNITS:
        short = u["id"].split("_", 1)[1]
        if u["level"] == "community":
            users.append(people.user(f"police_{short}", "worker", "community_police",
                                     scope(0, u["id"])))
    users += [
        people.user("prop_dashanghai", "worker", "property", ["G06"]),
        people.user("prop_dehua", "worker", "property", ["G07"]),
        people.user("prop_yinji", "worker", "property", ["G09"]),
        people.user("vol_rider1", "volunteer", "volunteer", everywhere),  # 外卖骑手
        people.user("vol_rider2", "volunteer", "volunteer", everywhere),  # 外卖骑手
        people.user("vol_courier1", "volunteer", "volunteer", everywhere),  # 快递员
        # 平安志愿者 (neighbourhood watch) on the two busiest grids
        people.user("vol_patrol1", "volunteer", "volunteer", ["G06", "G07"]),
    ]
    levels = {"community": 0, "street": 1, "district": 2}
    for u in ERQI_UNITS:
        short = u["id"].split("_", 1)[1]
        if u["level"] in ("community", "street") or u["id"] == "dist_erqi":
            prefix = {"community": "sup", "street": "sup_st", "district": "sup_dist"}
            users.append(people.user(f"{prefix[u['level']]}_{short}", "supervisor",
                                     "supervisor", scope(levels[u["level"]], u["id"]),
                                     u["level"]))
    users += [people.user("analyst", "analyst", "analyst", everywhere),
              people.user("admin", "admin", "admin", everywhere)]
    for user in users:  # user ids are sign-in names: unique across sites
        user["id"] = "eq_" + user["id"]
    meta = site_meta("erqi", "二七商圈", "Erqi Business District", "business") | {
        "units": ERQI_UNITS,
        "categories": categories([
            ("crowd_gathering", "人员聚集", "Crowd build-up", 0.25, 1, 4),
            ("fire_hazard", "消防安全隐患", "Fire hazard", 0.5, 4, 24),
            ("street_vending", "占道经营", "Street vending", 1, 4, 24),
            ("illegal_parking", "违章停车", "Illegal parking", 0.5, 2, 8),
            ("shared_bikes", "共享单车乱停放", "Shared bikes parked badly", 1, 4, 12),
            ("signboard", "户外广告招牌隐患", "Unsafe outdoor signboard", 1, 24, 72),
            ("sanitation", "环境卫生", "Sanitation", 2, 8, 24),
            ("facility_damage", "公共设施损坏", "Damaged public facility", 2, 24, 72),
            ("noise", "噪音扰民", "Noise nuisance", 1, 8, 48),
            ("cooking_fumes", "餐饮油烟", "Restaurant cooking fumes", 2, 24, 72),
            ("public_security", "治安隐患", "Public security risk", 0.5, 4, 24),
            ("manhole_cover", "井盖缺失", "Missing manhole cover", 0.5, 2, 12),
        ]),
        "users": users,
    }
    return SiteData(meta, grids, entrances, parking)


# --- checking and writing --------------------------------------------------


def require(condition: bool, problem: str) -> None:
    if not condition:
        raise ValueError(problem)


def check_geometry(data: SiteData) -> None:
    """Fail loudly if the rounded lon/lat data break a promise of the format."""
    polys = {f["properties"]["id"]: Polygon(f["geometry"]["coordinates"][0])
             for f in data.grids}
    for gid, poly in polys.items():
        require(poly.is_valid and poly.exterior.is_ccw, f"grid {gid} is malformed")
    whole = unary_union(list(polys.values()))
    require(whole.geom_type == "Polygon" and not whole.interiors, "gap in the grids")
    overlap = sum(p.area for p in polys.values()) - whole.area
    require(abs(overlap) < 1e-9 * whole.area, "grids overlap")
    for f in data.entrances + data.parking:
        p = Point(f["geometry"]["coordinates"])
        inside = [gid for gid, poly in polys.items() if poly.intersects(p)]
        require(inside == [f["properties"]["grid"]],
                f"{f['properties']['id']} lies in {inside}")


class _Flow(dict):
    """A mapping written on one line in YAML."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # no &anchors for lists that happen to be shared

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent lists under their key


_Dumper.add_representer(_Flow, lambda d, m: d.represent_mapping(
    "tag:yaml.org,2002:map", m.items(), flow_style=True))
_Dumper.add_representer(list, lambda d, s: d.represent_sequence(
    "tag:yaml.org,2002:seq", s,
    flow_style=all(not isinstance(v, dict | list) for v in s)))


def render(data: SiteData) -> dict[str, str]:
    """The text of each file of the site."""
    body = yaml.dump(data.meta, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     width=100)
    body = body.replace("\nunits:", "\n\nunits:").replace(
        "\ncategories:", "\n\ncategories:").replace("\nusers:", "\n\nusers:")
    head = (f"# {data.meta['name']} ({data.meta['name_en']}): sample site, "
            "synthetic but plausible data.\n"
            "# Generated by tools/make_sites.py; change the script, not this file.\n")

    def collection(features: list[dict[str, Any]]) -> str:
        lines = ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
        return f'{{"type": "FeatureCollection", "features": [\n{lines}\n]}}\n'

    return {"site.yaml": head + body, "grids.geojson": collection(data.grids),
            "entrances.geojson": collection(data.entrances),
            "parking.geojson": collection(data.parking)}


BUILDERS = {"yaozhai": build_yaozhai, "erqi": build_erqi}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "sites",
                        help="folder to write the site folders in")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for sid, build in BUILDERS.items():
        data = build()
        check_geometry(data)
        folder = args.out / sid
        for fname, text in render(data).items():
            path = folder / fname
            if args.check:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(path)
            else:
                folder.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    if args.check:
        for path in stale:
            print(f"{path}: differs from what tools/make_sites.py writes")
        return 1 if stale else 0
    sys.path.insert(0, str(ROOT))
    from data.site_files import load_site

    for sid in BUILDERS:
        site = load_site(args.out / sid)
        area = sum(g.area_m2 for g in site.grids.values()) / 1e6
        print(f"{sid}: {len(site.grids)} grids, {len(site.entrances)} entrances, "
              f"{len(site.parking)} parking lots, {len(site.users)} users, "
              f"{area:.3f} km²")
    return 0


if __name__ == "__main__":
    sys.exit(main())
