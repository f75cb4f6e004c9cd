"""The whole fleet's event log, newest first: agents coming and going, reasons raised and cleared, Xids."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.widgets import Footer

from cardwatch.tui.screens.base import ViewScreen
from cardwatch.tui.widgets.event_table import EventTable


class EventsScreen(ViewScreen):
    """Every fleet event; escape goes back."""

    VIEW: ClassVar[str] = "events"

    def compose(self) -> ComposeResult:
        yield EventTable(id="fleet-events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(EventTable).focus()

    def redraw(self, now: float) -> None:
        self.query_one(EventTable).follow(self.fleet_app.fleet.events.newest())
