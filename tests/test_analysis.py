"""The analyst's views: filters, and each view's numbers on a hand-made history."""

from __future__ import annotations

import math
from datetime import date

import pytest

from data.history import analytics
from data.history.dataset import (
    FilterError,
    Filters,
    History,
    clear_cache,
    parse_filters,
)
from layouts import analysis_charts as charts
from tests import analysis_data as hand

TODAY = date(2024, 5, 13)


@pytest.fixture
def history(tmp_path, tiny) -> History:
    hand.write(tmp_path, tiny)
    clear_cache()
    return History(tmp_path)


def load(history, tiny, start=hand.START, end=hand.END, **extra):
    return history.load(tiny, Filters(site="tiny", start=start, end=end, **extra))


# --- filters ---------------------------------------------------------------


@pytest.mark.parametrize(("args", "code"), [
    ({"start": "", "end": "2024-05-13"}, "date_missing"),
    ({"start": "2024-05-01", "end": "  "}, "date_missing"),
    ({"start": "2024/05/01", "end": "2024-05-13"}, "date_format"),
    ({"start": "2024-02-30", "end": "2024-05-13"}, "date_format"),
    ({"start": "2024-05-13", "end": "2024-05-01"}, "date_inverted"),
    ({"start": "2024-05-01", "end": "2024-05-14"}, "date_future"),
    ({"start": "2022-01-01", "end": "2024-05-13"}, "range_too_long"),
    ({"start": "2024-05-01", "end": "2024-05-13", "grids": "G1,G9"}, "unknown_grid"),
    ({"start": "2024-05-01", "end": "2024-05-13", "categories": "fire"},
     "unknown_category"),
    ({"start": "2024-05-01", "end": "2024-05-13", "entrance": "E404"},
     "unknown_entrance"),
    ({"start": "2024-05-01", "end": "2024-05-13", "repeat_days": "0"}, "repeat_days"),
    ({"start": "2024-05-01", "end": "2024-05-13", "repeat_days": "x"}, "repeat_days"),
])
def test_bad_filters_say_what_is_wrong(tiny, args, code):
    with pytest.raises(FilterError) as caught:
        parse_filters(args, tiny, TODAY)
    assert caught.value.code == code


def test_filters_round_trip_through_the_url(tiny):
    f = parse_filters({"start": "2024-05-01", "end": "2024-05-13",
                       "grids": "G2, G1,G2", "categories": "parking",
                       "repeat_days": "3"}, tiny, TODAY)
    assert f.grids == ("G2", "G1") and f.categories == ("parking",)
    assert parse_filters(f.query(), tiny, TODAY) == f
    default = parse_filters({}, tiny, TODAY)
    assert (default.start, default.end) == (date(2024, 4, 14), TODAY)


# --- views -----------------------------------------------------------------


def test_heatmap_averages_passages_over_the_days_with_data(history, tiny):
    frame = analytics.flow_heatmap(load(history, tiny), tiny)
    cell = frame.set_index(["weekday", "hour"])["passages"]
    assert cell[0, 9] == 24  # Monday 05-13 09h: 20 in + 4 out, one Monday
    assert cell[1, 18] == 16  # Tuesday 05-07 18h
    assert cell[0, 8] == 0 and set(frame["weekday"]) == {0, 1}
    wider = analytics.flow_heatmap(load(history, tiny, start=date(2024, 5, 6)), tiny)
    # two Mondays: (10 + 2 + 5 + 0 + 20 + 4) / 2
    assert wider.set_index(["weekday", "hour"])["passages"][0, 9] == 20.5
    one = analytics.flow_heatmap(load(history, tiny, entrance="E2"), tiny)
    assert one.set_index(["weekday", "hour"])["passages"][1, 18] == 16
    assert one.set_index(["weekday", "hour"])["passages"][0, 9] == 0


def test_daily_trend_compares_with_a_week_earlier(history, tiny):
    frame = analytics.daily_trend(load(history, tiny), tiny).set_index("day")
    monday = frame.loc[date(2024, 5, 13)]
    assert (monday["people_in"], monday["people_in_week_ago"]) == (20, 15)
    assert monday["people_wow_pct"] == pytest.approx(33.3)
    assert (monday["vehicles_in"], monday["vehicles_in_week_ago"]) == (6, 3)
    assert monday["vehicles_wow_pct"] == 100
    assert math.isnan(frame.loc[date(2024, 5, 9), "people_in"])  # no data that day
    assert list(frame.index) == [date(2024, 5, d) for d in range(7, 14)]
    g2 = analytics.daily_trend(load(history, tiny, grids=("G2",)), tiny)
    g2 = g2.set_index("day").loc[date(2024, 5, 13)]
    assert (g2["people_in"], g2["people_in_week_ago"], g2["people_wow_pct"]) == (
        0, 4, -100)
    assert g2["vehicles_in"] == 6  # gate V1 stands in G2


def test_incident_breakdown(history, tiny):
    frame = analytics.incident_breakdown(load(history, tiny), tiny)
    got = {(d, k): n for d, k, n in frame.itertuples(index=False)}
    assert got == {
        ("category", "sanitation"): 3, ("category", "parking"): 2,
        ("grid", "G2"): 3, ("grid", "G1"): 2,
        ("channel", "resident"): 2, ("channel", "hotline"): 1,
        ("channel", "patrol"): 1, ("channel", "camera"): 1,
        ("level", "2"): 2, ("level", "3"): 2, ("level", "1"): 1,
    }
    parking = analytics.incident_breakdown(
        load(history, tiny, categories=("parking",)), tiny)
    assert parking[parking["dimension"] == "grid"]["count"].tolist() == [2]


def test_resolve_times_and_sla(history, tiny):
    data = load(history, tiny)
    times = analytics.resolve_times(data, tiny)
    assert times[["id", "hours"]].values.tolist() == [["A", 4.0], ["B", 10.0]]
    sla = analytics.sla_compliance(data, tiny).set_index(["grid", "level"])
    assert sla.loc[("G1", 2)].to_dict() == {"closed": 2, "on_time": 1,
                                             "overdue_open": 0, "on_time_rate": 0.5}
    assert sla.loc[("G2", 1), "overdue_open"] == 1
    assert math.isnan(sla.loc[("G2", 1), "on_time_rate"])
    assert sla.loc[("G2", 3), ["closed", "overdue_open"]].tolist() == [0, 0]


def test_solved_in_grid_and_escalation_flow(history, tiny):
    data = load(history, tiny)
    solved = analytics.solved_in_grid(data, tiny)
    assert solved[["period", "closed", "in_grid", "share"]].values.tolist() == [
        [date(2024, 5, 7), 1, 1, 1.0], [date(2024, 5, 9), 1, 0, 0.0]]
    links = analytics.escalation_flow(data, tiny)
    assert {(s, t): n for s, t, n in links.itertuples(index=False)} == {
        ("grid", "community"): 2, ("grid", "closed"): 1, ("grid", "open"): 1,
        ("grid", "other"): 1, ("community", "street"): 1,
        ("community", "closed"): 1, ("street", "open"): 1}


def test_repeats_flag_a_problem_back_soon_after_its_closure(history, tiny):
    repeats = analytics.repeat_incidents(load(history, tiny), tiny)
    assert repeats[["id", "previous_id"]].values.tolist() == [["B", "A"]]
    assert repeats["days_after"].tolist() == [pytest.approx(1.83, abs=0.01)]
    assert repeats["distance_m"].tolist() == [30]
    short = analytics.repeat_incidents(load(history, tiny, repeat_days=1), tiny)
    assert short.empty  # 1.83 days is more than one
    two = analytics.repeat_incidents(load(history, tiny, repeat_days=2), tiny)
    assert two["id"].tolist() == ["B"]
    none = analytics.repeat_incidents(
        load(history, tiny, start=date(2024, 5, 10)), tiny)
    assert none.empty


def test_summary(history, tiny):
    got = analytics.summary(load(history, tiny), tiny)
    assert got == {"people_in": 28, "vehicles_in": 6, "reported": 5, "closed": 2,
                   "on_time_rate": 0.5, "in_grid_share": 0.5, "median_hours": 7.0,
                   "repeats": 1}


def test_a_range_without_data_is_empty_not_an_error(history, tiny):
    data = load(history, tiny, start=date(2024, 3, 1), end=date(2024, 3, 31))
    assert data.empty
    for name in charts.CHARTS:
        frame, fig = charts.build(name, data, tiny)
        assert frame.empty or name == "daily_trend"
        assert fig.layout.annotations[0].text in ("所选条件下暂无数据",
                                                  "所选范围内未发现疑似假性整改")


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_every_chart_draws_with_names_in_both_languages(history, tiny, name):
    data = load(history, tiny)
    frame, fig = charts.build(name, data, tiny, lang="zh")
    assert fig.data, name
    _, fig_en = charts.build(name, data, tiny, lang="en")
    assert fig_en.data
    if "grid" in frame.columns:
        assert set(frame["grid_name"]) <= {"一网格", "二网格"}
