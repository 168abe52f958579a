"""Colours and type of the screens, in one place (the CSS mirrors these)."""

from __future__ import annotations

from dataclasses import dataclass


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
)
