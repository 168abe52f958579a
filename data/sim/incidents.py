"""Synthetic incidents for the demo feed: reports and their workflow ops.

Pure, no Redis: :class:`IncidentMaker` turns a moment into a ``report`` entry of
one of the site's categories, with a believable Chinese title, a place near an
entrance of the grid, a masked-able synthetic reporter, and the plan of the
workflow ops that follow it over the next minutes. Actors are chosen so that
:func:`data.incidents.lifecycle.authorize` accepts every op: a supervisor whose
scope and level cover the incident accepts and dispatches to the grid's worker,
the worker starts and resolves, a supervisor verifies (sometimes failing it:
rework), and now and then an incident is rejected, commented on or escalated one level.
A plan never stops at ``resolved``, and fits within the deadline plus the
escalation grace, so the SLA watchdog never races the simulated workers.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from shapely.geometry import Point

from data.site import Category, Site, User
from data.terms import CHAIN

Plan = list[tuple[int, dict[str, str]]]  # (due epoch ms, entry fields)

# (keywords in the category id, English or Chinese name) -> titles
TITLES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("bike", "单车"), ("共享单车乱停放", "共享单车堵塞地铁口", "共享单车占用盲道",
                       "废弃共享单车堆积", "共享单车倒伏一片")),
    (("sorting", "分类"), ("垃圾分类投放点混投", "厨余垃圾桶破损", "大件垃圾随意丢弃",
                          "可回收物堆积未清运")),
    (("sanitation", "卫生"), ("楼道堆放杂物", "垃圾桶满溢未及时清运", "路面油污未清理",
                             "绿化带内有建筑垃圾", "宠物粪便无人清理")),
    (("vend", "占道"), ("流动摊贩占道经营", "店外经营占用人行道", "早市摊点越线经营",
                       "水果摊占用盲道")),
    (("parking", "停车"), ("机动车占用消防通道", "车辆堵塞小区出入口",
                          "电动车占用盲道停放", "僵尸车长期占用车位",
                          "车辆违停路口影响通行")),
    (("fire", "消防"), ("楼道电动车飞线充电", "消防通道被占用", "灭火器过期失效",
                       "楼道内堆放易燃物", "商户违规使用液化气罐")),
    (("dispute", "纠纷"), ("楼上漏水引发邻里纠纷", "占用公共空间发生争执",
                          "装修噪音引发邻里矛盾", "宠物扰民引发纠纷")),
    (("noise", "噪音"), ("夜间施工噪音扰民", "广场舞音响声音过大", "商户外放音乐扰民",
                        "空调外机噪音扰民")),
    (("security", "治安"), ("单元门禁损坏陌生人随意进出", "监控摄像头离线",
                           "可疑人员徘徊", "围墙破损存在安全隐患")),
    (("building", "construction", "搭建"), ("楼顶私搭乱建", "一楼住户私自破墙开门",
                                           "违规搭建彩钢棚", "私自圈占公共绿地")),
    (("light", "路灯"), ("路灯不亮", "路灯白天常亮", "路灯杆倾斜", "路灯闪烁")),
    (("manhole", "井盖"), ("井盖松动", "井盖缺失", "井盖破损下沉", "雨水井盖错位")),
    (("facility", "设施"), ("健身器材损坏", "单元门禁失灵", "护栏破损", "路面塌陷坑洼",
                           "休闲座椅损坏")),
    (("crowd", "聚集"), ("商场入口人员聚集", "地铁站口客流聚集", "广场人员密集需疏导",
                        "促销活动引发排队拥挤")),
    (("sign", "招牌"), ("户外广告牌松动", "店招脱落隐患", "广告灯箱破损",
                       "违规设置落地广告牌")),
    (("fume", "油烟"), ("餐饮店油烟直排", "烧烤油烟扰民", "油烟净化器未开启",
                       "排烟管道滴油")),
)
CAMERA_SEES = ("bike", "parking", "vend", "crowd", "fire", "sanitation")
URGENT_PRONE = ("crowd", "fire", "manhole", "security")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐韩冯董"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国玉兰志红"
TAILS = ("请尽快处理。", "影响居民通行。", "已持续两天。", "存在安全隐患。", "")
RESOLVED = ("已现场处置完毕", "已协调物业处理", "已联系相关部门修复", "已劝导整改",
            "已清理完成，现场恢复正常")
COMMENTS = ("已电话联系上报人", "已通知物业配合", "现场查看中", "已拍照取证")
REJECTS = ("重复上报", "不属于网格事项，已转交相关部门", "现场核实无此情况")
REWORK = ("现场复查未整改到位", "居民反映问题仍存在")
CHANNELS = (("patrol", 0.3), ("resident", 0.25), ("hotline", 0.2), ("camera", 0.15),
            ("property", 0.1))
SOURCES = {"patrol": "app-patrol", "resident": "app-resident",
           "hotline": "hotline-12345", "camera": "cam-ai", "property": "app-property"}
PLAN_MAX_MIN = 90.0  # workflows play out over minutes, whatever the deadline


def _kind(category: Category) -> str:
    text = f"{category.id} {category.name_en} {category.name}".lower()
    for keys, _ in TITLES:
        if any(k in text for k in keys):
            return keys[0]
    return ""


def category_titles(category: Category) -> tuple[str, ...]:
    """Titles for reports of ``category``; generic ones for a category unknown here."""
    kind = _kind(category)
    for keys, titles in TITLES:
        if keys[0] == kind:
            return titles
    name = category.name
    return (f"{name}问题", f"反映{name}情况", f"{name}需处理")


class IncidentMaker:
    """Reports and workflow plans for one site, reproducible from ``rng``."""

    def __init__(self, site: Site, rng: random.Random) -> None:
        self.site, self.rng = site, rng
        self.categories = list(site.categories.values())
        # Stable per-site weights: some categories are simply more common.
        stable = random.Random(f"{site.id}/categories")
        self.weights = [stable.uniform(0.5, 2.0) for _ in self.categories]
        self.places = {g: [e.name for e in site.entrances.values() if e.grid == g]
                       for g in site.grids}

    # --- people ---------------------------------------------------------

    def person(self) -> tuple[str, str]:
        """A synthetic name and mobile number (maskable: 张** / 138****5678)."""
        rng = self.rng
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        phone = "1" + rng.choice("35789") + "".join(rng.choices("0123456789", k=9))
        return name, phone

    def workers(self, grid: str) -> list[User]:
        site = self.site
        own = site.grids[grid].worker
        if own is not None and site.users[own].role == "worker":
            return [site.users[own]]
        return [u for u in site.users.values()
                if u.role == "worker" and grid in u.grids]

    def supervisor(self, grid: str, level: str) -> User | None:
        """A supervisor whose scope holds ``grid`` and who may act at ``level``."""
        fits = [u for u in self.site.users.values()
                if u.role == "supervisor" and (not u.grids or grid in u.grids)
                and CHAIN.index(u.max_level) >= CHAIN.index(level)]
        # The lowest level that fits: the community, not the district, accepts.
        fits.sort(key=lambda u: (CHAIN.index(u.max_level), u.id))
        return fits[0] if fits else None

    # --- reports --------------------------------------------------------

    def report(self, ts: int) -> Plan:
        """A new incident at ``ts``: its report entry and the ops planned after."""
        rng, site = self.rng, self.site
        category = rng.choices(self.categories, self.weights)[0]
        kind = _kind(category)
        grid = rng.choice(list(site.grids))
        urgent = 0.15 if kind in URGENT_PRONE else 0.04
        level = rng.choices("123", (urgent, 0.3, 0.7 - urgent))[0]
        title = rng.choice(category_titles(category))
        channel = rng.choices(*zip(*CHANNELS, strict=True))[0]
        if channel == "camera" and kind not in CAMERA_SEES:
            channel = "hotline"
        incident_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        place = rng.choice(self.places[grid] or [site.grids[grid].name])
        fields = {"v": "1", "src": SOURCES[channel], "op": "report", "id": incident_id,
                  "ts": str(ts), "category": category.id, "level": level,
                  "title": title, "channel": channel, "eid": f"r-{incident_id}",
                  "detail": f"{place}附近{title}，{rng.choice(TAILS)}".rstrip("，")}
        workers = self.workers(grid)
        if channel == "patrol" and workers:
            fields.update(actor=workers[0].id, reporter=workers[0].name,
                          phone=workers[0].phone)
        elif channel != "camera":
            fields["reporter"], fields["phone"] = self.person()
        point = self._point(grid) if rng.random() < 0.3 else None
        if point is not None:
            fields["lon"], fields["lat"] = f"{point[0]:.6f}", f"{point[1]:.6f}"
            grid = site.grid_at(*point) or grid
        else:
            fields["grid"] = grid
        return [(ts, fields), *self.plan(incident_id, grid, category, int(level), ts)]

    def _point(self, grid: str) -> tuple[float, float] | None:
        """A random point well inside the grid's polygon, or None."""
        shape = self.site.grids[grid].geometry
        inner = shape.buffer(-0.00005)
        minx, miny, maxx, maxy = shape.bounds
        for _ in range(50):
            lon = self.rng.uniform(minx, maxx)
            lat = self.rng.uniform(miny, maxy)
            if inner.contains(Point(lon, lat)):
                return lon, lat
        return None

    # --- workflow -------------------------------------------------------

    def plan(self, incident_id: str, grid: str, category: Category, level: int,
             ts: int) -> Plan:
        """The ops that follow a report, with actors its rights allow."""
        rng = self.rng
        sup = self.supervisor(grid, "grid")
        if sup is None:
            return []
        workers = self.workers(grid)
        worker = workers[0] if workers else sup
        steps: list[tuple[float, dict[str, Any]]] = []  # (minutes, fields)

        def op(minutes: tuple[float, float], name: str, actor: User,
               **extra: Any) -> None:
            steps.append((rng.uniform(*minutes), {"op": name, "actor": actor.id,
                                                  **extra}))

        roll = rng.random()
        deadline_h = category.deadlines_h[level]
        if roll < 0.05:
            op((2, 15), "reject", sup, reason=rng.choice(REJECTS))
            return self._timed(incident_id, ts, steps, deadline_h)
        op((1, 10), "accept", sup)
        task_deadline = str(ts + int(deadline_h * 3_600_000))
        op((1, 8), "dispatch", sup, assignee=worker.id, deadline=task_deadline)
        if rng.random() < 0.1:
            op((1, 5), "comment", rng.choice((sup, worker)), note=rng.choice(COMMENTS))
        op((2, 15), "start", worker)
        verifier = sup
        upper = self.supervisor(grid, CHAIN[1])
        if roll < 0.13 and upper is not None:
            op((3, 20), "escalate", worker, note="需社区协调处理")
            op((2, 10), "dispatch", upper, assignee=worker.id, deadline=task_deadline)
            op((2, 10), "start", worker)
            verifier = upper
        op((5, 40), "resolve", worker, note=rng.choice(RESOLVED))
        if rng.random() < 0.12:
            op((5, 20), "verify", verifier, passed="0", note=rng.choice(REWORK))
            op((2, 10), "start", worker)
            op((5, 30), "resolve", worker, note=rng.choice(RESOLVED))
        op((5, 30), "verify", verifier, passed="1", note="复查合格")
        if rng.random() < 0.15:  # left open for the wall; never stuck at resolved
            stops = [0, 1, *(i for i, (_, f) in enumerate(steps) if f["op"] == "start")]
            steps = steps[: rng.choice(stops)]
        return self._timed(incident_id, ts, steps, deadline_h)

    def _timed(self, incident_id: str, ts: int,
               steps: list[tuple[float, dict[str, Any]]], deadline_h: float) -> Plan:
        """Spread ``steps`` over the minutes after ``ts``, within the deadline."""
        natural = sum(m for m, _ in steps)
        grace = self.site.escalate_grace_min
        budget = min(natural, PLAN_MAX_MIN,
                     deadline_h * 60 * self.rng.uniform(0.5, 1.05),
                     deadline_h * 60 + grace - 5)
        scale = budget / natural if natural else 1.0
        plan: Plan = []
        at = float(ts)
        for n, (minutes, fields) in enumerate(steps):
            at += max(1000.0, minutes * scale * 60_000)
            entry = {"v": "1", "src": "app", "id": incident_id, "ts": str(int(at)),
                     "eid": f"{fields['op']}-{incident_id[:8]}-{n}"}
            entry.update({k: str(v) for k, v in fields.items()})
            plan.append((int(at), entry))
        return plan

