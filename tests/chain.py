"""Three copies of the ``tiny`` site in two streets of one district, for the
tests of the chain (units, roll-up, API), written into a folder of sites:

    D1 测试区
      S1 测试街道: ta (community C1), tb (community C2)
      S2 第二街道: tc (community C3)

Each copy is ``tiny`` with its own id, community and people (``ta-w1``,
``tb-sup``, …) and its grids moved east, so no two sites overlap.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from tests.common import SITES

# site -> (community, its name, street, the street's name)
CHAIN_SITES = {
    "ta": ("C1", "甲社区", "S1", "测试街道"),
    "tb": ("C2", "乙社区", "S1", "测试街道"),
    "tc": ("C3", "丙社区", "S2", "第二街道"),
}
USERS = ("w1", "w2", "sup", "sup_street", "vol", "ana", "adm")


def write_chain_sites(folder: Path) -> Path:
    """The three sites under ``folder``; returns it (a ``GOV_SITES_DIR``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for n, (site, (comm, comm_name, street, street_name)) in enumerate(
            CHAIN_SITES.items()):
        def units(meta: str, comm=comm, comm_name=comm_name, street=street,
                  street_name=street_name) -> str:
            return meta.replace(
                "{id: C1, level: community, name: 测试社区, name_en: Test "
                "Community, parent: S1}",
                f"{{id: {comm}, level: community, name: {comm_name}, "
                f"name_en: Community {comm}, parent: {street}}}").replace(
                "{id: S1, level: street, name: 测试街道, name_en: Test Street, "
                "parent: D1}",
                f"{{id: {street}, level: street, name: {street_name}, "
                f"name_en: Street {street}, parent: D1}}")
        copy_tiny(folder, site, 0.01 * n, units,
                  lambda props, comm=comm, street=street: (comm, street))
    return folder


def copy_tiny(folder: Path, site: str, east: float, units: Callable[[str], str],
              place: Callable[[dict], tuple[str, str]]) -> None:
    """``tiny`` as ``folder/site``: its id and its people renamed for the
    site (``<site>-w1``, …), its ``units`` rewritten by ``units`` (site.yaml's
    text in, out), the community and street of each grid, gate and lot that
    names them ``place(properties)``, everything moved ``east`` degrees."""
    target = folder / site
    shutil.copytree(SITES / "tiny", target)
    meta = units((target / "site.yaml").read_text(encoding="utf-8"))
    meta = meta.replace("id: tiny", f"id: {site}")
    for user in USERS:
        meta = meta.replace(f"{{id: {user},", f"{{id: {site}-{user},")
        meta = meta.replace(f"[{user}]", f"[{site}-{user}]")
    (target / "site.yaml").write_text(meta, encoding="utf-8")
    for name in ("grids", "entrances", "parking"):
        path = target / f"{name}.geojson"
        doc = json.loads(path.read_text(encoding="utf-8"))
        for feature in doc["features"]:
            props = feature["properties"]
            if "community" in props:
                comm, street = place(props)
                props.update(community=comm, street=street)
            if props.get("worker"):
                props["worker"] = f"{site}-{props['worker']}"
            feature["geometry"] = _moved(feature["geometry"], east)
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _moved(geometry: dict, east: float) -> dict:
    def move(value):
        if value and isinstance(value[0], float | int):
            return [round(value[0] + east, 6), value[1]]
        return [move(v) for v in value]
    return {**geometry, "coordinates": move(geometry["coordinates"])}
