"""The event log as a table, newest first; only events that arrived since the last redraw are added."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final

from rich.text import Text
from textual.widgets import DataTable

from cardwatch.events import FleetEvent
from cardwatch.tui.levels import LEVEL_CLASSES, clock_text, level_text

MAX_ROWS: Final = 1000


class EventTable(DataTable[Text]):
    """Events numbered in arrival order; `follow` takes the log newest first, as `EventLog` gives it."""

    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | LEVEL_CLASSES

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._newest: FleetEvent | None = None
        self._count = 0
        for name in ("#", "time", "kind", "subject", "level", "message"):
            self.add_column(name, key=name)

    def follow(self, events: Sequence[FleetEvent]) -> None:
        """Add the events newer than the newest shown, keeping at most `MAX_ROWS`."""
        fresh: list[FleetEvent] = []
        for event in events:
            if event is self._newest:
                break
            fresh.append(event)
        if not fresh:
            return
        self._newest = fresh[0]
        with self.app.batch_update():
            for event in reversed(fresh[:MAX_ROWS]):
                self._count += 1
                self.add_row(*self._cells(event), key=str(self._count))
            for old in range(self._count - self.row_count + 1, self._count - MAX_ROWS + 1):
                self.remove_row(str(old))
            self.sort("#", key=lambda n: -int(n.plain))

    def _cells(self, event: FleetEvent) -> tuple[Text, ...]:
        return (
            Text(str(self._count), justify="right"),
            Text(clock_text(event.ts)),
            Text(event.kind.value),
            Text(event.subject),
            level_text(self, event.level) if event.level is not None else Text(""),
            Text(event.message),
        )
