"""The worst-first list: every flagged card with its reasons, since when, and the compute it still gives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual.widgets import DataTable

from cardwatch import display
from cardwatch.fleet import RankedCard
from cardwatch.tui.levels import ago, level_text
from cardwatch.tui.messages import CardSelected
from cardwatch.tui.widgets.live_table import LiveTable

REASONS_W: Final = 96


class CardTable(LiveTable):
    """Flagged cards in the order the screen chose; enter or a second click opens the card."""

    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("card", None),
        ("level", 10),
        ("model", None),
        ("reasons", REASONS_W),
        ("since", 7),
        ("compute", 7),
    )

    def show(self, rows: Sequence[RankedCard], now: float) -> None:
        """Follow the ranked rows, in place."""
        self.sync([(row.card.key, self._cells(row, now)) for row in rows])

    def _cells(self, row: RankedCard, now: float) -> tuple[Text, ...]:
        health, sample = row.health, row.card.sample
        reasons = health.reasons if health is not None else ()
        since = min((r.since_ts for r in reasons), default=None)
        compute = health.effective_compute if health is not None else None
        return (
            Text(row.card.key),
            level_text(self, health.level if health is not None else None),
            Text(sample.model or display.UNKNOWN),
            Text("; ".join(r.message for r in reasons) or "-", no_wrap=True, overflow="ellipsis"),
            Text(ago(None if since is None else now - since), justify="right"),
            Text(display.num(None if compute is None else 100 * compute, " %"), justify="right"),
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(CardSelected(event.row_key.value))
