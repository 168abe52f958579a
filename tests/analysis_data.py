"""A small hand-made history of the ``tiny`` site, with its figures worked out.

Flow (people at the site / grids / entrances, vehicles at gate V1 in G2):

=========== ===== ============================ ===========
local time  site  grids, entrances             vehicles
=========== ===== ============================ ===========
05-06 09:10 10/2  G1 E1 6/1, G2 E2 4/1          3/1
05-06 09:40  5/0  G1 E1 5/0
05-07 18:00  8/8  G2 E2 8/8
05-13 09:05 20/4  G1 E1 20/4                    6/0
=========== ===== ============================ ===========

Incidents (2024-05-13 12:00 is the data time):

- F sanitation L2 G1, 05-01 08:00, closed 05-01 12:00, 500 m from A: not A's original
- A sanitation L2 G1 hotline, 05-07 10:00, closed 14:00 (4 h, on time), in grid
- B sanitation L2 G1 patrol, 05-09 10:00, 30 m from A, closed 20:00 (10 h, late),
  escalated to community: a repeat of A (1.83 days after A's close)
- C parking L1 G2 resident, 05-10 08:00, dispatched, deadline 09:00: overdue
- D parking L3 G2 resident, 05-12 09:00, rejected
- E sanitation L3 G2 camera, 05-13 09:00, escalated to community then street
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from data.history import archive
from data.site import Site

TZ = ZoneInfo("Asia/Shanghai")
AS_OF = datetime(2024, 5, 13, 12, 0, tzinfo=TZ)
LAT, LON = 34.7505, 113.6610


def ms(month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=TZ).timestamp() * 1000)


FLOW = [
    (ms(5, 6, 9, 10), [("site", "site", 10, 2), ("grid", "G1", 6, 1),
                       ("grid", "G2", 4, 1), ("entrance", "E1", 6, 1),
                       ("entrance", "E2", 4, 1), ("gate", "V1", 3, 1),
                       ("vehicles", "vehicles", 3, 1)]),
    (ms(5, 6, 9, 40), [("site", "site", 5, 0), ("grid", "G1", 5, 0),
                       ("entrance", "E1", 5, 0)]),
    (ms(5, 7, 18, 0), [("site", "site", 8, 8), ("grid", "G2", 8, 8),
                       ("entrance", "E2", 8, 8)]),
    (ms(5, 13, 9, 5), [("site", "site", 20, 4), ("grid", "G1", 20, 4),
                       ("entrance", "E1", 20, 4), ("gate", "V1", 6, 0),
                       ("vehicles", "vehicles", 6, 0)]),
]


def record(incident_id: str, category: str, level: int, grid: str, reported: int,
           deadline_h: float, status: str, *, closed: int | None = None,
           solved: str | None = None, channel: str = "resident",
           levels: tuple[str, ...] = (), lat: float | None = None,
           lon: float | None = None) -> dict:
    history = [{"op": "report", "actor": "x", "ts": reported, "to": "reported"}]
    history += [{"op": "escalate", "actor": "sup", "ts": reported + 60_000,
                 "level": lvl, "to": "escalated"} for lvl in levels]
    return {
        "id": incident_id, "category": category, "level": level,
        "title": f"{incident_id} 测试事件", "grid": grid, "channel": channel,
        "lat": lat, "lon": lon, "status": status,
        "owner_level": levels[-1] if levels else "grid", "solved_level": solved,
        "reported_at": reported, "deadline": reported + int(deadline_h * 3_600_000),
        "closed_at": closed, "updated_at": closed or reported, "rework": 0,
        "escalations": len(levels), "merged_into": None, "assignee": None,
        "reporter": "张三丰", "phone": "13812345678", "history": history,
    }


NEAR = 30 / 111_000  # 30 m of latitude
FAR = 500 / 111_000

INCIDENTS = [
    record("F", "sanitation", 2, "G1", ms(5, 1, 8), 8, "closed",
           closed=ms(5, 1, 12), solved="grid", lat=LAT + FAR, lon=LON),
    record("A", "sanitation", 2, "G1", ms(5, 7, 10), 8, "closed",
           closed=ms(5, 7, 14), solved="grid", channel="hotline", lat=LAT, lon=LON),
    record("B", "sanitation", 2, "G1", ms(5, 9, 10), 8, "closed",
           closed=ms(5, 9, 20), solved="community", channel="patrol",
           levels=("community",), lat=LAT + NEAR, lon=LON),
    record("C", "parking", 1, "G2", ms(5, 10, 8), 1, "dispatched"),
    record("D", "parking", 3, "G2", ms(5, 12, 9), 12, "rejected",
           closed=ms(5, 12, 10)),
    record("E", "sanitation", 3, "G2", ms(5, 13, 9), 24, "escalated",
           channel="camera", levels=("community", "street")),
]


def write(root: Path, site: Site) -> None:
    """Write the history above with the archiver's own writers."""
    as_of = int(AS_OF.timestamp() * 1000)
    rows = [(ts, scope, ident, n_in, n_out)
            for ts, items in FLOW for scope, ident, n_in, n_out in items]
    frame = archive.flow_frame(rows, site.timezone)
    for day, part in frame.groupby(frame["minute"].dt.date):
        archive.write_flow_day(root, site, day, part, as_of)
    archive.write_incidents(root, site, INCIDENTS, as_of)


START, END = date(2024, 5, 7), date(2024, 5, 13)
