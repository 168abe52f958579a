"""The figures of a unit over a period, as city bulletins compute them, in
pure pandas over the rows :mod:`data.history.unit_read` read.

The formulas are the README's ("The chain"), over a period [t0, t1) instead
of the current month (t1 is the end of the last day, or the data time if
that is earlier, so that the current month agrees with the live roll-up):

- 已结案 closed: closed (verified) in the period;
- 应结案数 due to close: closed + overdue at t1 (reported before t1, past
  its deadline at t1, not closed, rejected or merged by then);
- 结案率 ``closure_rate`` = closed ÷ due; 按期结案率 ``on_time_rate`` =
  closed by the deadline ÷ due;
- 返工率 ``rework_rate`` = closed incidents reopened in the period (a
  ``reopen`` from ``closed`` in the audit trail) ÷ closed;
- 小事不出网格 ``solved_in_grid_share`` = closed while owned by the grid ÷ closed.

A rate with nothing to divide by is None. An incident's current record is
what the history holds, so a closure later taken back (reopened) is not
counted, as the roll-up takes it back.

Repeats (recurring problems): an incident reported within ``repeat_days``
after another of the same category in the same grid of the same site was
closed, within :data:`~data.history.analytics.SAME_PLACE_M` metres when both
carry coordinates (the site views' 假性整改 rule).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from data.history.analytics import SAME_PLACE_M, _distance_m

LOOKBACK_DAYS = 92  # incidents reported this long before a period still count
COUNTS = ("reported", "closed", "due", "overdue", "on_time", "rework", "in_grid",
          "repeats")
RATES = ("closure_rate", "on_time_rate", "rework_rate", "solved_in_grid_share")
REPEAT_COLUMNS = ["id", "title", "site", "grid", "community", "category",
                  "reported_at", "previous_id", "previous_closed_at", "days_after"]


def period(start: date, end: date, tz: str, as_of: datetime | None
           ) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[t0, t1) of the local days ``start``..``end``, t1 no later than ``as_of``."""
    zone = ZoneInfo(tz)
    t0 = pd.Timestamp(datetime.combine(start, time(), zone))
    t1 = pd.Timestamp(datetime.combine(end + timedelta(days=1), time(), zone))
    if as_of is not None and pd.Timestamp(as_of) < t1:
        t1 = pd.Timestamp(as_of)
    return t0, t1


def reopen_times(reworked: pd.DataFrame) -> pd.DataFrame:
    """``id``, ``ts`` (ms) of each reopen of a closed incident, from the audit
    trails (``history``) of the rows given (those with ``rework`` > 0)."""
    rows = []
    for incident, trail in zip(reworked["id"], reworked["history"], strict=True):
        for entry in json.loads(trail or "[]"):
            if entry.get("op") == "reopen" and entry.get("from") == "closed":
                rows.append((incident, int(entry["ts"])))
    return pd.DataFrame(rows, columns=["id", "ts"])


def flags(frame: pd.DataFrame, reopens: pd.DataFrame, t0: pd.Timestamp,
          t1: pd.Timestamp) -> pd.DataFrame:
    """One row per incident: 0/1 for each count of :data:`COUNTS` but repeats."""
    closed_at = frame["closed_at"]
    closed = ((frame["status"] == "closed") & (closed_at >= t0) & (closed_at < t1))
    done = closed_at.notna() & (closed_at < t1)
    overdue = ((frame["reported_at"] < t1) & (frame["deadline"] < t1) & ~done)
    lo, hi = int(t0.timestamp() * 1000), int(t1.timestamp() * 1000)
    in_period = reopens[(reopens["ts"] >= lo) & (reopens["ts"] < hi)]
    rework = frame["id"].map(in_period["id"].value_counts()).fillna(0)
    return pd.DataFrame({
        "reported": (frame["reported_at"] >= t0) & (frame["reported_at"] < t1),
        "closed": closed, "overdue": overdue, "due": closed | overdue,
        "on_time": closed & (closed_at <= frame["deadline"]),
        "rework": rework.astype(int),
        "in_grid": closed & (frame["solved_level"] == "grid"),
    }, index=frame.index).astype(int)


def _rate(part: pd.Series, whole: pd.Series) -> pd.Series:
    return (part / whole.where(whole > 0)).round(4).astype(object).where(
        whole > 0, None)


def with_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """``counts`` with the four rates of :data:`RATES` added."""
    return counts.assign(
        closure_rate=_rate(counts["closed"], counts["due"]),
        on_time_rate=_rate(counts["on_time"], counts["due"]),
        rework_rate=_rate(counts["rework"], counts["closed"]),
        solved_in_grid_share=_rate(counts["in_grid"], counts["closed"]))


def totals(marks: pd.DataFrame, repeats: pd.DataFrame) -> dict[str, int | float | None]:
    """The unit's own figures: every count and rate."""
    counts = pd.DataFrame([{**{k: int(marks[k].sum()) for k in marks.columns},
                            "repeats": len(repeats)}])
    row = with_rates(counts).iloc[0]
    return {k: (None if row[k] is None else
                int(row[k]) if k in COUNTS else float(row[k]))
            for k in (*COUNTS, *RATES)}


def breakdown(frame: pd.DataFrame, marks: pd.DataFrame, repeats: pd.DataFrame,
              keys: pd.Series, order: list[str],
              names: Mapping[str, str]) -> pd.DataFrame:
    """Counts and rates per key (a child unit, or a grid), in ``order``,
    every key present (zeros where it has no incident)."""
    grouped = marks.groupby(keys.to_numpy()).sum()
    out = grouped.reindex(order, fill_value=0)
    rep = repeats["key"].value_counts() if len(repeats) else pd.Series(dtype=int)
    out["repeats"] = rep.reindex(order, fill_value=0).to_numpy()
    out = out.astype(int)
    out.insert(0, "name", [names.get(k, k) for k in order])
    out.index.name = "unit"
    return with_rates(out.reset_index())[["unit", "name", *COUNTS, *RATES]]


def repeats(frame: pd.DataFrame, t0: pd.Timestamp, t1: pd.Timestamp,
            repeat_days: int) -> pd.DataFrame:
    """Incidents reported in [t0, t1) soon after a closure at the same place
    (:data:`REPEAT_COLUMNS`), each naming its latest original."""
    later = frame[(frame["reported_at"] >= t0) & (frame["reported_at"] < t1)
                  ].reset_index(drop=True)
    earlier = frame[frame["status"] == "closed"].reset_index(drop=True)
    if later.empty or earlier.empty:
        return pd.DataFrame(columns=REPEAT_COLUMNS)

    def place(rows: pd.DataFrame) -> pd.Series:
        return rows["site"] + "\x1f" + rows["grid"] + "\x1f" + rows["category"]

    codes = pd.factorize(pd.concat([place(later), place(earlier)],
                                   ignore_index=True))[0]
    n = len(later)
    left = pd.DataFrame({"place": codes[:n], "row": np.arange(n),
                         "reported_at": later["reported_at"],
                         "lat": later["lat"], "lon": later["lon"]})
    right = pd.DataFrame({"place": codes[n:], "row_prev": np.arange(len(earlier)),
                          "closed_at_prev": earlier["closed_at"],
                          "lat_prev": earlier["lat"], "lon_prev": earlier["lon"]})
    pairs = left.merge(right, on="place")
    gap = pairs["reported_at"] - pairs["closed_at_prev"]
    same = (later["id"].to_numpy()[pairs["row"]]
            == earlier["id"].to_numpy()[pairs["row_prev"]])
    pairs = pairs[~same & (gap >= pd.Timedelta(0))
                  & (gap <= pd.Timedelta(days=repeat_days))]
    far = _distance_m(pairs["lat"], pairs["lon"], pairs["lat_prev"],
                      pairs["lon_prev"])
    pairs = pairs[far.isna() | (far <= SAME_PLACE_M)]
    pairs = pairs.sort_values("closed_at_prev").drop_duplicates("row", keep="last")
    now = later.iloc[pairs["row"].to_numpy()].reset_index(drop=True)
    before = earlier.iloc[pairs["row_prev"].to_numpy()].reset_index(drop=True)
    out = now[["id", "title", "site", "grid", "community", "category",
               "reported_at"]].assign(
        previous_id=before["id"], previous_closed_at=before["closed_at"],
        days_after=((now["reported_at"] - before["closed_at"])
                    .dt.total_seconds() / 86400).round(2))
    return out.sort_values("reported_at", ignore_index=True)[REPEAT_COLUMNS]


def top_recurring(repeat_rows: pd.DataFrame, reported: pd.DataFrame,
                  n: int = 10) -> pd.DataFrame:
    """The problems that come back most: ``kind`` (category, or grid as
    ``site/grid``), ``key``, ``repeats``, ``reported`` (in the period),
    most repeats first, then most reported."""
    parts = []
    for kind, key_of in (("category", lambda f: f["category"]),
                         ("grid", lambda f: f["site"] + "/" + f["grid"])):
        rep = key_of(repeat_rows).value_counts() if len(repeat_rows) else \
            pd.Series(dtype=int)
        rep = rep[rep > 0]
        total = key_of(reported).value_counts() if len(reported) else \
            pd.Series(dtype=int)
        part = pd.DataFrame({"kind": kind, "key": rep.index,
                             "repeats": rep.to_numpy().astype(int),
                             "reported": total.reindex(rep.index, fill_value=0)
                             .to_numpy().astype(int)})
        parts.append(part.sort_values(["repeats", "reported", "key"],
                                      ascending=[False, False, True]).head(n))
    return pd.concat(parts, ignore_index=True)
