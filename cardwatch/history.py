"""A bounded per-card window of the few metrics the card screen plots.

Values live in flat float arrays used as a ring, so appending a sample allocates nothing once the
window is full and 10,000 cards cost a few kilobytes each. Unknown values are stored as NaN and read
back as `None`.
"""

from __future__ import annotations

import math
from array import array
from typing import Final

from cardwatch.model import CardSample

HISTORY_FIELDS: Final = ("temp_c", "mem_temp_c", "power_w", "sm_clock_mhz", "util_pct")
"""The CardSample fields kept per card, in plot order."""

_NAN: Final = math.nan


class CardHistory:
    """The last `capacity` readings of one card's `HISTORY_FIELDS`, oldest first on read."""

    __slots__ = ("_next", "_ts", "_values", "capacity")

    def __init__(self, capacity: int = 300) -> None:
        if capacity < 1:
            raise ValueError("history capacity must be at least 1")
        self.capacity = capacity
        self._ts = array("d")
        self._values = {name: array("f") for name in HISTORY_FIELDS}
        self._next = 0

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, sample: CardSample) -> None:
        """Record one reading, overwriting the oldest once the window is full."""
        if len(self._ts) < self.capacity:
            self._ts.append(sample.ts)
            for name, values in self._values.items():
                value = getattr(sample, name)
                values.append(_NAN if value is None else value)
            return
        slot = self._next
        self._ts[slot] = sample.ts
        for name, values in self._values.items():
            value = getattr(sample, name)
            values[slot] = _NAN if value is None else value
        self._next = (slot + 1) % self.capacity

    def times(self) -> list[float]:
        """Sample times (Unix seconds), oldest first."""
        return self._ordered(self._ts)

    def series(self, name: str) -> list[float | None]:
        """One metric's values, oldest first, aligned with `times`; `None` where it was unknown."""
        return [None if math.isnan(v) else v for v in self._ordered(self._values[name])]

    def _ordered(self, values: array[float]) -> list[float]:
        return values[self._next :].tolist() + values[: self._next].tolist()
