"""The app factory: one Dash app (on its Flask server) from a configuration.

Builds the pages, wires each screen's callbacks with ``register(app, state)``
(never the global ``@dash.callback`` list, so a second app in the same process
still gets its callbacks), mounts the JSON API and serves every asset locally.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dash
import redis
from dash import Dash, html
from flask_caching import Cache

from callbacks import analysis as analysis_callbacks
from callbacks import console as console_callbacks
from callbacks import home as home_callbacks
from callbacks import mobile as mobile_callbacks
from callbacks import wall as wall_callbacks
from data.config import PROJECT_ROOT, Config
from data.redis_conn import connect
from data.site import load_sites
from layouts import analysis, analysis_charts, console, home, mobile, wall
from layouts.i18n import t
from web.api import api
from web.export import export
from web.push import push
from web.reports import reports
from web.state import AppState

ASSETS = PROJECT_ROOT / "assets"


def secret_key(config: Config) -> bytes:
    """GOV_SECRET_KEY, or a random key kept in the data directory (mode 600)."""
    if config.secret_key:
        return config.secret_key.encode()
    path = config.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def create_app(config: Config, client: redis.Redis | None = None) -> Dash:
    """A ready Dash app for ``config``; ``client`` overrides the connection."""
    if config.redis_url is None and client is None:
        raise ValueError("create_app needs config.redis_url or a client")
    sites = load_sites(config.sites_root, config.sites)
    state = AppState(config=config, sites=sites,
                     redis=client or connect(config.redis_url))

    app = Dash(
        __name__,
        title=t("app.title"),
        use_pages=True,
        pages_folder="",
        assets_folder=str(Path(ASSETS)),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    app.server.extensions["gov"] = state
    app.server.register_blueprint(api)
    app.server.register_blueprint(push)
    app.server.register_blueprint(reports)
    app.server.secret_key = secret_key(config)
    app.server.config.update(SESSION_COOKIE_HTTPONLY=True,
                             SESSION_COOKIE_SAMESITE="Lax",
                             MAX_CONTENT_LENGTH=8 * 1024 * 1024)
    app.server.register_blueprint(export)
    # In-process cache keyed on the snapshot version: never flask-caching's
    # Redis backend on a Redis producers can write to (it unpickles).
    cache = Cache(app.server, config={"CACHE_TYPE": "SimpleCache",
                                      "CACHE_THRESHOLD": 256,
                                      "CACHE_DEFAULT_TIMEOUT": 600})
    app.server.config["JSON_AS_ASCII"] = False
    app.server.json.ensure_ascii = False

    dash.register_page("home", path="/", layout=home.layout, title=t("app.title"))
    dash.register_page("wall", path="/wall", layout=wall.layout,
                       title=t("wall.title"))
    dash.register_page("analysis", path="/analysis", layout=analysis.layout,
                       title=t("analysis.title"))
    dash.register_page("mobile", path="/m", layout=mobile.layout,
                       title=t("m.title"))
    dash.register_page("console", path="/console", layout=console.layout,
                       title=t("c.title"))
    app.layout = html.Div([dash.page_container])
    home_callbacks.register(app, state)
    mobile_callbacks.register(app, state)
    console_callbacks.register(app, state)
    wall_callbacks.register(app, state, cache)
    analysis_callbacks.register(app, state)
    for site in list(sites.values())[:1]:
        analysis_charts.warm_up(site)  # plotly's first figure, paid at start-up
    return app
