"""The overview: fleet header, heat map of every card, and the worst-first list of flagged cards."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer, Input

from cardwatch.export import CardRow
from cardwatch.fleet import FleetHeader
from cardwatch.heat import Metric, heat_groups
from cardwatch.tui.messages import CardSelected, NodeSelected
from cardwatch.tui.screens.base import ViewScreen
from cardwatch.tui.screens.card import CardScreen
from cardwatch.tui.screens.node import NodeScreen
from cardwatch.tui.widgets.card_table import CardTable
from cardwatch.tui.widgets.fleet_bar import FleetBar
from cardwatch.tui.widgets.heat_map import HeatMap
from cardwatch.view import CardFilter, FilterError, SortKey, flagged, ordered

MAX_LISTED = 500
"""Rows the worst-first list holds; a rack going dark must not cost thousands of table rows a second."""
FILTER_HINT = "filter: node glob, vendor:X, model:X, level:watch, reason:X   (enter applies, escape cancels)"


class FleetScreen(ViewScreen):
    """The start screen; drill down with enter on the heat map (node) or the list (card)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter"),
        Binding("m", "metric", "Metric"),
        Binding("s", "sort", "Sort"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]
    VIEW: ClassVar[str] = "fleet"

    def __init__(self) -> None:
        super().__init__()
        self.metric = Metric.HEALTH
        self.sort = SortKey.WORST
        self.card_filter = CardFilter()
        self._header: FleetHeader | None = None
        self._flagged_count = 0

    def compose(self) -> ComposeResult:
        yield FleetBar(id="fleet-bar")
        yield HeatMap(id="heat-map")
        yield CardTable(id="card-table")
        yield Input(placeholder=FILTER_HINT, id="filter")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(HeatMap).focus()

    def view_text(self, flagged_count: int) -> str:
        """Metric, sort, filter and list length in force, for the header."""
        shown = f"filter {self.card_filter.text}" if self.card_filter.text else "no filter"
        listed = f"   list shows the worst {MAX_LISTED}" if flagged_count > MAX_LISTED else ""
        return f"metric {self.metric}   sort {self.sort}   {shown}   flagged {flagged_count}{listed}"

    def redraw(self, now: float) -> None:
        """List, heat map and header in three steps, so a key pressed meanwhile is handled between them."""
        self._draw_list(now)
        self.call_later(self._draw_heat)
        self.call_later(self._recount, now)

    def _recount(self, now: float) -> None:
        """Fleet totals for the header: the costliest step, done once per redraw."""
        self._header = self.fleet_app.fleet.header()
        self._draw_header(now)

    def _draw_list(self, now: float) -> None:
        """The worst-first list, capped, in the chosen order."""
        rows = ordered(flagged(self.fleet_app.fleet.ranked(flagged_only=True), self.card_filter), self.sort)
        self._flagged_count = len(rows)
        self.query_one(CardTable).show(rows[:MAX_LISTED], now)

    def _draw_heat(self) -> None:
        """Every card's slot under the chosen metric; filtered-out cards are empty cells."""
        groups = heat_groups(self.fleet_app.fleet, self.metric, self.card_filter)
        self.query_one(HeatMap).update(groups, self.metric)

    def _draw_header(self, now: float) -> None:
        """The header from the last fleet totals; keys that change only the view do not recount the fleet."""
        if self._header is not None:
            view = self.view_text(self._flagged_count)
            agents = self.fleet_app.fleet.agents()
            self.query_one(FleetBar).show(self._header, agents, now, view, paused=self.fleet_app.paused)

    def export_rows(self) -> list[CardRow]:
        fleet = self.fleet_app.fleet
        return [(r.card.sample, r.health) for r in fleet.ranked() if self.card_filter.matches(*r)]

    def action_metric(self) -> None:
        """Colour the heat map by the next metric."""
        self.metric = self.metric.next()
        self._draw_heat()
        self._draw_header(self.fleet_app.clock())

    def action_sort(self) -> None:
        """Order the list by the next key."""
        self.sort = self.sort.next()
        self._draw_list(self.fleet_app.clock())
        self._draw_header(self.fleet_app.clock())

    def action_filter(self) -> None:
        """Open the filter line."""
        box = self.query_one("#filter", Input)
        box.value = self.card_filter.text
        box.add_class("-open")
        box.focus()

    def action_clear_filter(self) -> None:
        """Close the filter line, or drop the filter in force."""
        box = self.query_one("#filter", Input)
        self.query_one(HeatMap).focus()
        if box.has_class("-open"):
            box.remove_class("-open")
        elif not self.card_filter.is_empty:
            self.card_filter = CardFilter()
            self.redraw(self.fleet_app.clock())

    @on(Input.Submitted, "#filter")
    def apply_filter(self, event: Input.Submitted) -> None:
        try:
            self.card_filter = CardFilter.parse(event.value)
        except FilterError as exc:
            self.notify(str(exc), title="Filter not applied", severity="error")
            return
        event.input.remove_class("-open")
        self.query_one(HeatMap).focus()
        self.redraw(self.fleet_app.clock())

    @on(NodeSelected)
    def open_node(self, message: NodeSelected) -> None:
        self.app.push_screen(NodeScreen(message.node))

    @on(CardSelected)
    def open_card(self, message: CardSelected) -> None:
        self.app.push_screen(CardScreen(message.key))
