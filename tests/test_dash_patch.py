"""Pins Dash's private patch format, which assets/wall.js relies on.

The wall merges the figure patches pushed within a second into one (it
concatenates their ``operations`` under one ``__dash_patch_update`` marker)
and hands it to ``set_props``. That format is Dash's, not a public API: these
tests fail on a Dash upgrade that changes it, before a wall does.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import dash
import pytest
from dash import Patch

RENDERER = Path(dash.__file__).parent / "dash-renderer" / "build"
WALL_JS = Path(__file__).parent.parent / "assets" / "wall.js"


def two_patches() -> tuple[dict, dict]:
    first, second = Patch(), Patch()
    first["layout"]["title"]["text"] = "一"
    first["data"][0]["y"][0] = 7
    second["layout"]["xaxis"]["title"]["text"] = "二"
    second["layout"]["title"]["text"] = "三"  # the later one wins
    return first.to_plotly_json(), second.to_plotly_json()


def test_a_patch_is_the_marker_and_a_list_of_operations():
    first, _ = two_patches()
    assert set(first) == {"__dash_patch_update", "operations"}
    assert first["__dash_patch_update"] == "__dash_patch_update"
    assert first["operations"] == [
        {"operation": "Assign", "location": ["layout", "title", "text"],
         "params": {"value": "一"}},
        {"operation": "Assign", "location": ["data", 0, "y", 0],
         "params": {"value": 7}},
    ]


def test_wall_js_merges_with_the_marker_dash_uses():
    source = WALL_JS.read_text()
    assert "__dash_patch_update" in source and ".operations" in source


@pytest.mark.parametrize("bundle", ["dash_renderer.min.js", "dash_renderer.dev.js"])
def test_the_renderer_still_applies_patches_by_that_marker(bundle):
    source = (RENDERER / bundle).read_text()
    assert '"__dash_patch_update"' in source or "'__dash_patch_update'" in source
    assert re.search(r"operations\.length", source)
    for operation in ("Assign", "Merge", "Extend", "Append", "Delete"):
        assert re.search(operation + r"\s*:\s*function", source), operation


def test_the_renderer_patches_what_set_props_is_given():
    """set_props (wall.js's only way in) runs its props through the patcher."""
    source = (RENDERER / "dash_renderer.dev.js").read_text()
    assert "function parsePatchProps(props, previousProps)" in source
    assert "if (isPatch(val))" in source
    assert source.count("parsePatchProps)(") >= 2  # callbacks and set_props


def test_two_patches_merged_the_wall_js_way_apply_in_the_browser(browser, live):
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    # The producer's entry a second keeps the wall's own callbacks patching
    # this figure; an answer that lands between set_props and the check can
    # draw over the patch under test. From here the page gets no more
    # answers, and the check waits until those already asked for are in.
    calls = {"open": 0}
    def sent(request):
        if "_dash-update-component" in request.url:
            calls["open"] += 1
    def ended(request):
        if "_dash-update-component" in request.url:
            calls["open"] -= 1
    page.on("request", sent)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.goto(live.wall_url("tiny"))
    plot = "document.querySelector('#wall-flow .js-plotly-plot')"
    page.wait_for_function(  # the whole figure came, with plain lists in it
        f"() => window.govWall && ({plot} || {{}}).data && {plot}.data[0]"
        f" && Array.isArray({plot}.data[0].y) && {plot}.data[0].y.length")
    page.route("**/_dash-update-component", lambda route: route.abort())
    deadline = time.monotonic() + 15
    while calls["open"] > 0 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert calls["open"] <= 0, "a callback answer never came"
    page.wait_for_timeout(200)  # an answer received is drawn in the next frames
    first, second = two_patches()
    page.evaluate(
        "([a, b]) => window.dash_clientside.set_props("
        "'wall-flow', {figure: window.govWall.merge(window.govWall.merge(null, a),"
        " b)})", [first, second])
    # (a predicate that throws ends the wait: read through what may be missing
    # for a moment while the figure is drawn again)
    page.wait_for_function(
        f"() => ((({plot}.layout || {{}}).xaxis || {{}}).title || {{}}).text === '二'")
    shown = json.loads(page.evaluate(
        f"() => JSON.stringify([{plot}.layout.title.text, {plot}.data[0].y[0]])"))
    assert shown == ["三", 7]
    page.close()
