"""A DataTable that follows a changing list in place: rows added, removed, changed cells rewritten, reordered.

Clearing and refilling a table every second loses the cursor and the scroll position and costs a
rebuild of every row; syncing touches only what changed (dolphie's panels, rule 9 of the style).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.widgets import DataTable

from cardwatch.tui.levels import LEVEL_CLASSES

Row = tuple[str, tuple[Text, ...]]
"""A row key and its cells, one per column."""


class LiveTable(DataTable[Text]):
    """Row cursor, zebra stripes, and `sync` to follow a list; subclasses name their `COLUMNS`.

    The first column shows the row key itself (a card key, a card index), which is how `sync` reorders.
    """

    COLUMNS: ClassVar[tuple[tuple[str, int | None], ...]] = ()
    """Column keys (also the labels) and fixed widths (None: fit the content)."""
    COMPONENT_CLASSES: ClassVar[set[str]] = DataTable.COMPONENT_CLASSES | LEVEL_CLASSES

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shown: dict[str, tuple[Text, ...]] = {}
        for name, width in self.COLUMNS:
            self.add_column(name, key=name, width=width)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        return self.ordered_rows[self.cursor_row].key.value

    def sync(self, rows: Sequence[Row]) -> None:
        """Make the table show `rows` in their order, touching only rows and cells that changed."""
        wanted = dict(rows)
        with self.app.batch_update():
            for key in [k for k in self._shown if k not in wanted]:
                self.remove_row(key)
                del self._shown[key]
            for key, cells in rows:
                self._put(key, cells)
            self._reorder([key for key, _ in rows])

    def _put(self, key: str, cells: tuple[Text, ...]) -> None:
        old = self._shown.get(key)
        if old is None:
            self.add_row(*cells, key=key)
            self._shown[key] = cells
            return
        merged = list(old)
        for i, ((column, _), before, after) in enumerate(zip(self.COLUMNS, old, cells, strict=True)):
            if before != after:
                self.update_cell(key, column, after)
                merged[i] = after
        self._shown[key] = tuple(merged)

    def _reorder(self, order: list[str]) -> None:
        if [row.key.value for row in self.ordered_rows] == order:
            return
        cursor = self.cursor_key
        rank = {key: i for i, key in enumerate(order)}
        self.sort(self.COLUMNS[0][0], key=lambda first: rank[first.plain])
        if cursor in self._shown:
            self.move_cursor(row=self.get_row_index(cursor), animate=False)
