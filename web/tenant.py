"""The tenant of a request: decided from its credential, never from the client.

A tenant is a site, or a unit above sites (:func:`units_of`). Every request
belongs to the tenant of its credential — a session, a kiosk token or an API
key — and to nothing else. The one place that decides it for a Dash callback is
:func:`callback_scope`, called by the request gate (``web/auth.py``) before
any callback runs:

1. The post must have the exact shape of the callback the app registered:
   the same component ids and properties, in the same order, for inputs,
   state and outputs (pattern-matched ids fit their pattern). Dash hands
   values to the callback by position; without this, a post that renames
   ``c-site`` to anything else slips another site's value past any check of
   the known ids.
2. Every value in a site-naming position must be a site the credential may
   see, and every value in a grid-naming position a grid within the person's
   grid scope on that site. Deny by default: an unknown callback, a shape
   that does not fit, a site or grid outside the scope is refused.

The scope it found is kept in ``flask.g`` for the callback (:func:`tenant`).
Pages (:func:`page_site`) and event streams use the same rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from data.accounts import site_user
from data.incidents.lifecycle import grid_scope
from data.site import Site
from data.units.tree import UnitTree
from layouts import analysis as analysis_page
from layouts import analysis_unit as unit_analysis_page
from layouts import ids
from web.state import app_state

# Component ids whose value names the site of the page a callback serves.
SITE_IDS = frozenset({ids.HOME_SITE, ids.WALL_SITE, ids.M_SITE, ids.C_SITE,
                      analysis_page.SITE, analysis_page.SITE_PICK})
# Component ids whose value names one grid or a list of grids of that site.
# (The phone's report form names a grid too, but that is what is reported,
# checked by the feed contract, not what is read.)
GRID_IDS = frozenset({ids.C_GRID, analysis_page.GRIDS})
# Component ids whose value names the unit of the analysis page a callback
# serves (checked by what the caller may analyse: analysable_units), and of a
# unit's console (what it may read: units_of); and those naming one incident
# of a site, {site, id}: its site is checked as a site-naming value (None:
# nothing chosen yet).
ANALYSIS_UNIT_IDS = frozenset({unit_analysis_page.UNIT})
UNIT_IDS = frozenset({ids.UC_UNIT})
PICK_IDS = frozenset({ids.UC_PICK})
_WILDCARDS = ("ALL", "MATCH", "ALLSMALLER")


class Refusal(Exception):
    """A request outside its caller's tenant, or not shaped as registered."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Tenant:
    """What one request may touch: a site, and the grids of it (() = all)."""

    site: str | None
    grids: tuple[str, ...] = ()


# -- sites a credential may see ---------------------------------------------

def sites_of(caller: Any, served: Iterable[str]) -> list[str]:
    """The served sites ``caller`` (a :class:`web.auth.Principal`) may see."""
    return [s for s in served if caller is not None and caller.on_site(s)]


def page_site(caller: Any, asked: str | None, served: list[str]) -> str | None:
    """The site a page opens: the one asked for if the caller may see it,
    else the caller's own (never the first served site of somebody else's);
    None if the caller may see none of it."""
    mine = sites_of(caller, served)
    if asked:
        return asked if asked in mine else None
    return mine[0] if mine else None


# -- the shape of a callback post -------------------------------------------

def _pattern(declared: str) -> dict | None:
    return json.loads(declared) if declared.startswith("{") else None


def _fits(posted_id: Any, pattern: dict) -> bool:
    if not isinstance(posted_id, dict) or set(posted_id) != set(pattern):
        return False
    for key, want in pattern.items():
        if isinstance(want, list) and len(want) == 1 and want[0] in _WILDCARDS:
            if not isinstance(posted_id[key], str | int | float | bool):
                return False
        elif posted_id[key] != want:
            return False
    return True


def _item_fits(item: Any, declared_id: str | dict, prop: str) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("property"), str):
        return False
    # an output with allow_duplicate is posted as "figure@<hash of the callback>"
    if item["property"] != prop and item["property"].split("@")[0] != prop:
        return False
    if isinstance(declared_id, dict):
        return _fits(item.get("id"), declared_id)
    return item.get("id") == declared_id


def _many(pattern: dict | None) -> bool:
    return pattern is not None and any(
        isinstance(v, list) and v and v[0] in ("ALL", "ALLSMALLER")
        for v in pattern.values())


def _check_list(posted: Any, declared: list[tuple[Any, str]], what: str) -> None:
    if not isinstance(posted, list) or len(posted) != len(declared):
        raise Refusal(400, f"callback {what} do not match the registered callback")
    for item, (declared_id, prop) in zip(posted, declared, strict=True):
        pattern = (_pattern(declared_id) if isinstance(declared_id, str)
                   else declared_id)
        target = pattern if pattern is not None else declared_id
        if _many(pattern):
            if not isinstance(item, list) or not all(
                    _item_fits(one, target, prop) for one in item):
                raise Refusal(400, f"callback {what} do not match the "
                                   "registered callback")
        elif not _item_fits(item, target, prop):
            raise Refusal(400, f"callback {what} do not match the registered "
                               "callback")


def _declared_outputs(spec: dict) -> list[tuple[Any, str]]:
    outputs = spec.get("output")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    # as Dash writes them for the browser: a pattern's wildcards as ["ALL"]
    return [(o.to_dict()["id"], o.component_property) for o in outputs if o]


def _prop_id(item: dict) -> str:
    key = item["id"]
    if isinstance(key, dict):
        key = json.dumps(key, sort_keys=True, separators=(",", ":"))
    return f"{key}.{item['property']}"


def check_shape(body: dict, spec: dict) -> None:
    """Refuse (400) a post whose inputs, state, outputs or changed props do
    not fit what the app registered for its ``output``."""
    _check_list(body.get("inputs", []),
                [(i["id"], i["property"]) for i in spec["inputs"]], "inputs")
    _check_list(body.get("state", []),
                [(s["id"], s["property"]) for s in spec["state"]], "state")
    if not spec.get("no_output"):
        posted = body.get("outputs")
        declared = _declared_outputs(spec)
        if isinstance(spec.get("output"), list):
            _check_list(posted, declared, "outputs")
        else:
            _check_list([posted], declared, "outputs")
    inputs = [i for item in body.get("inputs", [])
              for i in (item if isinstance(item, list) else [item])]
    known = {_prop_id(i) for i in inputs}
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not set(map(str, changed)) <= known:
        raise Refusal(400, "changed properties that the callback does not take")


# -- the scope of a callback post -------------------------------------------

def _named(body: dict, spec: dict, wanted: frozenset[str]) -> list[Any]:
    """The posted values at the positions whose registered id is in ``wanted``."""
    declared = list(spec["inputs"]) + list(spec["state"])
    posted = list(body.get("inputs", [])) + list(body.get("state", []))
    return [item.get("value") for item, d in zip(posted, declared, strict=True)
            if d["id"] in wanted and isinstance(item, dict)]


def _grid_values(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def callback_scope(caller: Any, body: dict, spec: dict,
                   sites: dict[str, Site], tree: UnitTree | None = None) -> Tenant:
    """The tenant of one callback post, or :class:`Refusal`. ``tree``: the
    units above the sites, for the values that name a unit."""
    if "callback" not in spec:  # a clientside callback: nothing to run here
        raise Refusal(403, "that callback runs in the browser")
    check_shape(body, spec)
    for value in _named(body, spec, ANALYSIS_UNIT_IDS):
        reachable = (analysable_units(caller, tree, sites) if tree is not None
                     else frozenset())
        if not isinstance(value, str) or tree is None or value not in tree:
            raise Refusal(403, "that unit is not served here")
        if reachable is not None and value not in reachable:
            raise Refusal(403, "that unit is outside your scope")
    _check_units(caller, _named(body, spec, UNIT_IDS), tree)
    picked = _picked_sites(_named(body, spec, PICK_IDS))
    named_sites = _named(body, spec, SITE_IDS) + picked
    site_id = None
    for value in named_sites:
        if not isinstance(value, str) or value not in sites:
            raise Refusal(403, "that site is not served here")
        # an incident chosen on a unit's console may lie in a site only
        # partly under the unit (one spanning two streets): the person's grid
        # scope there is the part under it (below)
        if not (caller.on_site(value) or (
                value in picked and _part_of_site(caller, sites[value], tree))):
            raise Refusal(403, "that site is outside your scope")
        if site_id not in (None, value):
            raise Refusal(403, "one callback, one site")
        site_id = value
    grids: tuple[str, ...] = ()
    if site_id is not None and caller.account is not None:
        user = site_user(caller.account, sites[site_id],
                         tree.root if tree else None)
        if user is None:
            raise Refusal(403, "that site is outside your scope")
        grids = grid_scope(user)
    for value in _named(body, spec, GRID_IDS):
        for grid in _grid_values(value):
            if site_id is None or not isinstance(grid, str) \
                    or grid not in sites[site_id].grids:
                raise Refusal(403, "no such grid on this site")
            if grids and grid not in grids:
                raise Refusal(403, f"grid {grid} is outside your scope")
    return Tenant(site_id, grids)


def _part_of_site(caller: Any, site: Site, tree: UnitTree | None) -> bool:
    """A unit's person on a site only partly under the unit, a user of the
    grids under it alone (an admin's scope is never narrowed to grids: no)."""
    if caller.unit is None or caller.account is None:
        return False
    return bool(grid_scope(site_user(caller.account, site,
                                     tree.root if tree else None)))


def _check_units(caller: Any, values: list[Any], tree: UnitTree | None) -> None:
    """Every value naming a unit must be a unit the caller may read."""
    if not values:
        return
    reach = units_of(caller, tree) if tree is not None else frozenset()
    for value in values:
        if not isinstance(value, str) or tree is None or value not in tree:
            raise Refusal(403, "no such unit here")
        if reach is not None and value not in reach:
            raise Refusal(403, "that unit is outside your scope")


def _picked_sites(values: list[Any]) -> list[Any]:
    """The sites of the chosen incidents ({site, id}; None: none chosen)."""
    out = []
    for value in values:
        if value is None:
            continue
        if not isinstance(value, dict) or set(value) != {"site", "id"} \
                or not isinstance(value["id"], str):
            raise Refusal(400, "a chosen incident is {site, id}")
        out.append(value["site"])
    return out


def page_unit(caller: Any, asked: str | None, tree: UnitTree) -> str | None:
    """The unit a page opens: the one asked for if the caller may read it,
    else a unit's person's own; None otherwise."""
    reach = units_of(caller, tree)
    if asked:
        return asked if asked in tree and (reach is None or asked in reach) \
            else None
    return caller.unit if caller is not None and caller.unit in tree else None


# -- units a credential may see ----------------------------------------------

def units_of(caller: Any, tree: UnitTree) -> frozenset[str] | None:
    """The units ``caller`` may read: None for every one (a credential of the
    whole deployment); a unit's credential, its unit and everything under
    it; a site's, the communities of its own site."""
    if caller is None:
        return frozenset()
    if caller.unit is not None:
        return frozenset(tree.under(caller.unit)) if caller.unit in tree \
            else frozenset()
    if caller.site is None:
        return None
    return frozenset(tree.site_communities.get(caller.site, ()))


def analysable_units(caller: Any, tree: UnitTree, sites: dict[str, Site]
                     ) -> frozenset[str] | None:
    """The units whose history ``caller`` may analyse (incidents, exports,
    bulletins): :func:`units_of`, except that a person limited to some grids
    of a site analyses none (a community holds grids outside the scope)."""
    if caller is not None and caller.account is not None and caller.site \
            and caller.site in sites:
        user = site_user(caller.account, sites[caller.site], tree.root)
        if user is None or grid_scope(user):
            return frozenset()
    return units_of(caller, tree)


def sees_whole_site(caller: Any, site: Site) -> bool:
    """Whether ``caller`` may see ``site`` whole, as its wall, its snapshot
    and its replay show it (every grid's incidents, titles and places): not
    a person limited to some grids of it, who has the console and the phone
    for those (as such a person analyses no unit and gets no whole-site
    briefing)."""
    return not api_grid_scope(caller, site)


def api_grid_scope(caller: Any, site: Site) -> tuple[str, ...]:
    """The grids a JSON API caller may read on ``site``: a person's grid
    scope; () for every grid (API keys of the site, admins)."""
    if caller is None or caller.account is None:
        return ()
    return grid_scope(site_user(caller.account, site, app_state().units.root))


def scoped_filters(filters: Any, scope: tuple[str, ...]) -> Any:
    """History filters (``data.history.dataset.Filters``) narrowed to ``scope``:
    no grid chosen means every grid in scope. None if nothing is left."""
    if not scope:
        return filters
    grids = tuple(g for g in (filters.grids or scope) if g in scope)
    return replace(filters, grids=grids) if grids else None

