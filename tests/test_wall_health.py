"""The wall's feed-health strip shaped from the stored summary: counts per
state, devices named whole or counted, never cut (layouts/wall_health.py)."""

from __future__ import annotations

from data.feed.producers import STATES
from layouts.wall_health import (
    NAME_BUDGET,
    STRIP_STATES,
    render_feed_health,
    strip_values,
    width,
)


def summary(named: list[dict], **counts: int) -> dict:
    return {"at": 0, "counts": {s: counts.get(s, 0) for s in STATES},
            "named": named, "silent_counters": {}}


def row(device: str, state: str = "silent", kind: str = "counter",
        src: str = "cam") -> dict:
    return {"device": device, "src": src, "kind": kind, "state": state}


def test_every_state_has_a_chip():
    assert set(STRIP_STATES) == set(STATES)


def test_names_by_the_site_file_and_counts_per_state(tiny):
    values = strip_values(summary([row("E2"), row("P1", kind="parking"),
                                   row("?", state="erroring", src="junk-cam")],
                                  ok=4, silent=2, erroring=1), tiny, "zh")
    assert dict(values["counts"]) == {"ok": 4, "late": 0, "silent": 2,
                                      "erroring": 1, "flapping": 0}
    assert values["groups"] == [
        {"state": "silent", "names": ["一号停车场", "东门"], "more": 0},
        {"state": "erroring", "names": ["junk-cam"], "more": 0}]
    english = strip_values(summary([row("E2")], silent=1), tiny, "en")
    assert english["groups"][0]["names"] == ["East gate"]


def test_a_place_with_two_silent_producers_is_told_apart(tiny):
    values = strip_values(summary([row("E2", src="a"), row("E2", src="b")],
                                  silent=2), tiny, "zh")
    assert values["groups"][0]["names"] == ["东门 (a)", "东门 (b)"]


def test_many_silent_devices_are_named_whole_and_the_rest_counted(tiny):
    many = [row("", src=f"counter-{n:02d}-at-the-north-side") for n in range(40)]
    values = strip_values(summary(many, silent=40), tiny, "zh")
    (group,) = values["groups"]
    assert group["names"] and group["more"] == 40 - len(group["names"])
    assert all(name.startswith("counter-") and name.endswith("north-side")
               for name in group["names"])  # whole
    assert sum(width(n) + 1 for n in group["names"]) <= NAME_BUDGET
    text = str(render_feed_health(values, "zh"))
    assert f"等{group['more']}个" in text


def test_not_known_yet_says_so(tiny):
    assert strip_values(None, tiny, "zh") == {"counts": None, "groups": []}
    assert "暂无数据" in str(render_feed_health(strip_values(None, tiny, "zh"), "zh"))
