"""The fleet TUI. `make_app` builds it, for `cardwatch fleet` and for the tests alike.

Frames from the agents land in the `Fleet` model as they come (the client runs in a worker); the app
evaluates health and redraws the current screen at a fixed cadence, so a thousand agents streaming
cost one redraw per tick, not one per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from cardwatch.client import FleetClient
from cardwatch.export import export_path, write_csv
from cardwatch.fleet import Fleet
from cardwatch.tui.screens.base import ViewScreen
from cardwatch.tui.screens.events import EventsScreen
from cardwatch.tui.screens.fleet import FleetScreen
from cardwatch.tui.screens.help import HelpScreen


class FleetApp(App[None]):
    """Every agent's cards, worst first; `?` lists the keys."""

    CSS_PATH = "app.tcss"
    TITLE = "cardwatch fleet"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("l", "events", "Events"),
        Binding("p", "pause", "Pause"),
        Binding("e", "export", "Export CSV"),
    ]
    SCREENS: ClassVar[dict[str, Callable[[], Screen[None]]]] = {"events": EventsScreen}

    def __init__(
        self,
        fleet: Fleet,
        client: FleetClient | None,
        *,
        refresh_s: float,
        clock: Callable[[], float],
        export_dir: Path,
    ) -> None:
        super().__init__()
        self.fleet = fleet
        self.client = client
        self.refresh_s = refresh_s
        self.clock = clock
        self.export_dir = export_dir
        self.paused = False

    def get_default_screen(self) -> Screen[None]:
        return FleetScreen()

    def on_mount(self) -> None:
        if self.client is not None:
            self.follow_agents()
        self.fleet.evaluate(self.clock())
        self.set_interval(self.refresh_s, self.tick)

    @work(exclusive=True, group="agents")
    async def follow_agents(self) -> None:
        """Stream every agent into the fleet until the app closes."""
        if self.client is not None:
            await self.client.run()

    def tick(self) -> None:
        """Evaluate health on what arrived since the last tick, then redraw once waiting keys are handled."""
        now = self.clock()
        self.fleet.evaluate(now)
        self.call_later(self.redraw, now)

    def redraw(self, now: float) -> None:
        """Redraw the current view from the model, unless paused or closing."""
        if self.is_running and not self.paused and isinstance(self.screen, ViewScreen):
            self.screen.redraw(now)

    async def action_quit(self) -> None:
        """Close the streams and leave."""
        if self.client is not None:
            self.client.stop()
        self.exit()

    def action_help(self) -> None:
        """Show every key of the current screen."""
        keys: dict[tuple[str, str], None] = {}
        for active in self.screen.active_bindings.values():
            if active.binding.description:
                keys[self.get_key_display(active.binding), active.binding.description] = None
        self.push_screen(HelpScreen(list(keys)))

    def action_events(self) -> None:
        """Open the fleet's event log."""
        if not isinstance(self.screen, EventsScreen):
            self.push_screen("events")

    def action_pause(self) -> None:
        """Freeze the screen (data keeps arriving and health keeps being evaluated)."""
        self.paused = not self.paused
        self.notify("Paused: the screen is frozen, data keeps arriving" if self.paused else "Resumed")
        if isinstance(self.screen, ViewScreen):
            self.screen.redraw(self.clock())

    def action_export(self) -> None:
        """Write the cards of the current view as CSV and say where."""
        screen = self.screen
        rows = screen.export_rows() if isinstance(screen, ViewScreen) else []
        if not rows:
            self.notify("This view has no cards to export", severity="warning")
            return
        try:
            path = write_csv(export_path(self.export_dir, screen.VIEW, self.clock()), rows)
        except OSError as exc:
            self.notify(f"Export failed: {exc}", title="Export", severity="error")
            return
        self.notify(f"{len(rows)} cards written to {path}", title="Export")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Events", "Open the fleet's event log (l)", self.action_events)
        yield SystemCommand("Pause", "Freeze or unfreeze the screen (p)", self.action_pause)
        yield SystemCommand("Export CSV", "Write the current view as CSV (e)", self.action_export)
        yield SystemCommand("Help", "List every key (?)", self.action_help)
        if isinstance(screen, FleetScreen):
            yield SystemCommand(
                "Cycle metric", "Colour the heat map by the next metric (m)", screen.action_metric
            )
            yield SystemCommand(
                "Cycle sort", "Order the flagged list by the next key (s)", screen.action_sort
            )
            yield SystemCommand(
                "Filter", "Filter cards by node, vendor, model, level, reason (/)", screen.action_filter
            )


def make_app(
    fleet: Fleet,
    client: FleetClient | None = None,
    *,
    refresh_s: float = 1.0,
    clock: Callable[[], float] = time.time,
    export_dir: Path | None = None,
) -> FleetApp:
    """The app over `fleet`; with a `client`, it also streams the agents. Exports go to `export_dir` (cwd)."""
    return FleetApp(fleet, client, refresh_s=refresh_s, clock=clock, export_dir=export_dir or Path.cwd())
