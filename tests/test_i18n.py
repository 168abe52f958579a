"""The message catalog (layouts/messages.yaml) against the code that uses it.

Every key the code asks for is in the catalog, in both languages, with the
same placeholders; every key in the catalog is asked for somewhere. Keys come
from ``t("…")`` calls, from tables of keys (``BROWSER_TEXT``, ``KPI_LABELS``,
``SCREENS``…), from the templates and the browser scripts, and from keys built
at run time (``t(f"level.{n}")``), whose expansions are listed here from the
code's own constants.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
import yaml

from data.feed.contract import CHANNELS, OPS
from data.feed.producers import KINDS as PRODUCER_KINDS
from data.history.analytics import OUTCOMES
from data.incidents.lifecycle import DONE, OPEN
from data.interrupt import KINDS as INTERRUPT_KINDS
from data.keys import FEED_STREAMS
from data.terms import CHAIN as OWNER_LEVELS
from data.terms import PERSON_ROLES as ROLES
from data.terms import UNIT_LEVELS
from data.terms import URGENCIES as LEVELS
from data.units.inbox import VIEWS as UNIT_VIEWS
from layouts import (
    analysis,
    console,
    console_producers,
    console_unit,
    console_unit_render,
    mobile,
    replay,
    wall,
)
from layouts.i18n import CATALOG, LANGS, MESSAGES, duty_text, load_catalog, t
from layouts.theme import DARK
from layouts.wall_health import NAMED_STATES, STRIP_STATES
from web.auth import PAGE_SCREENS

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("layouts", "callbacks", "web", "data")
KEY = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$|^no_data$")


def _filter_error_codes() -> set[str]:
    """The codes data/history raises FilterError with (``analysis.err.*``)."""
    codes = set()
    for path in (ROOT / "data").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            args = [a.value for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if name == "FilterError" and args:
                codes.add(args[0])
            elif name == "_ids" and args:  # _ids(raw, known, code)
                codes.add(args[-1])
    return codes


def _site_duties() -> set[str]:
    duties = set()
    for site_file in [*(ROOT / "data" / "sites").glob("*/site.yaml"),
                      *(ROOT / "tests" / "fixtures" / "sites").glob("*/site.yaml")]:
        for user in yaml.safe_load(site_file.read_text(encoding="utf-8"))["users"]:
            duties.add(user["duty"])
    return duties


# a key built at run time -> what it is built from
from layouts import unit_wall as unit_wall_layout  # noqa: E402
from layouts import unit_wall_render  # noqa: E402

EXPANSIONS: dict[str, tuple] = {
    "level.*": LEVELS,
    "status.*": OPEN + DONE,
    "owner.*": OWNER_LEVELS,
    "sla.*": ("green", "yellow", "red"),  # data.incidents.lifecycle.sla_light
    "op.*": OPS,
    "channel.*": CHANNELS,
    "feed.*": FEED_STREAMS,
    "duty.*": tuple(_site_duties()),
    "role.*": ROLES,  # duty_text: an account outside the roster has its role
    "c.col_*": console.COLUMNS,
    "uc.col_*": console_unit.COLUMNS,  # a unit's console (issue 12 item 6)
    "uc.kpi_*": console_unit_render.KPIS,
    "uc.level.*": UNIT_LEVELS,
    "uc.view_*": UNIT_VIEWS,
    "wall.density.*": tuple(range(len(DARK.density))),
    "wall.interrupt_*": INTERRUPT_KINDS,
    "health.state.*": STRIP_STATES,
    "health.named.*": NAMED_STATES,
    "health.kind.*": PRODUCER_KINDS,
    "c.p_f_*": console_producers.FILTERS,
    "c.p_col_*": console_producers.COLUMNS,
    "auth.screen.*": (*PAGE_SCREENS.values(), "admin"),
    "analysis.kpi.*": analysis.KPIS,
    "analysis.channel.*": CHANNELS,
    "analysis.node.*": OWNER_LEVELS + OUTCOMES,
    "analysis.weekday.*": tuple(range(7)),
    "analysis.*_in": ("people", "vehicles"),  # analysis_figures.daily_trend
    "analysis.by_*": ("category", "grid", "channel", "level"),
    "analysis.err.*": tuple(_filter_error_codes()),
    "replay.event.*": replay.EVENT_KINDS,
    "uwall.kpi.*": unit_wall_render.KPIS,
    "uwall.level.*": UNIT_LEVELS,
    "uwall.*": ("week", "month"),  # unit_wall_render: the deltas' labels
}
NOT_KEYS = {"audit.csv", "auth.conf"}  # file names shaped like keys


def _python_files():
    for folder in SOURCE_DIRS:
        yield from (p for p in (ROOT / folder).rglob("*.py"))


def _literals_and_patterns() -> tuple[set[str], set[str]]:
    """String literals shaped like keys, and the patterns of keys built from a
    literal prefix (f"level.{n}", 'owner.' + x) with ``*`` for the rest."""
    literals, patterns = set(), set()
    namespaces = {k.split(".")[0] for k in MESSAGES}
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        fragments = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr)
                     for v in n.values}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in fragments:
                if KEY.match(node.value) and node.value not in NOT_KEYS:
                    literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                parts = [v.value if isinstance(v, ast.Constant) else "*"
                         for v in node.values]
                patterns.add("".join(parts))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) \
                    and isinstance(node.left, ast.Constant) \
                    and isinstance(node.left.value, str):
                patterns.add(node.left.value + "*")
    literals = {k for k in literals if k.split(".")[0] in namespaces}
    patterns = {p for p in patterns if "*" in p and re.match(r"^[a-z_]+\.", p)
                and p.split(".")[0] in namespaces}
    return literals, patterns


def _template_keys() -> tuple[set[str], set[str]]:
    literals, patterns = set(), set()
    for page in (ROOT / "web" / "templates").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        literals |= set(re.findall(r"\bt\('([a-z0-9_.]+)'(?! ~)", text))
        patterns |= {p + "*" for p in re.findall(r"\bt\('([a-z0-9_.]+)' ~", text)}
    return literals, patterns


def _script_keys(script: str) -> tuple[set[str], set[str]]:
    text = (ROOT / "assets" / script).read_text(encoding="utf-8")
    return (set(re.findall(r'\btext\("([a-z0-9_.]+)"(?! \+)', text)),
            {p + "*" for p in re.findall(r'\btext\("([a-z0-9_.]+)" \+', text)})


def _expand(pattern: str) -> set[str]:
    return {pattern.replace("*", str(v)) for v in EXPANSIONS[pattern]}


PY_LITERALS, PY_PATTERNS = _literals_and_patterns()
HTML_LITERALS, HTML_PATTERNS = _template_keys()
SCRIPTS = {"mobile.js": mobile.BROWSER_TEXT, "wall.js": wall.BROWSER_TEXT,
           "replay.js": replay.BROWSER_TEXT,
           "unit_wall.js": unit_wall_layout.BROWSER_TEXT}


def test_every_key_built_at_run_time_has_its_expansions_listed():
    built = PY_PATTERNS | HTML_PATTERNS | {
        p for s in SCRIPTS for p in _script_keys(s)[1]}
    built -= {"gov.*"}  # parquet metadata names, not UI text
    assert built <= set(EXPANSIONS), sorted(built - set(EXPANSIONS))


def test_every_key_the_code_uses_is_in_the_catalog():
    used = set(HTML_LITERALS)
    for pattern in EXPANSIONS:
        used |= _expand(pattern)
    for script in SCRIPTS:
        used |= _script_keys(script)[0]
    missing = sorted(k for k in used if k not in MESSAGES)
    assert not missing, missing
    # a literal shaped like a key in a namespace of the catalog must be a key
    strays = sorted(k for k in PY_LITERALS if k not in MESSAGES)
    assert not strays, strays


def test_no_key_in_the_catalog_is_unused():
    used = PY_LITERALS | HTML_LITERALS
    for pattern in EXPANSIONS:
        used |= _expand(pattern)
    for script in SCRIPTS:
        used |= _script_keys(script)[0]
    unused = sorted(set(MESSAGES) - used)
    assert not unused, unused


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_browser_gets_the_keys_its_script_asks_for_and_no_more(script):
    literals, patterns = _script_keys(script)
    for pattern in patterns:
        literals |= _expand(pattern)
    assert literals == set(SCRIPTS[script]), sorted(literals ^ set(SCRIPTS[script]))


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_both_languages_are_written_with_the_same_placeholders():
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        assert _placeholders(zh) == _placeholders(en), key


def test_the_catalog_is_the_yaml_file_translators_edit(tmp_path):
    raw = yaml.safe_load(CATALOG.read_text(encoding="utf-8"))
    assert set(raw) == set(MESSAGES)
    assert all(set(entry) == set(LANGS) for entry in raw.values())
    assert t("m.queued", "zh", n=2) == "已保存，2条待发送（联网后自动发送）"
    assert t("m.queued", "en", n=2) == "Saved; 2 waiting to send (sent when online)"
    broken = tmp_path / "messages.yaml"
    broken.write_text('m.title: {zh: "网格员工作台"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="m.title"):
        load_catalog(broken)


def test_a_role_outside_the_roster_is_put_in_words():
    assert duty_text("grid_worker") == "网格员"
    assert duty_text("worker") == "网格员"
    assert duty_text("worker", "en") == "Grid worker"
    assert duty_text("night_watch") == "night_watch"  # a site's own duty
