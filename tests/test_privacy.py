"""Personal data and photos: what the public view and the console let out."""

from __future__ import annotations

import pytest

from data.feed.contract import IncidentReport
from data.incidents.lifecycle import new_incident, public_view
from layouts.console_render import detail

T0 = 1_800_000_000_000
INCIDENT = "0f1e2d3c-4b5a-4678-9abc-def012345678"


def record(tiny, **over) -> dict:
    fields = {"v": "1", "src": "phone", "op": "report", "id": INCIDENT, "ts": str(T0),
              "category": "sanitation", "level": "2", "title": "垃圾", "grid": "G1",
              "reporter": "张三丰", "phone": "13812345678", **over}
    return new_incident(IncidentReport.model_validate(fields), "G1", tiny,
                        reporter_id="w1")


def images(children) -> list[str]:
    found = []
    for child in children if isinstance(children, list) else [children]:
        if getattr(child, "src", None) is not None:
            found.append(child.src)
        inner = getattr(child, "children", None)
        if inner is not None and not isinstance(inner, str):
            found += images(inner)
    return found


def test_the_public_view_carries_no_reporter_id_or_personal_field(tiny):
    view = public_view(record(tiny, photo=f"{INCIDENT}.jpg"), T0)
    assert "reporter_id" not in view and "photo" not in view
    assert "history" not in view
    assert view["reporter"] == "张**" and view["phone"] == "138****5678"
    assert "w1" not in repr(view)


@pytest.mark.parametrize("value", [
    "x/../../../api/v1/sites/tiny/incidents", "a/b.jpg", "logout",
    "evil.example:80/x.jpg", f"{INCIDENT}.svg", f"{INCIDENT}.jpg/../x.png",
    "0f1e2d3c-aaaa.jpg"])
def test_the_console_shows_no_image_for_a_photo_value_it_did_not_make(tiny, value):
    children = detail(record(tiny, photo=value), [], tiny, "zh", T0, "green",
                      False, [])
    assert images(children) == []


def test_the_console_shows_a_stored_photo(tiny):
    children = detail(record(tiny, photo=f"{INCIDENT}.jpg"), [], tiny, "zh", T0,
                      "green", False, [])
    assert images(children) == [f"/photos/tiny/{INCIDENT}.jpg"]
