"""Effective compute: the fraction of a card's nominal throughput it delivers now, with its basis."""

from __future__ import annotations

from cardwatch.health_config import HealthConfig
from cardwatch.health_window import CardWindow, finite
from cardwatch.model import CardSample, CardState


def effective_compute(w: CardWindow, cfg: HealthConfig, failed: str | None) -> tuple[float | None, str]:
    """(fraction 0..1 or None, how it was estimated); `failed` names a reason that makes the card unusable."""
    s = w.latest
    if s is None:
        return None, "unknown: no sample yet"
    if s.state is CardState.LOST:
        return 0.0, f"card lost: {s.state_reason or 'no reason given'}"
    if failed is not None:
        return 0.0, f"unusable until repaired: {failed}"
    if s.state is not CardState.OK:
        return None, f"unknown: card {s.state.value} ({s.state_reason or 'no reason given'})"
    if not finite(s.util_pct):
        return None, "unknown: utilization not reported"
    if not w.busy:
        return 1.0, f"idle ({s.util_pct:.0f}% busy): full capacity assumed, not measured under load"
    if not w.loads or w.loads[-1] is None:
        return None, "unknown: SM clock or its max not reported (or not a number)"
    return _busy_estimate(s, w)


def _busy_estimate(s: CardSample, w: CardWindow) -> tuple[float, str]:
    """Mean over the busy samples in the window of SM clock over max, halved while hardware slowdown is on."""
    clean = 1 - w.slowed_count / w.load_count
    basis = f"sm {s.sm_clock_mhz:.0f}/{s.sm_clock_max_mhz:.0f} MHz x {clean:.0%} without hw slowdown over {w.load_count} busy samples"
    return min(max(w.load_sum / w.load_count, 0.0), 1.0), basis
