"""Names for a generated city: Zhengzhou's districts, and street, community,
road and people's names that sound like the place, each with its English.

Place names are built from syllables with their pinyin, so the English name
always matches the Chinese (金桥 → Jinqiao). Everything is drawn from the
``random.Random`` a caller passes, so a seed gives the same names every time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CITY = ("zz", "郑州市", "Zhengzhou")

# (id suffix, Chinese, English, anchor: km east and north of the centre).
# The anchors put each district roughly where it lies in Zhengzhou.
DISTRICTS: tuple[tuple[str, str, str, tuple[float, float]], ...] = (
    ("jinshui", "金水区", "Jinshui District", (1.0, 4.0)),
    ("erqi", "二七区", "Erqi District", (-3.0, -4.0)),
    ("zhongyuan", "中原区", "Zhongyuan District", (-7.0, 1.0)),
    ("guancheng", "管城回族区", "Guancheng Hui District", (3.5, -3.5)),
    ("huiji", "惠济区", "Huiji District", (-1.0, 10.0)),
    ("zhengdong", "郑东新区", "Zhengdong New Area", (9.0, 3.0)),
    ("gaoxin", "高新区", "High-tech Zone", (-12.0, 5.0)),
    ("jingkai", "经开区", "Economic Development Zone", (9.0, -8.0)),
)

# syllables that start a place name, and those that end one (with pinyin)
HEADS = (
    "金:jin 文:wen 丰:feng 黄:huang 杜:du 柳:liu 陈:chen 燕:yan 花:hua 农:nong "
    "东:dong 南:nan 西:xi 北:bei 大:da 小:xiao 新:xin 兴:xing 建:jian 民:min "
    "人:ren 和:he 平:ping 安:an 福:fu 康:kang 顺:shun 永:yong 长:chang 宏:hong "
    "绿:lv 青:qing 碧:bi 翠:cui 银:yin 凤:feng 龙:long 汝:ru 嵩:song 商:shang "
    "航:hang 秦:qin 郑:zheng 祭:ji 紫:zi 丹:dan 桐:tong 槐:huai 枣:zao 杏:xing"
).split()
MIDDLES = (
    "河:he 山:shan 水:shui 林:lin 岭:ling 桥:qiao 城:cheng 园:yuan 湖:hu 泉:quan "
    "华:hua 光:guang 阳:yang 明:ming 德:de 庆:qing 丰:feng 盛:sheng 源:yuan 台:tai"
).split()
TAILS = (
    "寨:zhai 庄:zhuang 里:li 园:yuan 湾:wan 岗:gang 营:ying 坡:po 苑:yuan 村:cun "
    "街:jie 路:lu 门:men 庙:miao 桥:qiao 店:dian 屯:tun 堂:tang 坊:fang 沟:gou"
).split()
ROADS: tuple[tuple[str, str], ...] = (
    ("花园路", "Huayuan Rd"), ("文化路", "Wenhua Rd"), ("农业路", "Nongye Rd"),
    ("东风路", "Dongfeng Rd"), ("金水路", "Jinshui Rd"), ("未来路", "Weilai Rd"),
    ("丰产路", "Fengchan Rd"), ("经三路", "Jingsan Rd"), ("纬五路", "Weiwu Rd"),
    ("黄河路", "Huanghe Rd"), ("紫荆山路", "Zijingshan Rd"),
    ("中州大道", "Zhongzhou Ave"),
    ("建设路", "Jianshe Rd"), ("桐柏路", "Tongbai Rd"), ("嵩山路", "Songshan Rd"),
    ("陇海路", "Longhai Rd"), ("航海路", "Hanghai Rd"), ("大学路", "Daxue Rd"),
    ("伏牛路", "Funiu Rd"), ("淮河路", "Huaihe Rd"), ("商都路", "Shangdu Rd"),
    ("郑汴路", "Zhengbian Rd"), ("商务外环路", "Shangwu Ring Rd"),
    ("科学大道", "Kexue Ave"),
    ("长椿路", "Changchun Rd"), ("北三环", "N 3rd Ring Rd"), ("南阳路", "Nanyang Rd"),
    ("政七街", "Zhengqi St"),
)
SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁宋谢韩唐冯于董程曹袁邓许傅沈"
GIVEN = (
    "建国 秀英 桂兰 志强 海燕 丽娟 伟 芳 敏 静 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 "
    "平 刚 桂英 玉兰 红梅 建华 国强 晓东 春花 文博 浩然 雪梅 振华 丽华 淑珍 凤英 保国 "
    "新民 卫东 爱华 永刚 晓燕 志刚 鹏 辉 亚楠 俊杰 晓峰 佳琪 思远 梦瑶 宏伟 立新 金凤"
).split()
MOBILE_PREFIXES = "135 136 137 138 139 150 151 152 158 159 176 186 187 188 189".split()
CN_NUMBERS = "一二三四五六七八九十"


def _split(pairs: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [tuple(p.split(":", 1)) for p in pairs]  # type: ignore[misc]


_HEADS, _MIDDLES, _TAILS = _split(HEADS), _split(MIDDLES), _split(TAILS)


@dataclass(frozen=True)
class PlaceName:
    zh: str  # without the suffix (社区, 街道)
    en: str  # pinyin, capitalised


class PlaceNames:
    """Place names never used twice in one city."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def take(self) -> PlaceName:
        """A fresh two- or three-syllable name (黄岗, 金桥苑)."""
        rng = self.rng
        while True:
            parts = [rng.choice(_HEADS)]
            if rng.random() < 0.45:
                parts.append(rng.choice(_MIDDLES))
            parts.append(rng.choice(_TAILS))
            zh = "".join(p[0] for p in parts)
            if zh not in self.used and len(set(zh)) == len(zh):
                self.used.add(zh)
                en = "".join(p[1] for p in parts)
                return PlaceName(zh, en.capitalize())


def roads(rng: random.Random, k: int) -> list[tuple[str, str]]:
    """``k`` different roads (Chinese, English) around one community."""
    return rng.sample(ROADS, k)


def cn_number(n: int) -> str:
    """1 → 一, 12 → 十二, 20 → 二十 (up to 99)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN_NUMBERS[tens - 1] + "十")
    return head + ("" if ones == 0 else CN_NUMBERS[ones - 1])


class People:
    """Names and visibly made-up mobile numbers, unique within one site."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.names: set[str] = set()
        self.phones: set[str] = set()

    def name(self) -> str:
        name = ""
        while not name or name in self.names:
            name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN)
        self.names.add(name)
        return name

    def phone(self) -> str:
        """An 11-digit number with 0000 in the middle, as the sample sites have."""
        phone = ""
        while not phone or phone in self.phones:
            prefix, tail = self.rng.choice(MOBILE_PREFIXES), self.rng.randrange(10**4)
            phone = f"{prefix}0000{tail:04d}"
        self.phones.add(phone)
        return phone
