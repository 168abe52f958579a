"""Grid governance command center: the entry point.

``python app.py`` runs everything in one process: the embedded redis-server
(unless ``REDIS_URL`` is set), the aggregator, the demo feed (``GOV_DEMO``) and
the web server on ``HOST:PORT``. The parts also run on their own::

    gunicorn -k gevent --worker-connections 10000 app:server   # web tier
    python app.py aggregator                # folds the feeds
    python app.py simulator --rate 1        # demo producer
    python app.py users add NAME --role admin --password-stdin
    python app.py api-keys add PRODUCER --site SITE --scope ingest
    python app.py kiosk-tokens add SITE
    python app.py city generate OUT_DIR --sites 1000   # a city of sites
    python app.py units                     # the tree of units above the sites

``app`` and ``server`` are built on first access, so importing this module
(as gunicorn does) starts nothing but the web app.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading

import click

from data.config import Config, ConfigError, load_config
from data.site import Site, SiteError
from data.site_files import load_sites

log = logging.getLogger("gov")


def _config_or_exit() -> Config:
    """The configuration; one clear line and exit 2 if wrong."""
    try:
        config = load_config()
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    from data.history.store import StoreError, as_store

    try:
        as_store(config.history)  # a URL pyarrow cannot open stops us here
    except StoreError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    return config


def _sites_or_exit(config: Config) -> dict[str, Site]:
    """The sites of ``config``, checked and loaded once: every part of this
    process is handed them (a city of sites takes seconds to read)."""
    try:
        return load_sites(config.sites_root, config.sites, config.site_cache)
    except SiteError as exc:
        click.echo(f"site error: {exc}", err=True)
        sys.exit(2)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def build(config: Config, sites: dict[str, Site] | None = None):
    from web.factory import create_app
    from web.fdlimit import raise_open_files_limit

    raise_open_files_limit()  # every open event stream is a socket

    try:
        dash_app = create_app(config, sites=sites)
    except SiteError as exc:
        click.echo(f"site error: {exc}", err=True)
        sys.exit(2)
    # What is alive now (modules, layouts, plotly's templates: ~190k objects)
    # lives as long as the process: keep it out of the collector's full
    # passes, each of which would otherwise walk it all with every thread
    # stopped (93 ms here; 0 ms once frozen), a stall any wall would see.
    gc.freeze()
    return dash_app


def __getattr__(name: str):
    """``app`` and ``server`` for gunicorn, built from the environment."""
    if name in ("app", "server"):
        config = _config_or_exit()
        if config.redis_url is None:
            click.echo("configuration error: REDIS_URL must be set when the web "
                       "tier runs on its own (gunicorn app:server)", err=True)
            sys.exit(2)
        dash_app = build(config)
        globals().update(app=dash_app, server=dash_app.server)
        return globals()[name]
    raise AttributeError(name)


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run the command center (all parts), or one part with a subcommand."""
    _logging()
    if ctx.invoked_subcommand is None:
        run_all()


def run_all() -> None:
    from werkzeug.serving import make_server

    from data.sim import demo_seed
    from web.runtime import Runtime

    config = _config_or_exit()
    sites = _sites_or_exit(config)
    runtime = Runtime(config, sites)
    # asked before the archiver writes
    seeding = (config.demo and config.demo_days > 0
               and demo_seed.pending(config.data_dir, config.history))
    demo: dict = {}
    try:
        config = runtime.start_redis()
        dash_app = build(config, sites)
        runtime.start_aggregator()
        runtime.start_archiver()
        runtime.start_recorder()
        if config.demo:
            runtime.start_simulator()
            if seeding:
                runtime.start_demo_seed()
            demo = _demo_sign_in(runtime, config)
        http = make_server(config.host, config.port, dash_app.server, threaded=True)
    except BaseException:
        runtime.stop()
        raise
    threading.Thread(target=http.serve_forever, name="web", daemon=True).start()
    from web.startup import banner

    for line in banner(config, redis_url=config.redis_url,
                       embedded=runtime.embedded is not None,
                       seeding_days=config.demo_days if seeding else 0, **demo):
        click.echo(line)
    try:
        runtime.wait()
    finally:
        click.echo("stopping…")
        http.shutdown()
        runtime.stop()


def _demo_sign_in(runtime, config: Config) -> dict:
    """Demo accounts (new passwords each start) and wall tokens: all of them
    to a 0600 file under the data folder, for the banner to name."""
    from data.keys import AuthKeys
    from data.redis_conn import connect
    from web import startup

    made = runtime.demo_users()
    kiosks = startup.demo_kiosk_tokens(connect(config.redis_url),
                                       AuthKeys(config.prefix), config.sites)
    path = config.data_dir / startup.ACCOUNTS_FILE
    base = f"http://{config.host}:{config.port}"
    startup.write_private(path, startup.accounts_text(base, made, kiosks))
    return {"made": made, "kiosks": kiosks, "accounts_file": path}


@cli.command()
def aggregator() -> None:
    """Fold the feeds of GOV_SITES on REDIS_URL until stopped."""
    from web.runtime import Runtime

    config = _config_or_exit()
    runtime = Runtime(config, _sites_or_exit(config))
    runtime.start_redis()
    runtime.start_aggregator()
    click.echo(f"aggregator {runtime.aggregator.consumer}: folding its share of "
               f"{len(config.sites)} sites (shared with every other aggregator "
               f"on this Redis). Ctrl-C stops.")
    try:
        runtime.wait()
    finally:
        runtime.stop()


@cli.command()
@click.option("--every", default=60.0, show_default=True,
              help="seconds between two archive passes")
def archiver(every: float) -> None:
    """Write the history of GOV_SITES (Parquet under GOV_DATA_DIR/history, or
    at GOV_HISTORY_URL)."""
    from web.runtime import Runtime

    config = _config_or_exit()
    runtime = Runtime(config, _sites_or_exit(config))
    runtime.start_redis()
    runtime.start_archiver(every)
    runtime.start_recorder()
    where = str(config.history).split("?", 1)[0]  # the query may hold a key
    click.echo(f"archiver writing {where} every {every:g} s. "
               "Ctrl-C stops.")
    try:
        runtime.wait()
    finally:
        runtime.stop()


@cli.command(context_settings={"ignore_unknown_options": True,
                               "allow_extra_args": True})
@click.pass_context
def simulator(ctx: click.Context) -> None:
    """The demo feed producer (options: python -m data.sim --help)."""
    from data.sim import run as sim

    sys.exit(sim.main(ctx.args))


def _command_groups() -> None:
    from data.city.cli import city
    from data.units.cli import units
    from web.cli import api_keys, kiosk_tokens, users

    for group in (users, api_keys, kiosk_tokens, city, units):
        cli.add_command(group)


_command_groups()

if __name__ == "__main__":
    cli()
