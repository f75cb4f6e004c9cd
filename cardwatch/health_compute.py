"""Effective compute: the fraction of a card's nominal throughput it delivers now, with its basis."""

from __future__ import annotations

from cardwatch.health_config import HealthConfig
from cardwatch.health_window import HW_SLOWDOWNS, CardWindow, is_busy
from cardwatch.model import CardSample, CardState

HW_SLOWDOWN_FACTOR = 0.5
"""NVML: hardware slowdown cuts clocks by a factor of 2 or more, often between two clock readings."""


def effective_compute(w: CardWindow, cfg: HealthConfig, failed: str | None) -> tuple[float | None, str]:
    """(fraction 0..1 or None, how it was estimated); `failed` names a reason that makes the card unusable."""
    s = w.latest
    if s.state is CardState.LOST:
        return 0.0, f"card lost: {s.state_reason or 'no reason given'}"
    if failed is not None:
        return 0.0, f"unusable until repaired: {failed}"
    if s.state is not CardState.OK:
        return None, f"unknown: card {s.state.value} ({s.state_reason or 'no reason given'})"
    if s.util_pct is None:
        return None, "unknown: utilization not reported"
    if not is_busy(s, cfg.busy_util_pct):
        return 1.0, f"idle ({s.util_pct:.0f}% busy): full capacity assumed, not measured under load"
    return _busy_estimate(w, cfg)


def _busy_estimate(w: CardWindow, cfg: HealthConfig) -> tuple[float | None, str]:
    """Mean over the busy samples in the window of SM clock over max, halved while hardware slowdown is on."""
    s = w.latest
    if s.sm_clock_mhz is None or not s.sm_clock_max_mhz:
        return None, "unknown: SM clock or its max not reported"
    ratios: list[float] = []
    slowed = 0
    for old in w.samples:
        ratio = _clock_ratio(old, cfg)
        if ratio is None:
            continue
        if old.throttle and HW_SLOWDOWNS & old.throttle:
            ratio *= HW_SLOWDOWN_FACTOR
            slowed += 1
        ratios.append(ratio)
    value = min(sum(ratios) / len(ratios), 1.0)
    clean = 1 - slowed / len(ratios)
    basis = f"sm {s.sm_clock_mhz:.0f}/{s.sm_clock_max_mhz:.0f} MHz x {clean:.0%} without hw slowdown over {len(ratios)} busy samples"
    return value, basis


def _clock_ratio(s: CardSample, cfg: HealthConfig) -> float | None:
    if s.state is not CardState.OK or not is_busy(s, cfg.busy_util_pct):
        return None
    if s.sm_clock_mhz is None or not s.sm_clock_max_mhz:
        return None
    return min(s.sm_clock_mhz / s.sm_clock_max_mhz, 1.0)
