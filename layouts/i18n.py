"""The message catalog: every piece of UI text, Chinese first, English second.

Layouts never hold literal UI text; they call :func:`t` with a key and the
language of the page (``zh`` by default, ``en`` with ``?lang=en``).
"""

from __future__ import annotations

LANGS = ("zh", "en")

MESSAGES: dict[str, tuple[str, str]] = {
    # shared
    "app.title": ("网格化治理指挥中心", "Grid Governance Command Center"),
    "lang.switch": ("English", "中文"),
    "no_data": ("暂无数据", "No data yet"),
    "unit.people": ("人", "people"),
    "unit.vehicles": ("辆", "vehicles"),
    "unit.items": ("件", "items"),
    # home page
    "home.subtitle": ("实时数据总览与各屏入口", "Live overview and the screens"),
    "home.people_present": ("当前在场人数", "People present now"),
    "home.people_in_1h": ("近1小时进入", "Entries, last hour"),
    "home.people_out_1h": ("近1小时离开", "Exits, last hour"),
    "home.vehicles_today": ("今日车辆进/出", "Vehicles in/out today"),
    "home.incidents_open": ("在办事件", "Open incidents"),
    "home.incidents_overdue": ("超期事件", "Overdue incidents"),
    "home.closed_today": ("今日办结", "Closed today"),
    "home.dead_letters": ("拒收数据条数", "Rejected feed entries"),
    "home.freshness": ("数据时效", "Data age"),
    "home.version": ("快照版本", "Snapshot version"),
    "home.screens": ("屏幕入口", "Screens"),
    "home.waiting": ("等待首个数据快照…", "Waiting for the first snapshot…"),
    "home.redis_down": ("无法连接数据服务（Redis），正在重试…",
                        "Cannot reach the data service (Redis); retrying…"),
    "screen.wall": ("大屏 · 指挥中心", "Wall · command center"),
    "screen.console": ("中屏 · 值班长", "Console · supervisor"),
    "screen.mobile": ("小屏 · 网格员", "Phone · grid worker"),
    "screen.analysis": ("分析 · 研判", "Analysis"),
    "screen.api": ("数据接口（JSON）", "Data API (JSON)"),
    "feed.crowd": ("人流", "Crowd"),
    "feed.traffic": ("车流", "Traffic"),
    "feed.incident": ("事件", "Incidents"),
    "age.seconds": ("{n}秒前", "{n} s ago"),
    "age.minutes": ("{n}分钟前", "{n} min ago"),
    "age.hours": ("{n}小时前", "{n} h ago"),
    "age.never": ("无数据", "no data"),
    # incidents, shared by the screens
    "level.1": ("紧急", "Urgent"),
    "level.2": ("重要", "Important"),
    "level.3": ("一般", "General"),
    "status.reported": ("待受理", "Reported"),
    "status.accepted": ("已立案", "Accepted"),
    "status.dispatched": ("已派遣", "Dispatched"),
    "status.in_progress": ("处置中", "In progress"),
    "status.resolved": ("待核查", "Resolved"),
    "status.closed": ("已结案", "Closed"),
    "status.rejected": ("不予受理", "Rejected"),
    "status.escalated": ("已上报", "Escalated"),
    "status.merged": ("已合并", "Merged"),
    "owner.grid": ("网格", "Grid"),
    "owner.community": ("社区", "Community"),
    "owner.street": ("街道", "Street"),
    "owner.district": ("区", "District"),
    # wall
    "wall.title": ("网格化治理指挥中心", "Grid Governance Command Center"),
    "wall.people_present": ("当前在场人数", "People inside now"),
    "wall.in_1h": ("近1小时进入", "In, last hour"),
    "wall.out_1h": ("近1小时离开", "Out, last hour"),
    "wall.in_today": ("今日进入", "In today"),
    "wall.out_today": ("今日离开", "Out today"),
    "wall.vehicles_today": ("今日车辆 进/出", "Vehicles today in/out"),
    "wall.parking": ("停车占用率", "Parking occupancy"),
    "wall.parking_free": ("空余车位 {n}", "{n} spaces free"),
    "wall.panel_people": ("人流态势", "Crowd"),
    "wall.panel_ranking": ("入口人流排行 · 近1小时", "Busiest entrances · last hour"),
    "wall.panel_vehicles": ("车流与停车 · 近1小时", "Vehicles and parking · last hour"),
    "wall.panel_map": ("网格态势", "Grids"),
    "wall.panel_flow": ("人流趋势 · 近2小时（每分钟）",
                        "People flow · last 2 hours (per minute)"),
    "wall.panel_incidents": ("事件办理", "Incidents"),
    "wall.panel_ticker": ("最新事件", "Latest incidents"),
    "wall.panel_spotlight": ("重点关注", "Spotlight"),
    "wall.open": ("在办事件", "Open"),
    "wall.overdue": ("超期督办", "Overdue"),
    "wall.closed_today": ("今日办结", "Closed today"),
    "wall.on_time": ("按时办结率", "On time"),
    "wall.in_grid": ("小事不出网格", "Solved in grid"),
    "wall.month": ("本月", "this month"),
    "wall.flow_in": ("进入", "In"),
    "wall.flow_out": ("离开", "Out"),
    "wall.flow_in_week": ("上周同期进入", "In, a week ago"),
    "wall.flow_out_week": ("上周同期离开", "Out, a week ago"),
    "wall.vehicles_in": ("驶入", "In"),
    "wall.vehicles_out": ("驶出", "Out"),
    "wall.legend_density": ("密度", "Density"),
    "wall.density.0": ("舒适", "Comfortable"),
    "wall.density.1": ("较多", "Busy"),
    "wall.density.2": ("拥挤", "Crowded"),
    "wall.density.3": ("严重拥挤", "Overcrowded"),
    "wall.legend_entrance": ("出入口（大小=5分钟流量）",
                             "Entrance (size = 5-min flow)"),
    "wall.no_incidents": ("暂无事件", "No incidents"),
    "wall.alert_density": ("{grid} 人员密度{level}：{people}人，达容量{load}%",
                           "{grid}: {level}, {people} people, {load}% of capacity"),
    "wall.alert_urgent": ("紧急事件：{grid} · {category} · {title}",
                          "Urgent incident: {grid} · {category} · {title}"),
    "wall.stale": ("数据已停止更新", "Data is not updating"),
    "wall.stale_age": ("最新数据：{age}", "Newest data: {age}"),
    "wall.stale.server": ("与指挥中心服务器的连接中断，正在重连",
                          "Lost the connection to the server; reconnecting"),
    "wall.stale.redis": ("数据服务（Redis）不可用，正在重试",
                         "The data service (Redis) is down; retrying"),
    "wall.stale.aggregator": ("数据汇聚服务无响应", "The aggregator is not responding"),
    "wall.stale.feeds": ("各路数据源暂无新数据", "No new data from the feeds"),
    "wall.fresh": ("数据时效", "Data age"),
    "wall.spot_cast": ("值班长推送", "Cast by the supervisor"),
    "wall.spot_rotating": ("轮播 · 活跃网格", "Rotating · busiest grids"),
    "wall.spot_people": ("在场人数", "People inside"),
    "wall.spot_load": ("容量占比", "Load"),
    "wall.spot_flow": ("近1小时 进/出", "Last hour in/out"),
    "wall.spot_open": ("在办事件", "Open incidents"),
    "wall.spot_branch": ("网格党支部", "Party branch"),
    "wall.spot_secretary": ("支部书记", "Branch secretary"),
    "wall.spot_worker": ("网格员", "Grid worker"),
    "wall.spot_incident": ("事件详情", "Incident"),
    "wall.spot_status": ("状态", "Status"),
    "wall.spot_owner": ("责任层级", "Owner level"),
    "wall.spot_reporter": ("报告人", "Reporter"),
    "sla.green": ("正常", "On track"),
    "sla.yellow": ("临期", "Due soon"),
    "sla.red": ("超期", "Overdue"),
}


def lang_of(value: str | None) -> str:
    """The language for a ``?lang=`` value: ``en`` if asked for, else ``zh``."""
    return "en" if (value or "").lower().startswith("en") else "zh"


def t(key: str, lang: str = "zh", **values: object) -> str:
    """The text for ``key`` in ``lang``, with ``{name}`` placeholders filled."""
    zh, en = MESSAGES[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def age_text(age_ms: int | None, lang: str = "zh") -> str:
    """How old a piece of data is, in words: "12秒前", "3 min ago"."""
    if age_ms is None:
        return t("age.never", lang)
    seconds = max(0, age_ms // 1000)
    if seconds < 120:
        return t("age.seconds", lang, n=seconds)
    if seconds < 7200:
        return t("age.minutes", lang, n=seconds // 60)
    return t("age.hours", lang, n=seconds // 3600)
