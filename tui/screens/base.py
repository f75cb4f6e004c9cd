"""What every cardwatch screen promises the app: redraw from the model on demand, and say what `e` exports."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen

from cardwatch.export import CardRow

if TYPE_CHECKING:
    from cardwatch.tui.app import FleetApp


class ViewScreen(Screen[None]):
    """A screen drawn from the fleet model at the app's cadence, never per frame."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "app.pop_screen", "Back")]
    VIEW: ClassVar[str] = "view"
    """Names the view in export file names."""

    @property
    def fleet_app(self) -> FleetApp:
        """The app, typed."""
        return cast("FleetApp", self.app)

    def on_screen_resume(self) -> None:
        self.redraw(self.fleet_app.clock())

    def redraw(self, now: float) -> None:
        """Show the model as it is now."""
        raise NotImplementedError

    def export_rows(self) -> list[CardRow]:
        """The cards this view shows, for the CSV export."""
        return []
