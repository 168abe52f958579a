"""The shapes of a generated city, in metres around its centre: districts,
streets, communities, and each community's grids, gates and car parks.

Every level is cut from the one above by the same move, :func:`subdivide`: a
Voronoi diagram of points relaxed towards the centroids of their cells
(Lloyd's algorithm), clipped to the parent. Cells of a convex parent are
convex and tile it exactly, so nothing overlaps and nothing leaks out of its
parent. A community's grids are cut from its block: the community's cell less
half a road on each side, so neighbouring sites never touch.

Pure: shapely and a ``random.Random``, no files. The same generator state
gives the same shapes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon, box

SNAP_M = 0.5  # vertices on a half-metre lattice: shared edges stay identical
ROAD_HALF_M = 14.0  # half the road between two communities
COMMUNITY_M2 = 380_000.0  # a community's cell, roads included (姚寨: 0.35 km²)
LLOYD_ROUNDS = 4
GATE_INSET_M = 6.0  # a gate sits this far inside its grid, never on an edge


def _points_inside(poly: Polygon, n: int, rng: random.Random) -> list[Point]:
    minx, miny, maxx, maxy = poly.bounds
    points: list[Point] = []
    while len(points) < n:
        p = Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
        if poly.contains(p):
            points.append(p)
    return points


def _north_first(cells: list[Polygon], band_m: float) -> list[Polygon]:
    """North to south in bands of ``band_m``, west to east within a band."""
    def key(cell: Polygon) -> tuple[int, float]:
        c = cell.centroid
        return (-math.floor(c.y / band_m), c.x)
    return sorted(cells, key=key)


def subdivide(poly: Polygon, n: int, rng: random.Random,
              rounds: int = LLOYD_ROUNDS) -> list[Polygon]:
    """``poly`` (convex) cut into ``n`` convex cells of similar size, listed
    north to south."""
    if n == 1:
        return [poly]
    points = _points_inside(poly, n, rng)
    for _ in range(rounds + 1):
        diagram = shapely.voronoi_polygons(MultiPoint(points), extend_to=poly,
                                           ordered=True)
        cells = shapely.intersection(np.array(diagram.geoms), poly)
        points = list(shapely.centroid(cells))
    band = math.sqrt(poly.area / n) / 2
    return _north_first([_polygon(c) for c in cells], band)


def _polygon(geom: shapely.Geometry) -> Polygon:
    geom = shapely.set_precision(geom, SNAP_M)
    if geom.geom_type != "Polygon" or geom.is_empty:
        raise ValueError(f"a cell came out as {geom.geom_type}")
    return shapely.normalize(geom)


def apportion(total: int, weights: list[float]) -> list[int]:
    """``total`` split by ``weights`` (largest remainder), at least 1 each."""
    if total < len(weights):
        raise ValueError(f"cannot give {len(weights)} parts at least 1 of {total}")
    spare = total - len(weights)
    share = [spare * w / sum(weights) for w in weights]
    counts = [1 + math.floor(s) for s in share]
    order = sorted(range(len(weights)), key=lambda i: -(share[i] % 1))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


# --- the city -----------------------------------------------------------------


def city_outline(n_sites: int) -> Polygon:
    """A rectangle 1.25 times as wide as tall with room for ``n_sites``."""
    area = n_sites * COMMUNITY_M2
    height = math.sqrt(area / 1.25)
    return box(-0.625 * height, -height / 2, 0.625 * height, height / 2)


def district_cells(outline: Polygon, anchors_km: list[tuple[float, float]]
                   ) -> list[Polygon]:
    """One cell per anchor, anchors scaled from Zhengzhou's ~28 km to ``outline``."""
    if len(anchors_km) == 1:
        return [outline]
    minx, miny, maxx, maxy = outline.bounds
    scale = (maxx - minx) / 28.0
    seeds = MultiPoint([(x * scale, y * scale) for x, y in anchors_km])
    diagram = shapely.voronoi_polygons(seeds, extend_to=outline, ordered=True)
    return [_polygon(c) for c in shapely.intersection(np.array(diagram.geoms),
                                                      outline)]


def block_of(cell: Polygon) -> Polygon:
    """The built-up block of a community: its cell less half a road all round."""
    return _polygon(cell.buffer(-ROAD_HALF_M, join_style="mitre"))


# --- inside a community --------------------------------------------------------


@dataclass(frozen=True)
class Edge:
    """A stretch of a grid's boundary where a gate may go."""

    line: LineString
    outer: bool  # on the community's outer boundary (a street), not between grids
    side: int  # 0 north, 1 east, 2 south, 3 west of the block's centre


def grid_edges(grid: Polygon, block: Polygon, min_m: float = 24.0) -> list[Edge]:
    """The edges of ``grid`` long enough for a gate, facing the street or not."""
    coords = list(grid.exterior.coords)
    centre = block.centroid
    ring = block.exterior
    edges = []
    for a, b in zip(coords, coords[1:], strict=False):
        line = LineString([a, b])
        if line.length < min_m:
            continue
        mid = line.interpolate(0.5, normalized=True)
        angle = math.degrees(math.atan2(mid.x - centre.x, mid.y - centre.y)) % 360
        edges.append(Edge(line, ring.distance(mid) < 2 * SNAP_M,
                          int(((angle + 45) % 360) // 90)))
    return edges


def gate_point(edge: Edge, grid: Polygon, rng: random.Random) -> Point:
    """A point ``GATE_INSET_M`` inside ``grid`` from somewhere along ``edge``."""
    base = edge.line.interpolate(rng.uniform(0.25, 0.75), normalized=True)
    centre = grid.centroid
    dx, dy = centre.x - base.x, centre.y - base.y
    reach = math.hypot(dx, dy)
    step = min(GATE_INSET_M, reach / 2) / reach
    point = Point(base.x + dx * step, base.y + dy * step)
    if not grid.contains(point):
        return grid.representative_point()
    return point


def inner_point(grid: Polygon, rng: random.Random, margin: float = 20.0) -> Point:
    """A random point at least ``margin`` inside ``grid`` (its most inner
    point if it is too small for that)."""
    room = grid.buffer(-margin)
    if room.is_empty:
        return grid.representative_point()
    return _points_inside(room, 1, rng)[0]
