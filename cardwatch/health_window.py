"""Per-card history in fixed-size structures: the recent samples and the cumulative counters."""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple, TypeGuard

from cardwatch.health_config import HealthConfig
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


HW_SLOWDOWN_FACTOR = 0.5
"""NVML: hardware slowdown cuts clocks by a factor of 2 or more, often between two clock readings."""


class Load(NamedTuple):
    """One busy sample's share of nominal throughput (SM clock over max, halved under hw slowdown)."""

    value: float
    hw_slowdown: bool


class CardWindow:
    """The last samples and counter readings of one card, when each Xid was last seen, and facts
    about the newest sample computed once at `push` so that rules and peers need not recompute them."""

    __slots__ = (
        "busy",
        "counters",
        "ecc_rate_h",
        "events",
        "fair",
        "first_ts",
        "last_ok_ts",
        "latest",
        "limits",
        "load_count",
        "load_sum",
        "loads",
        "samples",
        "slowed_count",
    )

    def __init__(self, cfg: HealthConfig) -> None:
        self.samples: deque[CardSample] = deque(maxlen=max(cfg.window_samples, 1))
        self.loads: deque[Load | None] = deque(maxlen=max(cfg.window_samples, 1))
        self.counters: deque[CounterPoint] = deque(maxlen=max(cfg.rate_window_samples, 2))
        self.events: dict[int, float] = {}
        self.latest: CardSample | None = None
        self.first_ts: float | None = None
        self.last_ok_ts: float | None = None
        self.limits: frozenset[str] | None = None
        self.busy = False
        self.fair = False
        self.ecc_rate_h: float | None = None
        self.load_sum = 0.0
        self.load_count = 0
        self.slowed_count = 0

    def push(self, s: CardSample, cfg: HealthConfig) -> None:
        """Remember a sample; counters only when the card answered, so a lost card breaks no rate."""
        self.samples.append(s)
        self.latest = s
        if self.first_ts is None:
            self.first_ts = s.ts
        for xid in s.xids:
            self.events[xid] = s.ts
        answered = s.state is CardState.OK
        self.limits = limiting(s)
        self.busy = answered and is_busy(s, cfg.busy_util_pct)
        self.fair = self.busy and not self.limits and is_busy(s, cfg.straggler_util_min_pct)
        self._push_load(_load(s) if self.busy else None)
        if answered:
            self.last_ok_ts = s.ts
            self.counters.append(CounterPoint(s.ts, s.ecc_corrected_volatile, s.pcie_replay_count))
            rate = counter_rate(self.counters, 1, cfg.rate_min_span_s)
            self.ecc_rate_h = None if rate is None else rate[0] * 3600

    def _push_load(self, load: Load | None) -> None:
        """Keep running totals of the busy samples in the window, so effective compute is O(1)."""
        if len(self.loads) == self.loads.maxlen and (old := self.loads[0]) is not None:
            self.load_sum -= old.value
            self.load_count -= 1
            self.slowed_count -= old.hw_slowdown
        self.loads.append(load)
        if load is not None:
            self.load_sum += load.value
            self.load_count += 1
            self.slowed_count += load.hw_slowdown


def _load(s: CardSample) -> Load | None:
    if not finite(s.sm_clock_mhz) or not finite(s.sm_clock_max_mhz) or s.sm_clock_max_mhz <= 0:
        return None
    ratio = min(max(s.sm_clock_mhz / s.sm_clock_max_mhz, 0.0), 1.0)
    if s.throttle and HW_SLOWDOWNS & s.throttle:
        return Load(ratio * HW_SLOWDOWN_FACTOR, True)
    return Load(ratio, False)


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


def finite(value: float | None) -> TypeGuard[float]:
    """A usable number: a collector bug that yields NaN or infinity must not poison medians and sums."""
    return value is not None and math.isfinite(value)


def is_busy(sample: CardSample, busy_util_pct: float) -> bool:
    """Busy means utilization known and at least the threshold, and the card not idle-throttled."""
    if not finite(sample.util_pct) or sample.util_pct < busy_util_pct:
        return False
    return sample.throttle is None or Throttle.IDLE not in sample.throttle


def limiting(sample: CardSample) -> frozenset[str] | None:
    """Active clock-limiting reasons, without the ones that mean no harm; None when the vendor cannot say."""
    if not sample.throttle:
        return sample.throttle
    return sample.throttle - NOT_LIMITING
