"""A unit's wall (issue 12 item 5) without a browser: who may open which
wall and stream, each unit against its own past (never an invented one),
the incidents escalated to the unit's level, and a pushed change on a
report."""

from __future__ import annotations

import json
from datetime import date

import pytest

from data.clock import now_ms
from data.feed.aggregator import Aggregator
from data.keys import UnitKeys
from data.site_files import load_sites
from data.units.past import past_days
from tests.auth import kiosk_token, unit_kiosk_token
from tests.chain import write_chain_sites
from tests.common import PREFIX
from tests.feed import drain
from tests.rollup_feed import op, report, write_example
from web.unit_wall import UnitWallData

DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory):
    return write_chain_sites(tmp_path_factory.mktemp("chain"))


@pytest.fixture
def chain_app(make_app, chain_dir):
    return make_app(GOV_SITES_DIR=str(chain_dir), GOV_SITES="")


@pytest.fixture
def agg(raw, chain_dir):
    sites = load_sites(chain_dir, ["ta", "tb", "tc"])
    aggregator = Aggregator(raw, sites, PREFIX, snapshot_interval_ms=50,
                            consumer="agg-unit-wall")
    aggregator.setup()
    return aggregator


def kiosk_client(chain_app, token: str):
    client = chain_app.server.test_client()
    assert client.get(f"/wall?kiosk={token}").status_code == 302
    return client


def test_a_streets_kiosk_opens_its_wall_and_those_below_only(r, chain_app):
    client = chain_app.server.test_client()
    arrival = client.get(f"/wall?kiosk={unit_kiosk_token(r, PREFIX, 'S1')}")
    assert arrival.status_code == 302
    assert arrival.headers["Location"].endswith("/wall?unit=S1")
    for path in ("/wall?unit=S1", "/wall?unit=C1", "/wall?unit=C2",
                 "/wall?site=ta", "/wall?site=tb"):
        assert client.get(path).status_code == 200, path
    # the neighbour street, what is above, and a site outside the street
    for path in ("/wall?unit=S2", "/wall?unit=C3", "/wall?unit=D1",
                 "/wall?unit=city", "/wall?site=tc", "/wall?unit=nowhere"):
        assert client.get(path).status_code == 403, path
    assert client.get("/events/unit/S2?wall=zh").status_code == 403
    assert client.get("/events/unit/D1?wall=zh").status_code == 403
    assert client.get("/events/unit/S1").status_code == 403  # not a wall's
    assert client.get("/events/tc?wall=zh").status_code == 403


def test_a_sites_kiosk_opens_no_wall_above_its_community(r, chain_app):
    client = kiosk_client(chain_app, kiosk_token(r, PREFIX, "ta"))
    assert client.get("/wall?site=ta").status_code == 200
    assert client.get("/wall?unit=C1").status_code == 200  # its own community
    for unit in ("C2", "S1", "D1", "city"):
        assert client.get(f"/wall?unit={unit}").status_code == 403
        assert client.get(f"/events/unit/{unit}?wall=zh").status_code == 403


def test_a_district_kiosk_reaches_both_streets_but_not_the_city(r, chain_app):
    client = kiosk_client(chain_app, unit_kiosk_token(r, PREFIX, "D1"))
    for unit in ("D1", "S1", "S2", "C3"):
        assert client.get(f"/wall?unit={unit}").status_code == 200
    assert client.get("/wall?unit=city").status_code == 403


def test_the_past_is_what_was_kept_and_dash_where_nothing_was(r, agg, chain_app):
    week_ago = now_ms() - 7 * DAY_MS
    # the street's figures as the roll-up kept them a week ago: one open
    report(r, "ta", ago_ms=60_000)
    drain(agg)
    agg.rollup.sent.clear()
    for state in agg.states.values():
        agg.rollup.after_publish(r, state.keys, state.site, week_ago)
    report(r, "ta", ago_ms=60_000)
    report(r, "tb", ago_ms=60_000)
    drain(agg)
    data = UnitWallData(chain_app.server.extensions["gov"])
    shaped = data.latest("S1", "zh", "overdue")
    c1 = next(c for c in shaped["children"] if c["id"] == "C1")
    c2 = next(c for c in shaped["children"] if c["id"] == "C2")
    assert c1["kpis"]["incidents_open"] == 2
    assert c1["past"]["week"]["incidents_open"] == 1  # as kept, a week ago
    assert c1["past"]["month"] is None  # nothing kept then: shown as "—"
    assert c2["past"]["week"]["incidents_open"] == 0
    assert shaped["past"]["incidents_open"] == [3, 1, None]
    body = json.loads(data.event("S1", "zh", "overdue", None)[1])
    texts = json.dumps(body["props"], ensure_ascii=False)
    assert "+2" in texts and "—" in texts


def test_past_days_are_last_weeks_weekday_and_last_months_date():
    assert past_days(date(2026, 3, 31)) == {"week": "20260324",
                                            "month": "20260228"}
    assert past_days(date(2026, 1, 15)) == {"week": "20260108",
                                            "month": "20251215"}


def test_the_ticker_lists_what_was_escalated_to_the_units_level(r, agg,
                                                                chain_app):
    write_example(r)
    drain(agg)
    data = UnitWallData(chain_app.server.extensions["gov"])
    # tc: one escalated to the street and open (one more closed there)
    s2 = data.latest("S2", "zh", "overdue")
    assert len(s2["ticker"]) == 1
    assert s2["ticker"][0]["status"] in ("escalated", "accepted", "reported")
    assert s2["ticker"][0]["sla"] in ("green", "yellow", "red")
    assert data.latest("S1", "zh", "overdue")["ticker"] == []  # community's own
    incident = report(r, "tb", ago_ms=60_000, grid="G2")
    op(r, "tb", incident, "escalate", "sup", level="street")
    drain(agg)
    assert [row["id"] for row in data.latest("S1", "zh", "overdue")["ticker"]] \
        == [incident]
    assert data.latest("D1", "zh", "overdue")["ticker"] == []


def test_a_report_announces_the_units_new_version(r, agg):
    pubsub = r.pubsub()
    pubsub.subscribe(UnitKeys(PREFIX, "S1").channel, UnitKeys(PREFIX, "city").channel,
                     UnitKeys(PREFIX, "S2").channel)
    drain(agg)
    while pubsub.get_message(timeout=0.05):
        pass
    report(r, "ta", ago_ms=1000)
    drain(agg)
    heard = set()
    while (message := pubsub.get_message(timeout=0.2)) is not None:
        if message["type"] == "message":
            heard.add(message["channel"])
    assert UnitKeys(PREFIX, "S1").channel in heard
    assert UnitKeys(PREFIX, "city").channel in heard
    assert UnitKeys(PREFIX, "S2").channel not in heard
    pubsub.close()
