"""The fleet heat map: every card a coloured half cell, nodes as rows, packed tighter only when they must.

It uses the line API and a precomputed palette, so 10,000 cards cost one `Strip` per line and no widget
per card: a cell is the upper half block, the top card its foreground colour and the bottom card its
background colour. Nodes are rows while they fit; a big fleet packs several nodes per line instead of
scrolling. Without colour (``NO_COLOR``) each cell shows the worse card's severity as a glyph.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Final

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from cardwatch.heat import DOWN_SLOT, EMPTY_SLOT, LEGEND, SLOTS, UNKNOWN_SLOT, HeatGroup, HeatNode, Metric
from cardwatch.tui.messages import NodeSelected

HALF: Final = "▀"
MONO_GLYPHS: Final = ("·", "·", "░", "▒", "▓", "?", "X", " ")
MONO_RANK: Final = (1, 2, 3, 4, 5, 6, 7, 0)
"""Severity of each slot for the glyph view: no card lowest, a lost card highest."""
NUMERIC_EXTRA: Final = ((UNKNOWN_SLOT, "unknown"), (DOWN_SLOT, "lost"))
HEAT_SHARE: Final = 0.6
"""The most of its container's height the heat map takes before it packs nodes tighter."""
MAX_LABEL: Final = 16


@dataclass(frozen=True, slots=True)
class Shape:
    """One way to draw nodes: cards side by side or two per cell, cell width, margin, gap, packing.

    The margin holds the first node's name (``node``), the group's name on the group's first line
    instead of a header line (``group``), or nothing (``none``).
    """

    stacked: bool
    cell_w: int
    margin: str
    gap: int
    packed: bool


SHAPES: Final = (
    Shape(stacked=False, cell_w=2, margin="node", gap=1, packed=False),
    Shape(stacked=False, cell_w=1, margin="node", gap=1, packed=False),
    Shape(stacked=True, cell_w=1, margin="node", gap=1, packed=False),
    Shape(stacked=False, cell_w=1, margin="node", gap=1, packed=True),
    Shape(stacked=True, cell_w=1, margin="node", gap=1, packed=True),
    Shape(stacked=True, cell_w=1, margin="none", gap=1, packed=True),
    Shape(stacked=True, cell_w=1, margin="none", gap=0, packed=True),
    Shape(stacked=True, cell_w=1, margin="group", gap=0, packed=True),
)
"""From roomiest to densest; the first whose lines fit is used."""

Row = str | tuple[str, range]
"""A line of the map: a group header, or the margin text and the positions of the nodes on it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """The chosen shape and what each line holds."""

    shape: Shape
    columns: int
    label_w: int
    per_line: int
    rows: tuple[Row, ...]


def plan(groups: Sequence[HeatGroup], width: int, max_lines: int) -> Plan:
    """The roomiest shape whose lines fit in `max_lines`; the densest one when none does."""
    cards = max((len(n.slots) for g in groups for n in g.nodes), default=1) or 1
    margins = {
        "node": max((len(n.name) for g in groups for n in g.nodes), default=0),
        "group": max((len(g.label) for g in groups), default=0),
        "none": -1,
    }
    best: Plan | None = None
    for shape in SHAPES:
        columns = math.ceil(cards / 2) if shape.stacked else cards
        label_w = min(margins[shape.margin], MAX_LABEL) + 1
        fit = (width - label_w) // (columns * shape.cell_w + shape.gap)
        if fit < 1:
            continue
        per_line = fit if shape.packed else 1
        best = Plan(shape, columns, label_w, per_line, _rows(groups, per_line, shape.margin))
        if len(best.rows) <= max_lines:
            return best
    return best or Plan(SHAPES[-1], math.ceil(cards / 2), 0, 1, _rows(groups, 1, "none"))


def _rows(groups: Sequence[HeatGroup], per_line: int, margin: str) -> tuple[Row, ...]:
    rows: list[Row] = []
    start = 0
    for group in groups:
        if len(groups) > 1 and margin != "group":
            rows.append(f"{group.label} ({len(group.nodes)} nodes)")
        for first in range(0, len(group.nodes), per_line):
            label = group.nodes[first].name if margin == "node" else group.label if margin == "group" else ""
            span = range(start + first, start + min(first + per_line, len(group.nodes)))
            rows.append((label if margin != "group" or first == 0 else "", span))
        start += len(group.nodes)
    return tuple(rows)


class HeatMap(Widget, can_focus=True):
    """Every card of the fleet on one screen; arrows move between nodes, enter or a click opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "move(-1, 0)", "Node left", show=False),
        Binding("right", "move(1, 0)", "Node right", show=False),
        Binding("up", "move(0, -1)", "Node up", show=False),
        Binding("down", "move(0, 1)", "Node down", show=False),
        Binding("enter", "select", "Open node"),
    ]
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        *(f"heat-map--slot-{i}" for i in range(SLOTS)),
        "heat-map--label",
        "heat-map--group",
        "heat-map--cursor",
        "heat-map--status",
    }
    DEFAULT_CSS = """
    HeatMap { height: auto; }
    HeatMap > .heat-map--slot-0 { color: #2e7d32; }
    HeatMap > .heat-map--slot-1 { color: #7cb342; }
    HeatMap > .heat-map--slot-2 { color: #f9a825; }
    HeatMap > .heat-map--slot-3 { color: #ef6c00; }
    HeatMap > .heat-map--slot-4 { color: #d32f2f; }
    HeatMap > .heat-map--slot-5 { color: #78909c; }
    HeatMap > .heat-map--slot-6 { color: #8e24aa; }
    HeatMap > .heat-map--group { text-style: bold; }
    HeatMap > .heat-map--cursor { text-style: bold; }
    """

    cursor: reactive[int] = reactive(0)

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.metric = Metric.HEALTH
        self._heat_nodes: list[HeatNode] = []
        self._groups: Sequence[HeatGroup] = ()
        self._layout_key: tuple[object, ...] = ()
        self._plan: Plan | None = None
        self._plan_for = (0, 0)
        self._max_lines = 1
        self._pairs: dict[tuple[int, int], Style] = {}
        self._lines: dict[int, Strip] = {}

    @property
    def cursor_node(self) -> str | None:
        """The node under the cursor, if there are nodes."""
        return self._heat_nodes[self.cursor].name if self._heat_nodes else None

    def update(self, groups: Sequence[HeatGroup], metric: Metric) -> None:
        """Show new slots; the layout is recomputed only when nodes or card counts changed."""
        self._groups, self.metric = groups, metric
        self._heat_nodes = [node for group in groups for node in group.nodes]
        key = tuple((g.label, tuple((n.name, len(n.slots)) for n in g.nodes)) for g in groups)
        self._lines.clear()
        if key != self._layout_key:
            self._layout_key, self._plan = key, None
            self.refresh(layout=True)
        else:
            self.refresh()
        self.cursor = min(self.cursor, max(len(self._heat_nodes) - 1, 0))

    def validate_cursor(self, cursor: int) -> int:
        return max(0, min(cursor, len(self._heat_nodes) - 1))

    def watch_cursor(self) -> None:
        self._lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._pairs.clear()
        self._lines.clear()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        self._max_lines = max(int(container.height * HEAT_SHARE) - 1, 1)
        return len(self._current_plan(width).rows) + 1

    def _current_plan(self, width: int) -> Plan:
        if self._plan is None or self._plan_for != (width, self._max_lines):
            self._plan, self._plan_for = plan(self._groups, width, self._max_lines), (width, self._max_lines)
            self._lines.clear()
        return self._plan

    def action_move(self, dx: int, dy: int) -> None:
        """Move the cursor a node sideways or a line up or down."""
        step = self._current_plan(self.size.width).per_line
        self.cursor += dx + dy * step

    def action_select(self) -> None:
        """Open the node under the cursor."""
        if self.cursor_node is not None:
            self.post_message(NodeSelected(self.cursor_node))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        position = None if offset is None else self._node_at(offset.x, offset.y)
        if position is not None:
            self.cursor = position
            self.action_select()

    def _node_at(self, x: int, y: int) -> int | None:
        p = self._current_plan(self.size.width)
        if not 0 <= y < len(p.rows) or isinstance(p.rows[y], str):
            return None
        row = p.rows[y][1]
        column = (x - p.label_w) // (p.columns * p.shape.cell_w + p.shape.gap)
        return row[column] if x >= p.label_w and column < len(row) else None

    def render_line(self, y: int) -> Strip:
        if y not in self._lines:
            self._lines[y] = self._render_line(y)
        return self._lines[y]

    def _render_line(self, y: int) -> Strip:
        p = self._current_plan(self.size.width)
        if y == len(p.rows):
            return self._status_line()
        if y > len(p.rows):
            return Strip.blank(self.size.width, self.rich_style)
        row = p.rows[y]
        if isinstance(row, str):
            return Strip([Segment(row, self.get_component_rich_style("heat-map--group"))])
        return Strip(_merged(self._row_cells(p, *row)))

    def _row_cells(self, p: Plan, margin: str, row: range) -> list[tuple[str, Style]]:
        label = self.get_component_rich_style("heat-map--label")
        cursor = self.get_component_rich_style("heat-map--cursor")
        cells: list[tuple[str, Style]] = []
        if p.label_w:
            cells.append((margin[: p.label_w - 1].ljust(p.label_w), label))
        for position in row:
            if p.shape.gap:
                after = position - 1 == self.cursor and position != row[0]
                mark = "[" if position == self.cursor else "]" if after else " "
                cells.append((mark, cursor if mark != " " else label))
            cells.extend(self._node_cells(p, self._heat_nodes[position].slots))
        if p.shape.gap and row[-1] == self.cursor:
            cells.append(("]", cursor))
        return cells

    def _node_cells(self, p: Plan, slots: tuple[int, ...]) -> list[tuple[str, Style]]:
        padded = slots + (EMPTY_SLOT,) * (p.columns * (2 if p.shape.stacked else 1) - len(slots))
        bottom = padded[p.columns :] if p.shape.stacked else padded
        if self.app.no_color:
            glyphs = (max(pair, key=MONO_RANK.__getitem__) for pair in zip(padded, bottom, strict=False))
            label = self.get_component_rich_style("heat-map--label")
            return [(MONO_GLYPHS[g] * p.shape.cell_w, label) for g in glyphs]
        return [(HALF * p.shape.cell_w, self._pair(t, b)) for t, b in zip(padded, bottom, strict=False)]

    def _pair(self, top: int, bottom: int) -> Style:
        if (top, bottom) not in self._pairs:
            colour = [self.get_component_rich_style(f"heat-map--slot-{i}").color for i in range(SLOTS)]
            colour[EMPTY_SLOT] = self.rich_style.bgcolor
            self._pairs[top, bottom] = Style(color=colour[top], bgcolor=colour[bottom])
        return self._pairs[top, bottom]

    def _status_line(self) -> Strip:
        status = self.get_component_rich_style("heat-map--status")
        cursor = self.get_component_rich_style("heat-map--cursor")
        segments = [Segment(f"▸ {self.cursor_node or '-'}  ", cursor), Segment(f"{self.metric}: ", status)]
        extra = () if self.metric is Metric.HEALTH else NUMERIC_EXTRA
        for slot, text in (*LEGEND[self.metric], *extra):
            swatch = MONO_GLYPHS[slot] if self.app.no_color else "■"
            segments.append(Segment(swatch, status if self.app.no_color else self._pair(slot, EMPTY_SLOT)))
            segments.append(Segment(f" {text}  ", status))
        return Strip(segments)


def _merged(cells: list[tuple[str, Style]]) -> list[Segment]:
    """Neighbouring cells of one style become one segment, so a calm fleet is a few segments per line."""
    segments: list[Segment] = []
    for text, style in cells:
        if segments and segments[-1].style is style:
            segments[-1] = Segment(segments[-1].text + text, style)
        else:
            segments.append(Segment(text, style))
    return segments
