"""The JSON API and the configuration, against a real Redis."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from data.clock import now_ms
from data.config import ConfigError, load_config
from data.feed.aggregator import Aggregator
from data.keys import Keys
from tests.auth import add_account, api_key, sign_in_client
from tests.common import PREFIX, ROOT, SITES, config_for
from web.factory import create_app


@pytest.fixture
def analyst(r, client):
    """The test client, signed in as an analyst of every site."""
    add_account(r, PREFIX, "ana_all", "analyst")
    sign_in_client(client, "ana_all")
    return client


def test_snapshot_api_fields(analyst, r, raw, tiny):
    now = now_ms()
    r.xadd(Keys(PREFIX, "tiny").stream("crowd"),
           {"v": "1", "src": "c", "entrance": "E1", "ts": str(now), "in": "12",
            "out": "2"})
    r.xadd(Keys(PREFIX, "tiny").stream("crowd"),
           {"v": "1", "src": "c", "entrance": "E404", "ts": str(now), "in": "1",
            "out": "0"})
    agg = Aggregator(raw, {"tiny": tiny}, PREFIX, snapshot_interval_ms=1)
    agg.step(block_ms=50)
    agg.step(block_ms=1)
    body = analyst.get("/api/v1/sites/tiny/snapshot").get_json()
    assert body["site"] == "tiny"
    assert isinstance(body["version"], int) and body["version"] >= 1
    assert body["generated_at"].startswith(time.strftime("%Y-"))
    assert body["people_present"] == 10
    assert body["entrances"]["E1"] == {
        **body["entrances"]["E1"], "kind": "pedestrian", "grid": "G1",
        "people_in_1h": 12, "people_out_1h": 2, "vehicles_in_1h": 0,
        "vehicles_out_1h": 0}
    assert body["grids"]["G1"]["name"] == "一网格"
    assert body["grids"]["G1"]["people_present"] == 10
    assert body["grids"]["G1"]["density_level"] == 0
    assert set(body["incidents"]) >= {"open", "overdue", "closed_today"}
    assert body["feeds"]["crowd"]["last_ts"] == now
    assert body["feeds"]["crowd"]["lag_ms"] >= 0
    assert body["feeds"]["traffic"] == {"last_ts": None, "lag_ms": None}
    assert body["dead_letters"] == 1
    version = body["version"]
    agg.states["tiny"].last_snapshot_ms = 0
    agg.step(block_ms=1)
    assert analyst.get("/api/v1/sites/tiny/snapshot").get_json()["version"] > version


def test_site_description_lists_the_ids_a_producer_may_use(analyst):
    body = analyst.get("/api/v1/sites/tiny").get_json()
    assert [g["id"] for g in body["grids"]] == ["G1", "G2"]
    assert {e["id"]: e["kind"] for e in body["entrances"]} == {
        "E1": "pedestrian", "E2": "pedestrian", "V1": "vehicle"}
    assert [p["id"] for p in body["parking"]] == ["P1"]
    cat = body["categories"][0]
    assert cat == {"id": "sanitation", "name": "环境卫生", "name_en": "Sanitation",
                   "deadlines": {"1": 2.0, "2": 8.0, "3": 24.0}}
    assert body["streams"]["crowd"] == "t:{tiny}:crowd"


def test_unknown_site_is_a_json_404(analyst):
    for path in ("/api/v1/sites/nowhere", "/api/v1/sites/nowhere/snapshot"):
        response = analyst.get(path)
        assert response.status_code == 404
        assert "nowhere" in response.get_json()["error"]


@pytest.mark.parametrize("path", [
    "/api/v1/sites/tiny/consumers", "/api/v2/sites", "/api/",
    "/api/v1/sites/tiny/incidents/x/y/z", "/api/anything.html"])
def test_an_unknown_api_path_is_a_json_404_not_the_page(r, client, path):
    key = api_key(r, PREFIX, "tiny", "read")
    for method in ("get", "post"):
        response = getattr(client, method)(
            path, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 404, (method, response.data[:80])
        assert response.mimetype == "application/json"
        assert response.get_json()["status"] == 404


def test_no_snapshot_yet_is_a_json_503(analyst):
    response = analyst.get("/api/v1/sites/tiny/snapshot")
    assert response.status_code == 503
    assert "aggregator" in response.get_json()["error"]


def test_redis_down_is_a_json_503(r):
    app = create_app(config_for("redis://127.0.0.1:1/0"))
    response = app.server.test_client().get(
        "/api/v1/sites/tiny/snapshot", headers={"Authorization": "Bearer gk_x_y"})
    assert response.status_code == 503
    assert "Redis" in response.get_json()["error"]


def test_home_page_serves(analyst):
    assert analyst.get("/").status_code == 200


@pytest.mark.parametrize(("env", "names"), [
    ({"PORT": "eighty"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"GOV_DEMO": "maybe"}, "GOV_DEMO"),
    ({"GOV_SITES": "tiny,atlantis"}, "GOV_SITES"),
    ({"GOV_PREFIX": "a b"}, "GOV_PREFIX"),
    ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
])
def test_bad_configuration_names_the_variable(env, names):
    with pytest.raises(ConfigError, match=names):
        load_config({"GOV_SITES_DIR": str(SITES), **env})


def test_configuration_defaults():
    cfg = load_config({"GOV_SITES_DIR": str(SITES)})
    assert (cfg.prefix, cfg.host, cfg.port, cfg.demo) == ("gov", "127.0.0.1", 8050,
                                                          True)
    assert cfg.sites == ("tiny",) and cfg.default_site == "tiny"
    assert cfg.data_dir.name == "var"
    assert load_config({"GOV_SITES_DIR": str(SITES),
                        "REDIS_URL": "redis://x:1/0"}).demo is False


def test_bad_value_stops_start_up_with_one_line():
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty", "GOV_SITES_DIR": str(SITES)},
        timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["configuration error: PORT='eighty': expected a whole number"]


def test_broken_site_stops_start_up_naming_the_file(tmp_path):
    site = tmp_path / "tiny"
    site.mkdir()
    for f in (SITES / "tiny").iterdir():
        (site / f.name).write_text(f.read_text())
    (site / "entrances.geojson").write_text("{ not json")
    result = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "GOV_SITES_DIR": str(tmp_path),
             "GOV_DATA_DIR": str(tmp_path / "var"), "GOV_DEMO": "0",
             "PORT": "8999"}, timeout=60)
    assert result.returncode == 2
    assert "entrances.geojson" in result.stderr
    assert "cannot be read as GeoJSON" in result.stderr
