"""The app factory: one Dash app (on its Flask server) from a configuration.

Builds the pages (``web/screens.py``: each layout given what it shows, the
composition root being the one place that knows every layer), wires each
screen's callbacks with ``register(app, state)``
(never the global ``@dash.callback`` list, so a second app in the same process
still gets its callbacks), mounts the JSON API and serves every asset locally.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dash
import redis
from dash import Dash, html
from flask import Flask, Response
from flask_caching import Cache
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_talisman import Talisman

from callbacks import analysis as analysis_callbacks
from callbacks import analysis_unit as unit_analysis_callbacks
from callbacks import console as console_callbacks
from callbacks import console_unit as console_unit_callbacks
from callbacks import home as home_callbacks
from callbacks import mobile as mobile_callbacks
from callbacks import wall as wall_callbacks
from data import durable
from data.config import PROJECT_ROOT, Config
from data.feed.snapshot import HEARTBEAT_MS
from data.redis_conn import connect, limits_storage_uri
from data.site import Site
from data.site_files import load_sites
from layouts import analysis_charts
from layouts.i18n import t
from layouts.live import LiveLink
from layouts.theme import stylesheet
from web import auth, screens, signin
from web.admin import admin
from web.api import api, mount_not_found
from web.export import export
from web.ingest import (
    INGEST_ENTRY_LIMIT,
    INGEST_REQUEST_LIMIT,
    entry_cost,
    entry_rate_key,
    ingest_api,
    rate_key,
)
from web.json_provider import BoundedJSONProvider
from web.push import BUILD, PING_S, push_blueprint
from web.replay_api import replay_api
from web.replay_clip import clip_api, clip_page
from web.replay_page import replay_page
from web.reports import reports
from web.state import AppState
from web.unit_export import unit_export
from web.unit_push import unit_push_blueprint
from web.unit_wall import UnitWallData
from web.units_api import units_api
from web.wall_push import WallData

ASSETS = PROJECT_ROOT / "assets"
WEB_REDIS_CONNECTIONS = 64  # per web process; requests wait their turn past it
WEB_REDIS_WAIT_S = 5.0
REPORT_LIMIT = "30 per minute;300 per hour"  # per signed-in user


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


def web_client(url: str) -> redis.Redis:
    """The web process's client: :func:`data.redis_conn.connect`'s options on
    a *blocking* pool of ``WEB_REDIS_CONNECTIONS``. Under gunicorn's gevent
    worker thousands of streams wake together (a version, their heartbeat's
    credential check) and each greenlet yields inside its Redis call, so a
    plain pool would open a connection per stream, then fail past redis-py's
    limit of 100 with "Too many connections"; here they wait a moment for
    one of a few connections instead."""
    # (on a cluster, a blocking pool of that size per node)
    return connect(url, connection_pool_class=redis.BlockingConnectionPool,
                   max_connections=WEB_REDIS_CONNECTIONS, timeout=WEB_REDIS_WAIT_S)


def create_app(config: Config, client: redis.Redis | None = None,
               sites: dict[str, Site] | None = None) -> Dash:
    """A ready Dash app for ``config``; ``client`` overrides the connection,
    ``sites`` the loading of ``config.sites`` (done once by ``python app.py``)."""
    if config.redis_url is None and client is None:
        raise ValueError("create_app needs config.redis_url or a client")
    if sites is None:
        sites = load_sites(config.sites_root, config.sites, config.site_cache)
    state = AppState(config=config, sites=sites,
                     redis=client or web_client(config.redis_url))
    state.units  # noqa: B018 -- sites that disagree about a unit stop us here
    durable.set_policy(state.redis, durable.Policy(config.ack_replicas,
                                                   config.ack_timeout_ms))

    app = Dash(
        __name__,
        title=t("app.title"),
        use_pages=True,
        pages_folder="",
        assets_folder=str(Path(ASSETS)),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,
        external_stylesheets=[theme_url()],
    )
    serve_theme(app.server)
    app.server.extensions["gov"] = state
    # In-process cache keyed on the snapshot version: never flask-caching's
    # Redis backend on a Redis producers can write to (it unpickles).
    cache = Cache(app.server, config={"CACHE_TYPE": "SimpleCache",
                                      "CACHE_THRESHOLD": 256,
                                      "CACHE_DEFAULT_TIMEOUT": 600})
    # the wall's shaped versions and spotlights: pushed in the event streams
    # and answered by the wall's fallback callbacks, the same for both
    wall_data = WallData(state, cache)
    unit_wall = UnitWallData(state)  # the walls of streets, districts, the city
    app.server.register_blueprint(api)
    app.server.register_blueprint(replay_api)
    app.server.register_blueprint(replay_page)
    app.server.register_blueprint(clip_page)
    app.server.register_blueprint(clip_api)
    app.server.register_blueprint(units_api)
    app.server.register_blueprint(push_blueprint(state, wall_data))
    app.server.register_blueprint(unit_push_blueprint(state, wall_data, unit_wall))
    app.server.register_blueprint(reports)
    app.server.register_blueprint(ingest_api)
    app.server.secret_key = secret_key(config)
    app.server.config.update(SESSION_COOKIE_HTTPONLY=True,
                             SESSION_COOKIE_SAMESITE="Lax",
                             MAX_CONTENT_LENGTH=8 * 1024 * 1024)
    app.server.register_blueprint(export)
    app.server.register_blueprint(unit_export)
    mount_not_found(app.server)
    app.server.config["JSON_AS_ASCII"] = False
    app.server.json = BoundedJSONProvider(app.server)
    app.server.json.ensure_ascii = False

    link = LiveLink(build=BUILD, ping_ms=round(PING_S * 1000),
                    heartbeat_ms=HEARTBEAT_MS)
    screens.register_pages(state, link, unit_wall)
    app.layout = html.Div([dash.page_container])
    callback_screens: dict[str, str] = {}
    for screen, wire in (
            ("home", lambda: home_callbacks.register(app, state)),
            ("mobile", lambda: mobile_callbacks.register(app, state)),
            ("console", lambda: console_callbacks.register(app, state)),
            ("console", lambda: console_unit_callbacks.register(app, state)),
            ("wall", lambda: wall_callbacks.register(app, wall_data)),
            ("analysis", lambda: analysis_callbacks.register(app, state)),
            ("analysis", lambda: unit_analysis_callbacks.register(app, state))):
        before = set(app.callback_map)
        wire()
        auth.callbacks_by_screen(app.callback_map, before, screen,
                                callback_screens)
    secure(app, config, callback_screens)
    for site in list(sites.values())[:1]:
        analysis_charts.warm_up(site)  # plotly's first figure, paid at start-up
    set_up_before_serving(app)
    return app


def theme_url() -> str:
    """/theme.css of this build: cached for good, a new build a new address."""
    return f"/theme.css?v={BUILD}"


def serve_theme(server: Flask) -> None:
    """The theme's colours as CSS custom properties (layouts/theme.py), for
    the style sheets in assets/ and the sign-in pages' templates."""
    css = stylesheet()

    @server.route("/theme.css")
    def theme_css() -> Response:
        return Response(css, mimetype="text/css", headers={
            "Cache-Control": "public, max-age=31536000, immutable"})

    server.context_processor(lambda: {"theme_css": theme_url()})


def set_up_before_serving(app: Dash) -> None:
    """Dash sets itself up (routes of the pages, its scripts; then the CSP
    hashes them) at the first request, and not thread-safely
    (plotly/dash#3971): under gunicorn's threads the requests racing the
    first one, such as every wall reconnecting after a deploy, could find no
    pages callback or a CSP without the pages script. One request now, before
    the server takes any; the gate refuses it, after Dash's hook has run."""
    app.server.test_client().get("/_dash-layout")


def secure(app: Dash, config: Config, screens: dict[str, str]) -> None:
    """Sign-in, the request gate, rate limits and security headers."""
    server = app.server
    server.register_blueprint(signin.signin)
    server.register_blueprint(signin.signout)
    server.register_blueprint(admin)
    server.config.update(
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.session_hours),
        SESSION_COOKIE_SECURE=config.cookie_secure,
        SESSION_COOKIE_NAME="gov_session")
    auth.install(server, app.callback_map, screens)
    limiter = Limiter(get_remote_address, app=server,
                      storage_uri=(limits_storage_uri(config.redis_url)
                                   if config.redis_url else "memory://"),
                      key_prefix=f"{config.prefix}:limits",
                      strategy="moving-window", headers_enabled=True)
    apply_rate_limits(limiter)
    server.register_error_handler(429, signin.too_many)
    talisman = Talisman(server, force_https=False,
                        session_cookie_secure=config.cookie_secure,
                        frame_options="DENY", referrer_policy="same-origin",
                        content_security_policy=csp(app),
                        strict_transport_security=False)
    hashed = []

    def hash_late_scripts() -> None:
        """Dash adds its pages' inline script at its first-request set-up
        (which runs before this hook): hash again once it has."""
        if not hashed:
            talisman.content_security_policy = csp(app)
            hashed.append(True)
    server.before_request(hash_late_scripts)


def apply_rate_limits(limiter: Limiter) -> None:
    """Each limit on the blueprint it guards, by Flask-Limiter's own API,
    for the POSTs only (reading a photo or the OpenAPI document is free)."""
    post = {"methods": ["POST"]}
    limiter.limit(";".join(signin.LOGIN_LIMITS), **post)(signin.signin)
    limiter.limit(signin.NAME_LIMIT, key_func=signin.name_and_address,
                  deduct_when=signin.failed, **post)(signin.signin)
    limiter.limit(REPORT_LIMIT, key_func=auth.caller_key, **post)(reports)
    limiter.limit(INGEST_ENTRY_LIMIT, key_func=entry_rate_key, cost=entry_cost,
                  **post)(ingest_api)
    limiter.limit(INGEST_REQUEST_LIMIT, key_func=rate_key, **post)(ingest_api)


def csp(app: Dash) -> dict[str, Any]:
    """No inline script but Dash's own (by hash), nothing from elsewhere."""
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *app.csp_hashes()],
        "style-src": ["'self'", "'unsafe-inline'"],  # plotly and Dash set styles
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],  # the map's renderer uses a worker
        "child-src": ["'self'", "blob:"],
        "connect-src": "'self'",
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
