"""Per-card history in fixed-size structures: the recent samples and the cumulative counters."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from cardwatch.model import CardSample, CardState, Throttle

HW_SLOWDOWNS = frozenset({Throttle.HW_SLOWDOWN, Throttle.HW_THERMAL, Throttle.HW_POWER_BRAKE})
"""NVML: each cuts core clocks by a factor of 2 or more, so it is serious even in short bursts."""

NOT_LIMITING = frozenset({Throttle.IDLE, Throttle.SYNC_BOOST, Throttle.APP_CLOCKS})
"""Clock-event reasons that do not mean the card is being held back against its will."""


class CounterPoint(NamedTuple):
    """Cumulative counters at one time; rates come from two of these."""

    ts: float
    ecc_corrected: int | None
    pcie_replays: int | None


class CardWindow:
    """The last samples and counter readings of one card, plus when each Xid was last seen."""

    __slots__ = ("counters", "events", "samples")

    def __init__(self, window_samples: int, rate_window_samples: int) -> None:
        self.samples: deque[CardSample] = deque(maxlen=max(window_samples, 1))
        self.counters: deque[CounterPoint] = deque(maxlen=max(rate_window_samples, 2))
        self.events: dict[int, float] = {}

    def push(self, sample: CardSample) -> None:
        """Remember a sample; counters only when the card answered, so a lost card breaks no rate."""
        self.samples.append(sample)
        for xid in sample.xids:
            self.events[xid] = sample.ts
        if sample.state is CardState.OK:
            ecc = sample.ecc_corrected_volatile
            self.counters.append(CounterPoint(sample.ts, ecc, sample.pcie_replay_count))

    @property
    def latest(self) -> CardSample:
        """The newest sample (a window is only created together with its first sample)."""
        return self.samples[-1]


def counter_rate(points: deque[CounterPoint], field: int, min_span_s: float) -> tuple[float, int] | None:
    """(events per second, events counted) over the window, spread over at least `min_span_s`.

    A counter that went down (driver reload) restarts the span at the reset; an unknown value ends it.
    """
    last, first = points[-1], points[0]
    if last[field] is None:
        return None
    if first[field] is None or first[field] > last[field]:
        first = _span_start(points, field)
    count = last[field] - first[field]
    return count / max(last.ts - first.ts, min_span_s, 1e-9), count


def _span_start(points: deque[CounterPoint], field: int) -> CounterPoint:
    first = points[-1]
    for point in reversed(points):
        if point[field] is None or point[field] > first[field]:
            break
        first = point
    return first


def is_busy(sample: CardSample, busy_util_pct: float) -> bool:
    """Busy means utilization known and at least the threshold, and the card not idle-throttled."""
    if sample.util_pct is None or sample.util_pct < busy_util_pct:
        return False
    return sample.throttle is None or Throttle.IDLE not in sample.throttle


def limiting(sample: CardSample) -> frozenset[str] | None:
    """Active clock-limiting reasons, without the ones that mean no harm; None when the vendor cannot say."""
    if sample.throttle is None:
        return None
    return sample.throttle - NOT_LIMITING
