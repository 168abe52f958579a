"""A hand-made history of the three chain sites (tests/chain.py) for May 2024,
with the unit figures worked out by hand (data time 2024-06-03 12:00;
the period is [05-01 00:00, 06-01 00:00) local time).

ta (C1, street S1):
- A sanitation L2 G1 05-03 08:00, closed 12:00 (on time), in grid
- B sanitation L2 G1 05-06 09:00, 10 m from A, closed 20:00 (late), solved at
  community: a repeat of A (2.9 days after A's close)
- C parking L1 G2 05-20 08:00, deadline 09:00, dispatched: overdue at 06-01
- D parking L2 G2 04-28 10:00, closed 05-02 10:00 (late), in grid
- E sanitation L3 G1 05-10 09:00 (500 m away), closed 15:00, reopened
  05-12 10:00 (rework), closed again 05-13 10:00 (late: deadline 05-11 09:00),
  in grid
  → reported 4, closed 4, on time 1, overdue 1, due 5, rework 1, in grid 3,
  repeats 1
tb (C2, street S1):
- F sanitation L2 G1 05-15 10:00, closed 11:00 on time, in grid
- G sanitation L2 G1 05-18 10:00, no position, closed 12:00 on time, in grid:
  a repeat of F
- H parking L3 G2 05-31 20:00, deadline 06-01 08:00: open, not yet overdue
- I parking L2 G2 05-05 09:00, rejected 10:00
- J sanitation L2 G2 04-30 20:00, deadline 05-01 04:00, closed 06-02 10:00:
  overdue at 06-01
  → reported 4, closed 2, on time 2, overdue 1, due 3, rework 0, in grid 2,
  repeats 1
tc (C3, street S2):
- K sanitation L1 G1 05-08 08:00, closed 09:00 on time, solved at street
- L parking L2 G2 05-25 08:00, escalated, open: overdue
- M sanitation L2 G1 03-20 08:00, closed 03-21, reopened 05-04 10:00, open:
  overdue, one rework in May
  → reported 2, closed 1, on time 1, overdue 2, due 3, rework 1, in grid 0
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from data.history import archive
from data.site import Site

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2024, 6, 3, 12, 0, tzinfo=TZ)
LAT, LON = 34.7505, 113.6610
NEAR, FAR = 10 / 111_000, 500 / 111_000
MONTH = "2024-05"
START, END = date(2024, 5, 1), date(2024, 5, 31)


def ms(month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=TZ).timestamp() * 1000)


def record(site: str, name: str, category: str, level: int, grid: str,
           reported: int, deadline_h: float, status: str, *,
           closed: int | None = None, solved: str | None = None,
           reopened: tuple[int, ...] = (), lat: float | None = LAT,
           lon: float | None = LON) -> dict:
    history = [{"op": "report", "actor": "x", "ts": reported, "to": "reported"}]
    history += [{"op": "reopen", "actor": "sup", "ts": ts, "from": "closed",
                 "to": "dispatched"} for ts in reopened]
    return {
        "id": f"{site}-{name}", "category": category, "level": level,
        "title": f"{site}{name} 单元事件", "grid": grid, "channel": "patrol",
        "lat": lat, "lon": lon, "status": status,
        "owner_level": solved or "grid", "solved_level": solved,
        "reported_at": reported, "deadline": reported + int(deadline_h * 3_600_000),
        "closed_at": closed, "updated_at": closed or reported,
        "rework": len(reopened), "escalations": 0, "merged_into": None,
        "assignee": None, "reporter": "张三丰", "phone": "13812345678",
        "history": history,
    }


INCIDENTS = {
    "ta": [
        record("ta", "A", "sanitation", 2, "G1", ms(5, 3, 8), 8, "closed",
               closed=ms(5, 3, 12), solved="grid"),
        record("ta", "B", "sanitation", 2, "G1", ms(5, 6, 9), 8, "closed",
               closed=ms(5, 6, 20), solved="community", lat=LAT + NEAR),
        record("ta", "C", "parking", 1, "G2", ms(5, 20, 8), 1, "dispatched"),
        record("ta", "D", "parking", 2, "G2", ms(4, 28, 10), 4, "closed",
               closed=ms(5, 2, 10), solved="grid"),
        record("ta", "E", "sanitation", 3, "G1", ms(5, 10, 9), 24, "closed",
               closed=ms(5, 13, 10), solved="grid", reopened=(ms(5, 12, 10),),
               lat=LAT + FAR),
    ],
    "tb": [
        record("tb", "F", "sanitation", 2, "G1", ms(5, 15, 10), 8, "closed",
               closed=ms(5, 15, 11), solved="grid"),
        record("tb", "G", "sanitation", 2, "G1", ms(5, 18, 10), 8, "closed",
               closed=ms(5, 18, 12), solved="grid", lat=None, lon=None),
        record("tb", "H", "parking", 3, "G2", ms(5, 31, 20), 12, "dispatched"),
        record("tb", "I", "parking", 2, "G2", ms(5, 5, 9), 4, "rejected",
               closed=ms(5, 5, 10)),
        record("tb", "J", "sanitation", 2, "G2", ms(4, 30, 20), 8, "closed",
               closed=ms(6, 2, 10), solved="grid"),
    ],
    "tc": [
        record("tc", "K", "sanitation", 1, "G1", ms(5, 8, 8), 2, "closed",
               closed=ms(5, 8, 9), solved="street"),
        record("tc", "L", "parking", 2, "G2", ms(5, 25, 8), 4, "escalated"),
        record("tc", "M", "sanitation", 2, "G1", ms(3, 20, 8), 10, "dispatched",
               reopened=(ms(5, 4, 10),)),
    ],
}

# (reported, closed, due, overdue, on_time, rework, in_grid, repeats)
COUNTS = {"C1": (4, 4, 5, 1, 1, 1, 3, 1), "C2": (4, 2, 3, 1, 2, 0, 2, 1),
          "C3": (2, 1, 3, 2, 1, 1, 0, 0)}
# closure, on time, rework, solved in the grid
RATES = {"S1": (6 / 8, 3 / 8, 1 / 6, 5 / 6), "S2": (1 / 3, 1 / 3, 1.0, 0.0),
         "D1": (7 / 11, 4 / 11, 2 / 7, 5 / 7),
         "C1": (4 / 5, 1 / 5, 1 / 4, 3 / 4), "C2": (2 / 3, 2 / 3, 0.0, 1.0)}


def write(root: Path, sites: dict[str, Site]) -> None:
    """Write the history above with the archiver's own writers."""
    as_of = int(AS_OF.timestamp() * 1000)
    for site_id, records in INCIDENTS.items():
        archive.write_incidents(root, sites[site_id], records, as_of)
