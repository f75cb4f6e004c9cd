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

    def __init__(self) -> None:
        super().__init__()
        self._drawn = False

    def on_screen_resume(self) -> None:
        """Draw at once the first time; coming back, paint what was shown, then bring it up to date."""
        if self._drawn:
            self.call_after_refresh(lambda: self.redraw(self.fleet_app.clock()))
        else:
            self._drawn = True
            self.redraw(self.fleet_app.clock())

    def redraw(self, now: float) -> None:
        """Show the model as it is now."""
        raise NotImplementedError

    def export_rows(self) -> list[CardRow]:
        """The cards this view shows, for the CSV export."""
        return []
