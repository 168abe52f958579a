"""``python app.py city …``: the command line of a generated city."""

from __future__ import annotations

import time
from pathlib import Path

import click

from data.city.write import MAX_SITES, CityError, generate_city


@click.group()
def city() -> None:
    """A generated city of sites (郑州市: districts, streets, communities)."""


@city.command("generate")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--sites", "n_sites", type=click.IntRange(1, MAX_SITES), required=True,
              help="how many community sites to write")
@click.option("--seed", default="0", show_default=True,
              help="the same seed writes byte-identical files")
def generate(out_dir: Path, n_sites: int, seed: str) -> None:
    """Write N community sites of Zhengzhou into OUT_DIR (new or empty).

    Each site is a folder (grids, gates, car parks, people, categories) under
    its street and district; units.yaml and units.geojson at the root hold
    the tree and the outlines. Serve them with GOV_SITES_DIR=OUT_DIR.
    """
    started = time.perf_counter()
    try:
        written = generate_city(out_dir, n_sites, seed)
    except CityError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{written.sites} sites, {written.grids} grids, "
               f"{written.entrances} entrances, {written.units} units in {out_dir} "
               f"({time.perf_counter() - started:.1f} s); serve them with "
               f"GOV_SITES_DIR={out_dir}")
