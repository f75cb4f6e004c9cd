"""Every card of one node side by side, nvidia-smi style, with the verdict and its reasons."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.widgets import DataTable

from cardwatch import display
from cardwatch.fleet import CardEntry
from cardwatch.health import CardHealth
from cardwatch.model import card_key
from cardwatch.tui.levels import level_text
from cardwatch.tui.messages import CardSelected
from cardwatch.tui.widgets.live_table import LiveTable


class NodeTable(LiveTable):
    """One row per card, by index; `live` False shows last-known values marked as such."""

    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = (
        ("card", None),
        ("level", 10),
        ("model", None),
        ("temp", None),
        ("hbm", None),
        ("power/limit", None),
        ("sm clock/max", None),
        ("util", None),
        ("throttle", None),
        ("ecc c/u", None),
        ("link", None),
        ("state / reasons", 60),
    )

    def __init__(self, node: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.node = node

    def show(self, cards: Sequence[tuple[CardEntry, CardHealth | None]]) -> None:
        """Follow the node's cards, in place."""
        self.sync([(str(card.sample.index), self._cells(card, health)) for card, health in cards])

    def _cells(self, card: CardEntry, health: CardHealth | None) -> tuple[Text, ...]:
        s = card.sample
        reasons = "; ".join(r.message for r in health.reasons) if health is not None else ""
        state = display.state(s)
        return (
            Text(str(s.index)),
            level_text(self, health.level if health is not None else None),
            Text(s.model or display.UNKNOWN),
            Text(display.num(s.temp_c, " °C"), justify="right"),
            Text(display.num(s.mem_temp_c, " °C"), justify="right"),
            Text(display.pair(s.power_w, s.power_limit_w, " W"), justify="right"),
            Text(display.pair(s.sm_clock_mhz, s.sm_clock_max_mhz, " MHz"), justify="right"),
            Text(display.num(s.util_pct, " %"), justify="right"),
            Text(display.throttle(s)),
            Text(display.ecc(s), justify="right"),
            Text(display.link(s)),
            Text(f"{state}; {reasons}" if reasons else state, no_wrap=True, overflow="ellipsis"),
        )

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(CardSelected(card_key(self.node, int(event.row_key.value))))
