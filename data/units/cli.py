"""``python app.py units``: the tree of units above the served sites."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from data.config import ConfigError, load_config
from data.site import SiteError
from data.site_files import load_sites
from data.units.tree import UnitError, tree_of_folders


@click.command("units")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh",
              show_default=True, help="the language of the names")
@click.option("--outlines", type=click.Path(dir_okay=False, path_type=Path),
              help="also write every unit's outline (GeoJSON), dissolved from "
                   "the grids")
def units(lang: str, outlines: Path | None) -> None:
    """List the units of GOV_SITES (under GOV_SITES_DIR), one a line:
    ``<id> <level> <name>``, the city first, children indented under their
    parent."""
    try:
        config = load_config()
        root = config.sites_root
        tree = tree_of_folders(root, config.sites, config.site_cache)
    except (ConfigError, SiteError, UnitError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for line in tree.lines(lang):
        click.echo(line)
    if outlines is not None:
        from data.units.outlines import unit_outlines

        sites = load_sites(root, config.sites, config.site_cache)
        frame = unit_outlines(sites, tree)
        frame["name"] = [tree[u].name for u in frame.index]
        frame["name_en"] = [tree[u].name_en for u in frame.index]
        outlines.write_text(frame.reset_index().to_json(ensure_ascii=False),
                            encoding="utf-8")
        click.echo(f"{len(frame)} outlines in {outlines}", err=True)
