"""Each unit's outline, dissolved from the grids of its sites.

A community is the union of its grids (geopandas ``dissolve``), a street the
union of its communities, and so on up to the city: nothing is drawn by hand,
so an outline is always what the grids say. Neighbouring generated sites are
a road apart, so a street or a city comes out as a MultiPolygon of blocks.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd

from data.site import Site
from data.units.tree import UnitTree

WGS84 = "EPSG:4326"


def unit_outlines(sites: Mapping[str, Site], tree: UnitTree) -> gpd.GeoDataFrame:
    """id → level and outline (lon/lat) of every unit of ``tree``, lowest
    level first."""
    rows = [(g.community, g.geometry) for site in sites.values()
            for g in site.grids.values()]
    level = gpd.GeoDataFrame({"unit": [u for u, _ in rows]},
                             geometry=[geom for _, geom in rows], crs=WGS84)
    frames = []
    while True:
        dissolved = level.dissolve(by="unit")
        dissolved["level"] = [tree[u].level for u in dissolved.index]
        frames.append(dissolved[["level", "geometry"]])
        parents = [tree[u].parent for u in dissolved.index]
        if any(p is None for p in parents):
            break
        level = gpd.GeoDataFrame({"unit": parents},
                                 geometry=dissolved.geometry.values, crs=WGS84)
    out = gpd.GeoDataFrame(gpd.pd.concat(frames), crs=WGS84)
    out.index.name = "id"
    return out
