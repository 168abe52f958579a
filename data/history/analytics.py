"""The numbers of the analyst's views, as pure pandas over a :class:`Dataset`.

Each function takes the rows read once for a set of filters and returns the
frame under one chart (the same frame is exported as CSV and Excel):

- :func:`flow_heatmap` — average passages (in + out) per hour of day and weekday;
- :func:`daily_trend` — people and vehicles in per day, against a week earlier;
- :func:`incident_breakdown` — incidents by category, grid, channel and level;
- :func:`resolve_times` — hours from report to close, per closed incident;
- :func:`sla_compliance` — closed on time per grid and level;
- :func:`solved_in_grid` — share of closures at grid level, per day or week;
- :func:`escalation_flow` — grid → community → street → district, and outcome;
- :func:`repeat_incidents` — the same problem again soon after a closure
  (possible false closure, 假性整改).

Incident views count incidents *reported* in the range (a cohort), so the
figures of a past range do not change as later days pass, except for the
incidents of that range that are still being worked on.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from data.history.dataset import Dataset
from data.site import Site
from data.terms import CHAIN

SAME_PLACE_M = 100.0  # two reports this close (and in one grid) are one place
OUTCOMES = ("closed", "open", "other")


def _people_rows(data: Dataset, site: Site) -> pd.DataFrame:
    f, flow = data.filters, data.flow
    if f.entrance:
        return flow[(flow["scope"] == "entrance") & (flow["id"] == f.entrance)]
    if f.grids:
        return flow[(flow["scope"] == "grid") & flow["id"].isin(f.grids)]
    return flow[flow["scope"] == "site"]


def _vehicle_rows(data: Dataset, site: Site) -> pd.DataFrame:
    f, flow = data.filters, data.flow
    if f.entrance:
        return flow[(flow["scope"] == "gate") & (flow["id"] == f.entrance)]
    if f.grids:
        gates = [e.id for e in site.entrances.values() if e.grid in f.grids]
        return flow[(flow["scope"] == "gate") & flow["id"].isin(gates)]
    return flow[flow["scope"] == "vehicles"]


def _in_range(frame: pd.DataFrame, column: str, data: Dataset) -> pd.DataFrame:
    days = frame[column].dt.date
    return frame[(days >= data.filters.start) & (days <= data.filters.end)]


def flow_heatmap(data: Dataset, site: Site) -> pd.DataFrame:
    """weekday (0 = Monday), hour, passages: the mean over the days with data."""
    rows = _in_range(_people_rows(data, site), "minute", data)
    days = [d for d in data.flow_days if data.filters.start <= d <= data.filters.end]
    if rows.empty or not days:
        return pd.DataFrame(columns=["weekday", "hour", "passages", "days"])
    per_weekday = pd.Series([d.weekday() for d in days]).value_counts()
    grouped = rows.assign(weekday=rows["minute"].dt.weekday,
                          hour=rows["minute"].dt.hour,
                          passages=rows["in"] + rows["out"])
    sums = grouped.groupby(["weekday", "hour"])["passages"].sum()
    full = pd.MultiIndex.from_product([sorted(per_weekday.index), range(24)],
                                      names=["weekday", "hour"])
    out = sums.reindex(full, fill_value=0).reset_index()
    out["days"] = out["weekday"].map(per_weekday).astype(int)
    out["passages"] = (out["passages"] / out["days"]).round(1)
    return out[["weekday", "hour", "passages", "days"]]


def daily_trend(data: Dataset, site: Site) -> pd.DataFrame:
    """Per day: people and vehicles in and out, the same weekday a week before,
    and the week-over-week change in percent (empty where there is no base)."""
    f = data.filters
    days = pd.date_range(f.start - timedelta(days=7), f.end, freq="D").date
    out = pd.DataFrame(index=pd.Index(days, name="day"))
    for name, rows in (("people", _people_rows(data, site)),
                       ("vehicles", _vehicle_rows(data, site))):
        per_day = rows.groupby(rows["minute"].dt.date)[["in", "out"]].sum()
        for col in ("in", "out"):
            out[f"{name}_{col}"] = per_day[col].reindex(out.index)
    present = out.index.isin(list(data.flow_days))
    out.loc[present] = out.loc[present].fillna(0)
    for name in ("people", "vehicles"):
        prev = out[f"{name}_in"].shift(7)
        out[f"{name}_in_week_ago"] = prev
        change = (out[f"{name}_in"] - prev) / prev.where(prev > 0) * 100
        out[f"{name}_wow_pct"] = change.round(1)
    out = out.loc[[d >= f.start for d in out.index]].reset_index()
    return out


def hourly_profile(data: Dataset, site: Site) -> pd.DataFrame:
    """Per hour of the range's last day: people in, and the same hour a week
    before (the briefing's "today at a glance")."""
    rows = _people_rows(data, site)
    day = data.filters.end
    hours = rows["minute"].dt.hour
    dates = rows["minute"].dt.date
    today = rows[dates == day].groupby(hours[dates == day])["in"].sum()
    before = day - timedelta(days=7)
    week = rows[dates == before].groupby(hours[dates == before])["in"].sum()
    out = pd.DataFrame({"hour": range(24)})
    out["people_in"] = today.reindex(range(24)).to_numpy()
    out["people_in_week_ago"] = week.reindex(range(24)).to_numpy()
    if day in data.flow_days and len(today):
        seen = out["hour"] <= today.index.max()  # later hours of today: not yet
        out.loc[seen, "people_in"] = out.loc[seen, "people_in"].fillna(0)
    return out


def incidents_in_range(data: Dataset) -> pd.DataFrame:
    """Incidents reported in the range, in the chosen grids and categories."""
    f, inc = data.filters, data.incidents
    inc = _in_range(inc, "reported_at", data)
    if f.grids:
        inc = inc[inc["grid"].isin(f.grids)]
    if f.categories:
        inc = inc[inc["category"].isin(f.categories)]
    return inc


def incident_breakdown(data: Dataset, site: Site) -> pd.DataFrame:
    """dimension (category, grid, channel, level), key, count — largest first."""
    inc = incidents_in_range(data)
    parts = []
    for dim in ("category", "grid", "channel", "level"):
        counts = inc[dim].astype(str).value_counts()
        parts.append(pd.DataFrame({"dimension": dim, "key": counts.index,
                                   "count": counts.to_numpy()}))
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"count": int})


def resolve_times(data: Dataset, site: Site) -> pd.DataFrame:
    """Every closed incident of the range with its hours from report to close."""
    inc = incidents_in_range(data)
    closed = inc[inc["status"] == "closed"]
    hours = (closed["closed_at"] - closed["reported_at"]).dt.total_seconds() / 3600
    out = closed[["id", "grid", "category", "level"]].assign(hours=hours.round(2))
    return out.sort_values("hours", ignore_index=True)


def sla_compliance(data: Dataset, site: Site) -> pd.DataFrame:
    """Per grid and level: closed, closed on time, on-time rate, overdue still open.

    The rate counts closed incidents only (as the wall does); incidents open
    past their deadline at the data time are shown beside it, not hidden.
    """
    inc = incidents_in_range(data)
    now = data.as_of if data.as_of is not None else pd.Timestamp.now(tz=site.timezone)
    closed = inc["status"] == "closed"
    frame = inc.assign(
        closed=closed, on_time=closed & (inc["closed_at"] <= inc["deadline"]),
        overdue_open=~inc["status"].isin(["closed", "rejected", "merged"])
        & (inc["deadline"] < now))
    out = frame.groupby(["grid", "level"], as_index=False)[
        ["closed", "on_time", "overdue_open"]].sum()
    out["on_time_rate"] = (out["on_time"] / out["closed"].where(out["closed"] > 0)
                           ).round(3)
    return out.astype({"closed": int, "on_time": int, "overdue_open": int})


def solved_in_grid(data: Dataset, site: Site) -> pd.DataFrame:
    """Per report day (per week over 62 days): closed, closed at grid level, share."""
    inc = incidents_in_range(data)
    closed = inc[inc["status"] == "closed"]
    weekly = data.filters.days > 62
    period = closed["reported_at"].dt.date
    if weekly:
        period = closed["reported_at"].dt.to_period("W-SUN").dt.start_time.dt.date
    frame = pd.DataFrame({"period": period,
                          "in_grid": (closed["solved_level"] == "grid").astype(int)})
    out = frame.groupby("period", as_index=False).agg(
        closed=("in_grid", "size"), in_grid=("in_grid", "sum"))
    out["share"] = (out["in_grid"] / out["closed"]).round(3)
    out.insert(1, "unit", "week" if weekly else "day")
    return out


def _outcome(status: str) -> str:
    if status == "closed":
        return "closed"
    return "other" if status in ("rejected", "merged") else "open"


def escalation_flow(data: Dataset, site: Site) -> pd.DataFrame:
    """Links ``source`` → ``target`` with ``count``: each step up the chain an
    incident took, then from its last level to its outcome (closed, open, other)."""
    inc = incidents_in_range(data)
    links: dict[tuple[str, str], int] = {}
    for path, status in zip(inc["path"], inc["status"], strict=True):
        levels = (path or CHAIN[0]).split(">")
        for a, b in zip(levels, levels[1:], strict=False):
            links[a, b] = links.get((a, b), 0) + 1
        key = (levels[-1], _outcome(status))
        links[key] = links.get(key, 0) + 1
    order = {name: n for n, name in enumerate((*CHAIN, *OUTCOMES))}
    rows = sorted(links.items(), key=lambda kv: (order[kv[0][0]], order[kv[0][1]]))
    return pd.DataFrame([(a, b, n) for (a, b), n in rows],
                        columns=["source", "target", "count"])


def _distance_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Equirectangular distance in metres: exact enough within a community."""
    k = math.pi / 180
    x = (lon2 - lon1) * k * np.cos((lat1 + lat2) / 2 * k)
    y = (lat2 - lat1) * k
    return 6_371_000 * np.sqrt(x * x + y * y)


def repeat_incidents(data: Dataset, site: Site) -> pd.DataFrame:
    """Incidents reported within ``repeat_days`` after another of the same
    category at the same place was closed: possible false closures (假性整改).

    Same place: the same grid and, where both reports carry coordinates,
    within :data:`SAME_PLACE_M` metres. Each repeat names its latest original.
    """
    f, inc = data.filters, data.incidents
    columns = ["id", "title", "category", "grid", "reported_at", "previous_id",
               "previous_title", "previous_closed_at", "days_after", "distance_m"]
    later = incidents_in_range(data).reset_index(drop=True)
    earlier = inc[inc["status"] == "closed"].reset_index(drop=True)
    if later.empty or earlier.empty:
        return pd.DataFrame(columns=columns)
    # pair on integer codes and row numbers only; the text is looked up for the
    # few pairs that remain (merging the text columns was most of the time)
    codes = pd.factorize(pd.concat([later["category"] + "\x1f" + later["grid"],
                                    earlier["category"] + "\x1f" + earlier["grid"]],
                                   ignore_index=True))[0]
    ids = pd.factorize(pd.concat([later["id"], earlier["id"]], ignore_index=True))[0]
    n = len(later)
    left = pd.DataFrame({"place": codes[:n], "row": np.arange(n), "key": ids[:n],
                         "reported_at": later["reported_at"],
                         "lat": later["lat"], "lon": later["lon"]})
    right = pd.DataFrame({"place": codes[n:], "row_prev": np.arange(len(earlier)),
                          "key_prev": ids[n:], "closed_at_prev": earlier["closed_at"],
                          "lat_prev": earlier["lat"], "lon_prev": earlier["lon"]})
    pairs = left.merge(right, on="place")
    gap = pairs["reported_at"] - pairs["closed_at_prev"]
    pairs = pairs[(pairs["key"] != pairs["key_prev"]) & (gap >= pd.Timedelta(0))
                  & (gap <= pd.Timedelta(days=f.repeat_days))]
    distance = _distance_m(pairs["lat"], pairs["lon"], pairs["lat_prev"],
                           pairs["lon_prev"])
    pairs = pairs.assign(distance_m=distance.round(0))
    pairs = pairs[pairs["distance_m"].isna() | (pairs["distance_m"] <= SAME_PLACE_M)]
    pairs = pairs.sort_values("closed_at_prev").drop_duplicates("key", keep="last")
    pairs = pairs.reset_index(drop=True)
    now = later.iloc[pairs["row"].to_numpy()].reset_index(drop=True)
    before = earlier.iloc[pairs["row_prev"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame({
        "id": now["id"], "title": now["title"], "category": now["category"],
        "grid": now["grid"], "reported_at": now["reported_at"],
        "previous_id": before["id"], "previous_title": before["title"],
        "previous_closed_at": before["closed_at"],
        "days_after": ((pairs["reported_at"] - pairs["closed_at_prev"])
                       .dt.total_seconds() / 86400).round(2),
        "distance_m": pairs["distance_m"],
    })
    return out.sort_values("reported_at", ignore_index=True)[columns]


def summary(data: Dataset, site: Site) -> dict[str, float | int | None]:
    """The headline figures of the range (KPI tiles, the briefing's first page)."""
    trend = daily_trend(data, site)
    inc = incidents_in_range(data)
    closed = inc[inc["status"] == "closed"]
    hours = (closed["closed_at"] - closed["reported_at"]).dt.total_seconds() / 3600

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 3) if whole else None

    def total(col: str) -> int | None:
        return None if trend[col].isna().all() else int(trend[col].sum())

    return {
        "people_in": total("people_in"), "vehicles_in": total("vehicles_in"),
        "reported": len(inc), "closed": len(closed),
        "on_time_rate": share(int((closed["closed_at"] <= closed["deadline"]).sum()),
                              len(closed)),
        "in_grid_share": share(int((closed["solved_level"] == "grid").sum()),
                               len(closed)),
        "median_hours": round(float(hours.median()), 2) if len(hours) else None,
        "repeats": len(repeat_incidents(data, site)),
    }
