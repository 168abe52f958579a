"""What every request handler needs, built once per web process.

Held in ``flask_app.extensions["gov"]``; nothing in it is state that another
worker would miss (Redis is the only shared state), only the configuration,
the loaded sites, the units above them and a connection pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import redis
from flask import current_app

from data.config import Config
from data.keys import Keys
from data.site import Site
from data.units.tree import UnitTree, tree_of_sites


@dataclass(frozen=True)
class AppState:
    config: Config
    sites: dict[str, Site]
    redis: redis.Redis

    def keys(self, site: str) -> Keys:
        return Keys(self.config.prefix, site)

    @cached_property
    def units(self) -> UnitTree:
        """The units above the sites (built by the factory, at start)."""
        return tree_of_sites(self.sites)

    @cached_property
    def unit_sites(self) -> dict[str, frozenset[str]]:
        """unit -> the served sites wholly under it (every community of the
        site under the unit: a business district that spans two streets is
        under neither, only under what holds both)."""
        return self.units.sites_under()


def app_state() -> AppState:
    """The state of the Flask app handling the current request."""
    return current_app.extensions["gov"]
