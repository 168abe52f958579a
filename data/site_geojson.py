"""Reading a site's GeoJSON files (grids, entrances, parking lots).

A site file is a few kilobytes, and a city has thousands of them: geopandas
(pyogrio, a data frame, a CRS per file) cost 6 ms a file, most of a minute
for a city of 1,000 sites. The plain way here — ``json`` and
:func:`shapely.geometry.shape` — reads the same file in well under a
millisecond.

It takes only files it reads exactly as geopandas would: a FeatureCollection
without a ``crs`` member, every feature with an ``id`` property, each property
of one JSON type across the file (text that GDAL would not take for a date,
whole numbers, decimals, or lists of decimals) and polygons with closed rings.
Anything else — a file from another tool with a CRS, mixed types, something
broken — goes the geopandas way as before, so what it loads and the message a
broken file gets stay what they were.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geopandas.array import GeometryArray, from_shapely
from pyproj import CRS
from shapely.geometry.base import BaseGeometry

from data.site import SiteError

WGS84 = CRS.from_epsg(4326)
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
# what GDAL's GeoJSON driver turns into a date or time field
_DATE_LIKE = re.compile(r"\d{4}[-/]\d{1,2}[-/]\d{1,2}|\d{1,2}:\d{2}")
_COLLECTION_KEYS = {"type", "features", "name", "bbox"}
_FEATURE_KEYS = {"type", "properties", "geometry"}


class _Unusual(Exception):
    """The file is one the plain reader does not take: geopandas reads it."""


@dataclass
class GeoFile:
    """The features of one file: their property rows (``id`` as text), their
    geometries as written (for the checks), and how to give them in lon/lat."""

    path: Path
    rows: list[dict[str, Any]]
    geometries: list[BaseGeometry | None]
    has_ids: bool
    kinds: dict[str, str] | None = None  # plain way: JSON type of each property
    frame: gpd.GeoDataFrame | None = None  # geopandas way

    def in_lonlat(self) -> GeoFile:
        """The rows with a ``geometry`` in lon/lat degrees (EPSG:4326)."""
        if self.frame is None:
            for row, geom in zip(self.rows, self.geometries, strict=True):
                row["geometry"] = geom
            return self
        frame = self.frame.set_crs(4326) if self.frame.crs is None else self.frame
        frame = frame.to_crs(4326)
        rows = frame.to_dict("records")  # plain dicts: iterrows costs a Series a row
        return GeoFile(self.path, rows, list(frame.geometry), True, frame=frame)

    def lonlat_array(self) -> GeometryArray:
        """The geometries (after :meth:`in_lonlat`) as geopandas holds them."""
        if self.frame is not None:
            return self.frame.geometry.values
        return from_shapely(self.geometries, crs=WGS84)

    def grids_frame(self) -> gpd.GeoDataFrame:
        """The features as the data frame ``Site.grids_frame`` is, by ``id``."""
        if self.frame is not None:
            return self.frame.set_index("id")
        data = {key: _column(kind, [r.get(key) for r in self.rows])
                for key, kind in (self.kinds or {}).items() if key != "id"}
        index = pd.Index([r["id"] for r in self.rows], name="id")
        return gpd.GeoDataFrame(data, index=index, geometry=self.lonlat_array())


def read_geojson(path: Path) -> GeoFile:
    """The features of ``path``; :class:`SiteError` if it cannot be read."""
    if not path.is_file():
        raise SiteError(f"{path}: file not found")
    try:
        return _read_plain(path)
    except _Unusual:
        return _read_geopandas(path)


def _read_geopandas(path: Path) -> GeoFile:
    try:
        frame = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for a broken file
        raise SiteError(f"{path}: cannot be read as GeoJSON ({exc})") from None
    has_ids = "id" in frame.columns
    if has_ids:
        frame["id"] = frame["id"].astype(str)
    rows = [{"id": fid} for fid in frame["id"]] if has_ids else [{}] * len(frame)
    return GeoFile(path, rows, list(frame.geometry), has_ids, frame=frame)


def _read_plain(path: Path) -> GeoFile:
    try:
        text = path.read_bytes().decode("utf-8")
        doc = json.loads(text)
    except ValueError:  # also UnicodeDecodeError: let geopandas say it
        raise _Unusual from None
    if (not isinstance(doc, dict) or doc.get("type") != "FeatureCollection"
            or not isinstance(doc.get("features"), list)
            or not doc.keys() <= _COLLECTION_KEYS):
        raise _Unusual
    kinds: dict[str, str] = {}
    order: list[str] = []  # the columns as GDAL orders them (below)
    rows = []
    for feature in doc["features"]:
        if (not isinstance(feature, dict) or not feature.keys() <= _FEATURE_KEYS
                or not isinstance(feature.get("geometry"), dict)):
            raise _Unusual  # (a feature without a geometry: geopandas says so)
        props = feature.get("properties")
        if not isinstance(props, dict) or props.get("id") is None:
            raise _Unusual
        _place(order, props)
        for key, value in props.items():
            if value is not None:
                kind = _kind(value)
                if kinds.setdefault(key, kind) != kind:
                    raise _Unusual
        rows.append({**props, "id": str(props["id"])})
    seen = {key.lower() for key in kinds}  # GDAL's field names ignore case
    if (len(seen) != len(kinds) or "geometry" in seen or kinds.get("id") == "list"
            or len(order) != len(kinds)):  # (a property null in every feature)
        raise _Unusual
    return GeoFile(path, rows, _geometries(text, len(rows)), True,
                   kinds={key: kinds[key] for key in order})


def _geometries(text: str, count: int) -> list[BaseGeometry]:
    """The geometries of the features, read by GEOS from the text in one call
    (half the time of building them one by one from the parsed JSON)."""
    if not count:
        return []
    try:
        collection = shapely.from_geojson(text)
    except shapely.errors.GEOSException:  # an open ring, an unknown type, …
        raise _Unusual from None
    parts = list(collection.geoms)
    if len(parts) != count:
        raise _Unusual
    return parts


def _place(order: list[str], props: dict[str, Any]) -> None:
    """Add the new keys of ``props`` to ``order``, each after the key it
    follows in ``props``: GDAL keeps the order the features agree on (an
    optional property written after ``capacity`` stays after it)."""
    after = -1
    for key in props:
        if key in order:
            after = order.index(key)
        else:
            after += 1
            order.insert(after, key)


def _kind(value: Any) -> str:
    """The JSON type of a property value, as GDAL would type its column."""
    if isinstance(value, str):
        if _DATE_LIKE.match(value):
            raise _Unusual
        return "str"
    if isinstance(value, bool):
        raise _Unusual
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise _Unusual
        return "int"
    if isinstance(value, float):
        return "float"
    if (isinstance(value, list) and value
            and all(isinstance(v, int | float) and not isinstance(v, bool)
                    for v in value)
            and any(isinstance(v, float) for v in value)):
        return "list"
    raise _Unusual


def _column(kind: str, values: list[Any]) -> Any:
    """One property as pyogrio gives it: whole numbers in 32 bits when they fit,
    NaN for a missing number, lists of decimals as arrays."""
    missing = [v is None for v in values]
    if kind == "list":
        out = np.empty(len(values), dtype=object)
        out[:] = [None if v is None else np.asarray(v, dtype=np.float64)
                  for v in values]
        return out
    if kind == "float" or (kind == "int" and any(missing)):
        return np.array([np.nan if v is None else v for v in values],
                        dtype=np.float64)
    if kind == "int":
        fits = _INT32[0] <= min(values) and max(values) <= _INT32[1]
        return np.array(values, dtype=np.int32 if fits else np.int64)
    return values


def areas_m2(geometries: GeometryArray, utm: CRS) -> np.ndarray:
    """Areas in square metres, projected to ``utm`` as ``GeoSeries.to_crs``
    does (the same transform, so the same figures to the last bit)."""
    return shapely.area(np.asarray(geometries.to_crs(utm)))
