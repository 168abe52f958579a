"""The tree of units, city → district → street → community, from the site
files.

Each site's ``site.yaml`` lists its chain (community, street, district); the
``units.yaml`` next to the site folders, when there is one (a generated city
writes it), names the city above the districts. Without it the districts hang
under a city called :data:`DEFAULT_ROOT`. Only the units of the sites served
are in the tree: a deployment serving part of a city sees that part.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from data.site import SiteError, Unit
from data.terms import UNIT_LEVELS

UNITS_FILE = "units.yaml"
DEFAULT_ROOT = Unit("city", "city", "全市", "City", None)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnitError(SiteError):
    """The site files disagree about a unit; the message names them (a site
    error: start-up stops on it with one line)."""


@dataclass(frozen=True)
class Node:
    """One unit of the tree; ``site`` is the site a community belongs to."""

    id: str
    level: str
    name: str
    name_en: str
    parent: str | None
    site: str | None = None
    children: tuple[str, ...] = ()

    def label(self, lang: str = "zh") -> str:
        return self.name_en if lang == "en" else self.name


@dataclass(frozen=True)
class UnitTree:
    """Every unit by id, the root's id, and the communities of each site."""

    units: dict[str, Node]
    root: str
    site_communities: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __getitem__(self, unit_id: str) -> Node:
        return self.units[unit_id]

    def __contains__(self, unit_id: object) -> bool:
        return unit_id in self.units

    def chain(self, unit_id: str) -> list[str]:
        """``unit_id`` and its ancestors, up to the root."""
        out = []
        at: str | None = unit_id
        while at is not None:
            out.append(at)
            at = self.units[at].parent
        return out

    def walk(self, unit_id: str | None = None,
             depth: int = 0) -> Iterator[tuple[int, Node]]:
        """(depth, unit) from ``unit_id`` (the root) down, parents first."""
        node = self.units[unit_id or self.root]
        yield depth, node
        for child in node.children:
            yield from self.walk(child, depth + 1)

    def under(self, unit_id: str) -> set[str]:
        """``unit_id`` and every unit below it."""
        return {node.id for _, node in self.walk(unit_id)}

    def sites_under(self) -> dict[str, frozenset[str]]:
        """unit -> the sites all of whose communities are under it."""
        found: dict[str, set[str]] = {u: set() for u in self.units}
        for site, communities in self.site_communities.items():
            common = set(self.chain(communities[0]))
            for comm in communities[1:]:
                common &= set(self.chain(comm))
            for unit in common:
                found[unit].add(site)
        return {u: frozenset(s) for u, s in found.items()}

    def lines(self, lang: str = "zh") -> list[str]:
        """``<id> <level> <name>`` a unit, children indented under parents."""
        return [f"{'  ' * d}{u.id} {u.level} {u.label(lang)}" for d, u in self.walk()]


def _entry_unit(raw: dict, where: str) -> Unit:
    try:
        return Unit(str(raw["id"]), str(raw["level"]), str(raw["name"]),
                    str(raw.get("name_en") or raw["name"]),
                    None if raw.get("parent") is None else str(raw["parent"]))
    except (KeyError, TypeError):
        raise UnitError(f"{where}: a unit needs id, level and name") from None


def read_city_file(folder: Path) -> list[Unit]:
    """The units of ``folder/units.yaml``; [] when there is none."""
    path = Path(folder) / UNITS_FILE
    if not path.is_file():
        return []
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UnitError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("units"), list):
        raise UnitError(f"{path}: expected 'units:' and a list")
    return [_entry_unit(raw, f"{path}: units[{i}]") for i, raw in
            enumerate(doc["units"])]


def build_tree(site_units: Mapping[str, Iterable[Unit]],
               city_units: Iterable[Unit] = ()) -> UnitTree:
    """The tree of the units of ``site_units`` (site id → its units, as its
    ``site.yaml`` lists them) under the city of ``city_units``."""
    city = {u.id: u for u in city_units}
    roots = [u for u in city.values() if u.parent is None]
    if len(roots) > 1:
        raise UnitError(f"{UNITS_FILE}: more than one unit without a parent: "
                        f"{', '.join(u.id for u in roots)}")
    root = roots[0] if roots else DEFAULT_ROOT
    found: dict[str, tuple[Unit, str]] = {}  # id -> (unit, the site that says so)
    site_of: dict[str, str] = {}
    by_site: dict[str, list[str]] = {}
    for site_id, units in site_units.items():
        for unit in units:
            if unit.level == "district" and unit.parent is None:
                above = city.get(unit.id)
                unit = Unit(unit.id, unit.level, unit.name, unit.name_en,
                            above.parent if above and above.parent else root.id)
            if unit.level not in UNIT_LEVELS[:-1]:
                raise UnitError(f"site {site_id}: unit {unit.id} has level "
                                f"{unit.level!r}")
            if unit.id == root.id:
                raise UnitError(f"site {site_id}: unit {unit.id} is the city's id")
            known = found.get(unit.id)
            if known is not None and known[0] != unit:
                raise UnitError(f"unit {unit.id}: site {known[1]} and site "
                                f"{site_id} describe it differently")
            found[unit.id] = (unit, site_id)
            if unit.level == "community":
                if site_of.setdefault(unit.id, site_id) != site_id:
                    raise UnitError(f"community {unit.id} is in site "
                                    f"{site_of[unit.id]} and in site {site_id}")
                by_site.setdefault(site_id, []).append(unit.id)
    for unit_id, (unit, site_id) in found.items():
        above = city.get(unit_id)
        if above is not None and (above.level, above.parent) != (unit.level,
                                                                 unit.parent):
            raise UnitError(f"unit {unit_id}: {UNITS_FILE} and site {site_id} "
                            "place it differently")
        parent = found[unit.parent][0] if unit.parent in found else (
            root if unit.parent == root.id else None)
        want = UNIT_LEVELS[UNIT_LEVELS.index(unit.level) + 1]
        if parent is None or parent.level != want:
            raise UnitError(f"site {site_id}: unit {unit_id} ({unit.level}) needs "
                            f"a {want} as its parent, not {unit.parent!r}")
    children: dict[str, list[str]] = {root.id: []}
    for unit_id, (unit, _) in found.items():
        children.setdefault(unit.parent, []).append(unit_id)
    nodes = {root.id: Node(root.id, "city", root.name, root.name_en, None,
                           children=tuple(sorted(children[root.id])))}
    for unit_id, (unit, _) in found.items():
        nodes[unit_id] = Node(unit.id, unit.level, unit.name, unit.name_en,
                              unit.parent, site_of.get(unit_id),
                              tuple(sorted(children.get(unit_id, ()))))
    return UnitTree(nodes, root.id, {s: tuple(sorted(c)) for s, c in by_site.items()})


def tree_of_sites(sites: Mapping[str, object]) -> UnitTree:
    """The tree of loaded sites (:class:`data.site.Site`), under the city of
    the ``units.yaml`` beside their folders."""
    folders = {Path(s.path).parent for s in sites.values()}  # type: ignore[attr-defined]
    city = read_city_file(folders.pop()) if len(folders) == 1 else []
    return build_tree({sid: s.units.values()  # type: ignore[attr-defined]
                       for sid, s in sites.items()}, city)


def tree_of_folders(root: Path, sites: Iterable[str],
                    cache_dir: Path | None = None) -> UnitTree:
    """The tree of ``sites`` under ``root`` from their ``site.yaml`` files
    alone (no grids: a city's tree in a second)."""
    from data.site_files import load_site_units

    return build_tree({s: load_site_units(root / s, cache_dir).values()
                       for s in sites}, read_city_file(root))
