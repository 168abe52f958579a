"""Urgent events take the walls' spotlight (data/interrupt.py), on a real Redis."""

from __future__ import annotations

from data.cast import cast
from data.interrupt import alerting, current, dismiss, observe
from data.keys import Keys

HOLD = 60_000
KEYS = Keys("t", "tiny")


def urgent(*ids: str) -> list[dict]:
    return [{"kind": "urgent", "id": i, "grid": "G1", "title": i,
             "category": "parking"} for i in ids]


def crowded(grid: str, level: int) -> dict:
    return {"kind": "density", "grid": grid, "level": level}


def found(*alerts: dict) -> list[tuple[str, int]]:
    return alerting({"alerts": list(alerts)})


def test_a_new_urgent_incident_takes_the_spotlight_for_the_hold(r):
    first = observe(r, KEYS, found(*urgent("a")), 1_000, HOLD)
    assert (first.kind, first.id, first.until_ms) == ("incident", "a", 61_000)
    assert current(r, KEYS, 60_999, HOLD).id == "a"
    assert current(r, KEYS, 61_000, HOLD) is None  # then the rotation


def test_only_a_grid_going_red_interrupts_and_only_when_it_goes(r):
    assert observe(r, KEYS, found(crowded("G1", 2)), 1_000, HOLD) is None
    assert observe(r, KEYS, found(crowded("G1", 3)), 2_000, HOLD).id == "G1"
    assert current(r, KEYS, 62_000, HOLD) is None
    # still red: nothing new
    assert observe(r, KEYS, found(crowded("G1", 3)), 63_000, HOLD) is None
    observe(r, KEYS, found(crowded("G1", 1)), 64_000, HOLD)
    again = observe(r, KEYS, found(crowded("G1", 3)), 65_000, HOLD)
    assert (again.kind, again.id) == ("grid", "G1")


def test_several_queue_by_severity_then_age(r):
    observe(r, KEYS, found(*urgent("a")), 1_000, HOLD)
    shown = observe(r, KEYS, found(*urgent("a"), crowded("G2", 3)), 2_000, HOLD)
    shown = observe(r, KEYS, found(*urgent("a", "b"), crowded("G2", 3)), 3_000,
                    HOLD)
    assert (shown.id, shown.queued) == ("a", 2)
    # the later urgent incident comes before the earlier red grid
    assert current(r, KEYS, 61_000, HOLD).id == "b"
    assert current(r, KEYS, 121_000, HOLD).id == "G2"
    assert current(r, KEYS, 181_000, HOLD) is None


def test_what_stops_alerting_before_its_turn_is_dropped(r):
    observe(r, KEYS, found(*urgent("a", "b")), 1_000, HOLD)
    observe(r, KEYS, found(*urgent("a")), 2_000, HOLD)  # b accepted meanwhile
    assert current(r, KEYS, 61_000, HOLD) is None


def test_a_dismissal_moves_on_and_every_change_is_announced(r):
    seen = r.pubsub()
    seen.subscribe(KEYS.channel)
    seen.get_message(timeout=1)
    observe(r, KEYS, found(*urgent("a", "b")), 1_000, HOLD)
    assert dismiss(r, KEYS, 2_000, HOLD).id in ("a", "b")
    assert dismiss(r, KEYS, 3_000, HOLD) is None
    assert current(r, KEYS, 4_000, HOLD) is None  # nothing moved: no message
    messages = []
    while (m := seen.get_message(timeout=0.5)) is not None:
        messages.append(m["data"])
    assert messages == ["cast:1", "cast:2", "cast:3"]
    # the walls learn of it as of a cast, and a cast's number moves on after it
    assert cast(r, KEYS, "grid", "G1", "sup") == 4


def test_the_spotlight_is_drawn_again_once_when_what_it_shows_changes(r):
    """Grids becoming estimates redraw every wall's spotlight: the first
    web process to see the change announces it, the others find it told."""
    from data.cast import restate

    seen = r.pubsub()
    seen.subscribe(KEYS.channel)
    seen.get_message(timeout=1)
    key = KEYS.spot_estimated
    assert restate(r, KEYS, key, "") == 0  # nothing estimated, nothing told yet
    assert restate(r, KEYS, key, "G2") == 1
    assert restate(r, KEYS, key, "G2") == 0  # a second process: already told
    assert restate(r, KEYS, key, "") == 2  # it counts again
    messages = []
    while (m := seen.get_message(timeout=0.5)) is not None:
        messages.append(m["data"])
    assert messages == ["cast:1", "cast:2"]
