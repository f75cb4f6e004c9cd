"""A small bar plot of one metric over the recent window, with its threshold drawn across it.

Eighth-block bars give eight levels per character row; bars at or over the threshold take the
``over`` style and the threshold is a dashed line with its value on the axis, so the plot reads
without colour too. Unknown samples show as ``?``, never as a zero-height bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar, Final

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from cardwatch import display

BLOCKS: Final = " ▁▂▃▄▅▆▇█"
AXIS_W: Final = 8


class TracePlot(Widget):
    """`show(values, threshold)` replaces the plotted window; one column per sample, newest at the right.

    `alarm_above` False draws the threshold as a ceiling only (a clock at its maximum is good news).
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "trace-plot--title",
        "trace-plot--axis",
        "trace-plot--bar",
        "trace-plot--over",
        "trace-plot--threshold",
        "trace-plot--unknown",
    }
    DEFAULT_CSS = """
    TracePlot { height: 7; }
    TracePlot > .trace-plot--title { text-style: bold; }
    """

    def __init__(
        self,
        title: str,
        unit: str,
        *,
        bounds: tuple[float, float] | None = None,
        alarm_above: bool = True,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.title = title
        self.unit = unit
        self.bounds = bounds
        self.alarm_above = alarm_above
        self.values: list[float | None] = []
        self.threshold: float | None = None
        self.threshold_label = ""

    def show(
        self, values: Sequence[float | None], threshold: float | None, threshold_label: str = ""
    ) -> None:
        """Plot `values` (oldest first) against `threshold` (None: no line)."""
        self.values, self.threshold, self.threshold_label = list(values), threshold, threshold_label
        self.refresh()

    def _range(self) -> tuple[float, float]:
        if self.bounds is not None:
            return self.bounds
        known = [v for v in self.values if v is not None]
        if self.threshold is not None:
            known.append(self.threshold)
        if not known:
            return (0.0, 1.0)
        lo, hi = min(known), max(known)
        pad = max((hi - lo) * 0.1, 1.0)
        return (math.floor(lo - pad), math.ceil(hi + pad))

    def render_line(self, y: int) -> Strip:
        if y == 0:
            return Strip([Segment(self._title(), self.get_component_rich_style("trace-plot--title"))])
        rows = self.size.height - 1
        if rows < 1 or y > rows:
            return Strip.blank(self.size.width)
        return Strip(self._row(rows - y, rows))

    def _title(self) -> str:
        latest = self.values[-1] if self.values else None
        limit = (
            f"   {self.threshold_label} {display.num(self.threshold, self.unit)}" if self.threshold else ""
        )
        shown = min(len(self.values), max(self.size.width - AXIS_W, 0))
        return f"{self.title} {display.num(latest, self.unit)}{limit}   (last {shown} samples)"

    def _row(self, row: int, rows: int) -> list[Segment]:
        lo, hi = self._range()
        span = hi - lo
        threshold_row = None if self.threshold is None else int((self.threshold - lo) / span * rows - 1e-9)
        axis = self.get_component_rich_style("trace-plot--axis")
        label = (
            hi if row == rows - 1 else lo if row == 0 else self.threshold if row == threshold_row else None
        )
        segments = [
            Segment(
                f"{display.num(label)}".rjust(AXIS_W - 2) + " ┤"
                if label is not None
                else " " * (AXIS_W - 1) + "│",
                axis,
            )
        ]
        width = max(self.size.width - AXIS_W, 0)
        for value in self.values[-width:]:
            segments.append(self._cell(value, row, rows, lo, span, threshold_row))
        return segments

    def _cell(
        self, value: float | None, row: int, rows: int, lo: float, span: float, threshold_row: int | None
    ) -> Segment:
        if value is None:
            return Segment("?" if row == 0 else " ", self.get_component_rich_style("trace-plot--unknown"))
        eighths = round(max(min((value - lo) / span, 1.0), 0.0) * rows * 8)
        fill = max(min(eighths - row * 8, 8), 0)
        over = self.alarm_above and self.threshold is not None and value >= self.threshold
        if fill == 0 and row == threshold_row:
            return Segment("╌", self.get_component_rich_style("trace-plot--threshold"))
        return Segment(
            BLOCKS[fill], self.get_component_rich_style("trace-plot--over" if over else "trace-plot--bar")
        )
