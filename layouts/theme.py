"""Colours and type of the screens, in one place.

The figure builders take a Theme; the style sheets in assets/ read the same
colours as CSS custom properties, served as /theme.css (``stylesheet``):
LIGHT on every page, DARK on the wall's. ``css`` holds the named colours only
the style sheets use.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Theme:
    background: str
    panel: str
    grid_line: str
    text: str
    muted: str
    accent: str
    flow_in: str
    flow_out: str
    week_ago: str
    density: tuple[str, str, str, str]  # green, yellow, orange, red
    levels: dict[int, str]  # incident level 1 urgent .. 3 general
    sla: dict[str, str]
    font: str
    css: dict[str, str] = field(default_factory=dict)
    silent: str = "#9aa5b8"  # a device that sends nothing: grey


DARK = Theme(
    background="#020b1e",
    panel="rgba(6, 30, 66, 0.55)",
    grid_line="rgba(90, 160, 255, 0.12)",
    text="#d8ecff",
    muted="#7f9cc0",
    accent="#2fd0ff",
    flow_in="#22d3ee",
    flow_out="#fbbf24",
    week_ago="rgba(160, 180, 210, 0.55)",
    density=("#16a34a", "#eab308", "#f97316", "#dc2626"),
    levels={1: "#ff3b3b", 2: "#ff9f1a", 3: "#3ba6ff"},
    sla={"green": "#22c55e", "yellow": "#facc15", "red": "#ef4444"},
    font='"Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif',
    css={
        "background-deep": "#03122b", "bright": "#ffffff", "heading": "#e6f6ff",
        "accent-light": "#7fdcff", "subtitle": "#7fb6e6", "clock": "#9cc8ef",
        "figure": "#5fe3ff", "label": "#8fb3d9", "label-light": "#a9c7e6",
        "faint": "#6f8fb5", "alarm": "#ff5a5a", "alert-line": "#ff6b6b",
        "cast": "#ffd166", "stale-ink": "#1a1200", "stale-1": "#fbbf24",
        "stale-2": "#f59e0b", "stale-line": "#fff3c4",
        "flip-1": "#0d3f86", "flip-2": "#0a2f66", "flip-3": "#06214a",
        "flip-4": "#082a5c", "rank": "#1c3e6e", "rank-1": "#e0452b",
        "rank-2": "#e98a1c", "rank-3": "#d6b21c", "flow-in-deep": "#0ea5e9",
        "badge-1": "#dc2626", "badge-2": "#ea7a0c", "badge-3": "#2563eb",
        "health-ok": "#22c55e", "health-late": "#facc15",
        "health-erroring": "#ff5a5a",
        "health-flapping": "#c084fc", "estimate": "#fbbf24",
    },
)

LIGHT = Theme(
    background="#f4f6fa",
    panel="#ffffff",
    grid_line="rgba(0, 0, 0, 0.08)",
    text="#1f2937",
    muted="#6b7280",
    accent="#0b63ce",
    flow_in="#0891b2",
    flow_out="#d97706",
    week_ago="rgba(100, 116, 139, 0.6)",
    density=("#16a34a", "#ca8a04", "#ea580c", "#dc2626"),
    levels={1: "#dc2626", 2: "#ea580c", 3: "#2563eb"},
    sla={"green": "#16a34a", "yellow": "#ca8a04", "red": "#dc2626"},
    font=DARK.font,
    css={
        "page": "#eef2f7", "panel-soft": "#f8fafc", "on-accent": "#ffffff",
        "on-accent-soft": "#dbeafe", "header-deep": "#0b2a55",
        "header-mid": "#0b3d91", "accent-strong": "#0a4fa6",
        "accent-soft": "#e8f1fd", "accent-muted": "#93b4dd", "action": "#2563eb",
        "line": "#dbe3ee", "line-strong": "#cbd5e1", "line-soft": "#e5e7eb",
        "text-soft": "#374151", "text-softer": "#4b5563", "muted-light": "#94a3b8",
        "ink": "#111111", "alert": "#dc2626", "danger": "#b91c1c",
        "success": "#15803d", "warning": "#b45309", "highlight": "#ffe08a",
        "cast": "#7c3aed", "notice-bg": "#fff7ed", "notice-line": "#fdba74",
        "notice-text": "#9a3412",
        # the sign-in and home pages: a dark entrance, not the wall's
        "entry-bg": "#0b1a2e", "entry-panel": "#12263f", "entry-line": "#2a4a70",
        "entry-line-strong": "#3a5f8a", "entry-text": "#e6edf5",
        "entry-accent": "#7fd3ff", "entry-muted": "#9fb3c8",
        "entry-button": "#1f7ae0", "entry-cast": "#ffd166",
        "entry-error": "#ffb4b4", "entry-error-bg": "#4a1c1c",
        "entry-error-line": "#aa3333", "entry-ok": "#b7f5c8",
        "entry-ok-bg": "#173d24", "entry-shadow": "#00000088",
    },
)


def custom_properties(theme: Theme) -> dict[str, str]:
    """Every colour of ``theme`` by its CSS custom property name."""
    named = {"background": theme.background, "panel": theme.panel,
             "grid-line": theme.grid_line, "text": theme.text,
             "muted": theme.muted, "accent": theme.accent,
             "flow-in": theme.flow_in, "flow-out": theme.flow_out,
             "week-ago": theme.week_ago, "silent": theme.silent}
    named |= {f"density-{n}": c for n, c in enumerate(theme.density)}
    named |= {f"level-{n}": c for n, c in theme.levels.items()}
    named |= {f"sla-{name}": c for name, c in theme.sla.items()}
    return {f"--{name}": colour for name, colour in {**named, **theme.css}.items()}


def stylesheet() -> str:
    """/theme.css: LIGHT for every page, DARK where the wall is (live or
    replayed)."""
    def block(selector: str, theme: Theme) -> str:
        lines = "".join(f"  {name}: {value};\n"
                        for name, value in custom_properties(theme).items())
        return f"{selector} {{\n{lines}}}\n"
    return block(":root", LIGHT) + block(
        ":root:has(#wall-root), :root:has(#uw-root), :root:has(#replay-root)", DARK)
