"""Colours are defined once: the style sheets read the theme's custom
properties (/theme.css, made from layouts/theme.py), never a colour of
their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from layouts.theme import DARK, LIGHT, custom_properties, stylesheet

ASSETS = Path(__file__).parent.parent / "assets"
SHEETS = sorted(ASSETS.glob("*.css"))
HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")


def without_comments(css: str) -> str:
    return re.sub(r"/\*.*?\*/", "", css, flags=re.S)


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.name)
def test_no_style_sheet_has_a_colour_of_its_own(sheet):
    assert HEX.findall(without_comments(sheet.read_text())) == []


@pytest.mark.parametrize("sheet", SHEETS, ids=lambda p: p.name)
def test_every_custom_property_used_is_defined_by_the_theme(sheet):
    theme = DARK if sheet.name in ("wall.css", "replay.css", "unit_wall.css") \
        else LIGHT
    used = set(re.findall(r"var\((--[a-z0-9-]+)", sheet.read_text()))
    assert used, "a style sheet with no colour at all?"
    assert used - set(custom_properties(theme)) == set()
    assert all(f"  {name}: " in stylesheet() for name in used)


def test_theme_css_is_served_and_linked(r, redis_url, tmp_path):
    from data.config import load_config
    from web.factory import create_app

    config = load_config({"REDIS_URL": redis_url, "GOV_DATA_DIR": str(tmp_path),
                          "GOV_SITES_DIR": str(Path(__file__).parent / "fixtures"
                                               / "sites"), "GOV_DEMO": "0"})
    client = create_app(config, client=r).server.test_client()
    served = client.get("/theme.css")
    assert served.status_code == 200 and served.mimetype == "text/css"
    assert "immutable" in served.headers["Cache-Control"]
    assert served.get_data(as_text=True) == stylesheet()
    assert b"/theme.css?v=" in client.get("/login").data
