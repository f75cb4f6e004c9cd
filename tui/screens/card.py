"""One card: its verdict with reasons, plots of the recent window against thresholds, and its event log."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Footer, Static

from cardwatch import display
from cardwatch.export import CardRow
from cardwatch.fleet import CardEntry
from cardwatch.health import CardHealth
from cardwatch.tui.levels import LEVEL_MARKS, PENDING, ago
from cardwatch.tui.screens.base import ViewScreen
from cardwatch.tui.widgets.event_table import EventTable
from cardwatch.tui.widgets.trace_plot import TracePlot

EVENTS_SHOWN = 500


class CardScreen(ViewScreen):
    """Everything about one card; escape goes back."""

    VIEW: ClassVar[str] = "card"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        yield Static(id="card-header")
        with Grid(id="plots"):
            yield TracePlot("temp", " °C", id="plot-temp")
            yield TracePlot("hbm temp", " °C", id="plot-hbm")
            yield TracePlot("power", " W", id="plot-power")
            yield TracePlot("sm clock", " MHz", alarm_above=False, id="plot-clock")
            yield TracePlot("util", " %", bounds=(0.0, 100.0), id="plot-util")
        yield EventTable(id="card-events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventTable).focus()

    def redraw(self, now: float) -> None:
        fleet = self.fleet_app.fleet
        card = fleet.card(self.key)
        health = fleet.health(self.key)
        self.query_one("#card-header", Static).update(card_text(self.key, card, health, now))
        if card is not None:
            self._plot(card)
        self.query_one(EventTable).follow(fleet.events.newest(self.key, EVENTS_SHOWN))

    def _plot(self, card: CardEntry) -> None:
        s, history = card.sample, card.history
        self.query_one("#plot-temp", TracePlot).show(history.series("temp_c"), s.temp_slowdown_c, "slowdown")
        self.query_one("#plot-hbm", TracePlot).show(history.series("mem_temp_c"), s.mem_temp_max_c, "limit")
        self.query_one("#plot-power", TracePlot).show(history.series("power_w"), s.power_limit_w, "limit")
        self.query_one("#plot-clock", TracePlot).show(
            history.series("sm_clock_mhz"), s.sm_clock_max_mhz, "max"
        )
        self.query_one("#plot-util", TracePlot).show(history.series("util_pct"), None)

    def export_rows(self) -> list[CardRow]:
        card = self.fleet_app.fleet.card(self.key)
        return [] if card is None else [(card.sample, self.fleet_app.fleet.health(self.key))]


def card_text(key: str, card: CardEntry | None, health: CardHealth | None, now: float) -> Text:
    """Who the card is, its verdict, and each active reason with its numbers, since when and what to do."""
    if card is None:
        return Text(f"{key}: this card is no longer in the fleet")
    s = card.sample
    mark = LEVEL_MARKS[health.level] if health is not None else PENDING
    compute = health.effective_compute if health is not None else None
    lines = [
        f"{key}   {s.vendor} {s.model or '-'}   uuid {s.uuid or '-'}   bus {s.bus_id or '-'}   {display.state(s)}",
        f"{mark}   effective compute {display.num(None if compute is None else 100 * compute, ' %')}"
        f"   ({health.compute_basis if health is not None else 'not evaluated yet'})"
        f"   throttle {display.throttle(s)}   ecc {display.ecc(s)}   link {display.link(s)}",
    ]
    for r in health.reasons if health is not None else ():
        lines.append(
            f"  {LEVEL_MARKS[r.level]}  {r.message}   since {ago(now - r.since_ts)}   action {r.action}"
        )
    return Text("\n".join(lines))
