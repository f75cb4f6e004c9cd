"""Levels as text a reader can tell apart without colour: a glyph and a word, coloured by app.tcss."""

from __future__ import annotations

import time
from typing import Final

from rich.text import Text
from textual.widget import Widget

from cardwatch.health import Level

LEVEL_MARKS: Final = {
    Level.OK: "✓ ok",
    Level.UNKNOWN: "? unknown",
    Level.WATCH: "! watch",
    Level.DEGRADED: "▼ degraded",
    Level.FAILED: "✖ failed",
}
PENDING: Final = "· pending"
"""A card that arrived after the last health evaluation."""

LEVEL_CLASSES: Final = frozenset({f"level--{level.name.lower()}" for level in Level})
"""Component classes a widget lists to colour levels; app.tcss styles them once for every widget."""


def level_text(widget: Widget, level: Level | None) -> Text:
    """The level's mark in the widget's style for that level."""
    if level is None:
        return Text(PENDING)
    return Text(LEVEL_MARKS[level], style=widget.get_component_rich_style(f"level--{level.name.lower()}"))


def clock_text(ts: float | None) -> str:
    """A data time as UTC wall-clock time, the way on-call logs write it."""
    return "-" if ts is None else time.strftime("%H:%M:%SZ", time.gmtime(ts))


def ago(seconds: float | None) -> str:
    """A short age: ``42s``, ``7m03s``, ``5h12m``, ``3d04h``."""
    if seconds is None:
        return "-"
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
