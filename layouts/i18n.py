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
