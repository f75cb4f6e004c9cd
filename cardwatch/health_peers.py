"""Peer baselines per model group (median and MAD), and the rules that compare a card with its peers.

A card is a straggler when it is a robust outlier against cards of the same model that are equally
busy and not throttled: that is how one slow card in a synchronous job is found across vendors.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import median
from typing import TypeGuard

from cardwatch.health_config import HealthConfig
from cardwatch.health_types import Action, Finding, Level
from cardwatch.health_window import CardWindow, finite
from cardwatch.model import CardSample

MAD_TO_SIGMA = 1.4826
"""Scales the median absolute deviation to a standard deviation for normally distributed values."""


@dataclass(frozen=True, slots=True)
class Spread:
    """Median and median absolute deviation of one metric over `n` peers, and how far from the median
    a value must be to count as an outlier (`margin`)."""

    median: float
    mad: float
    n: int
    margin: float

    @classmethod
    def of(cls, values: list[float], cfg: HealthConfig) -> Spread | None:
        """None when there are no values to compare with."""
        if not values:
            return None
        mid = median(values)
        mad = median([abs(v - mid) for v in values])
        margin = max(cfg.straggler_z * MAD_TO_SIGMA * mad, cfg.straggler_min_frac * abs(mid))
        return cls(mid, mad, len(values), margin)


@dataclass(frozen=True, slots=True)
class PeerStats:
    """Baselines of one model group, computed once per `observe()` from every card's latest sample.

    ecc_rate_per_h is the median corrected-ECC rate, None with fewer than `min_peers` cards reporting it.
    """

    group: str
    clock: Spread | None
    power: Spread | None
    temp: Spread | None
    typical_limit_w: float | None
    ecc_rate_per_h: float | None


def peer_group(s: CardSample) -> str:
    """Cards are compared only with cards of the same model."""
    return s.model or f"{s.vendor} (model unknown)"


def compute_peers(
    windows: Iterable[CardWindow], cfg: HealthConfig, key: Callable[[CardSample], str] = peer_group
) -> dict[str, PeerStats]:
    """Group every known card by model (or by `key`) and compute each group's baselines."""
    groups: dict[str, list[CardWindow]] = {}
    for w in windows:
        if w.latest is not None:
            groups.setdefault(key(w.latest), []).append(w)
    return {name: _group_stats(name, members, cfg) for name, members in groups.items()}


def _group_stats(name: str, members: list[CardWindow], cfg: HealthConfig) -> PeerStats:
    fair = [w.latest for w in members if w.fair and w.latest is not None]
    power = Spread.of([s.power_w for s in fair if finite(s.power_w)], cfg)
    at_power = fair if power is None else [s for s in fair if _near(s.power_w, power.median, cfg)]
    limits = Counter(
        w.latest.power_limit_w for w in members if w.latest and w.latest.power_limit_w is not None
    )
    top = limits.most_common(1)
    known = [w.ecc_rate_h for w in members if finite(w.ecc_rate_h)]
    return PeerStats(
        group=name,
        clock=Spread.of([s.sm_clock_mhz for s in fair if finite(s.sm_clock_mhz)], cfg),
        power=power,
        temp=Spread.of([s.temp_c for s in at_power if finite(s.temp_c)], cfg),
        typical_limit_w=top[0][0] if top and top[0][1] * 2 > sum(limits.values()) else None,
        ecc_rate_per_h=median(known) if len(known) >= cfg.straggler_min_peers else None,
    )


def _near(value: float | None, target: float, cfg: HealthConfig) -> bool:
    return value is not None and abs(value - target) <= cfg.straggler_power_band_frac * target


PeerRule = Callable[[CardSample, CardWindow, PeerStats, HealthConfig, list[Finding]], None]


def straggler_clock(
    s: CardSample, w: CardWindow, p: PeerStats, cfg: HealthConfig, out: list[Finding]
) -> None:
    """SM clock under load a robust outlier below its peers (far-under-max is `CLOCK_LOW`'s job)."""
    spread = p.clock
    if not w.fair or s.sm_clock_mhz is None or not _enough(spread, cfg):
        return
    if s.sm_clock_max_mhz and s.sm_clock_mhz < s.sm_clock_max_mhz * (1 - cfg.clock_low_frac):
        return
    if s.sm_clock_mhz < spread.median - spread.margin:
        under = 1 - s.sm_clock_mhz / spread.median
        msg = f"SM clock {s.sm_clock_mhz:.0f} MHz, {under:.0%} under median {spread.median:.0f} of {_peers(p, spread)}"
        out.append(Finding("STRAGGLER_CLOCK", Level.DEGRADED, msg, Action.DRAIN_RESET))


def straggler_power(
    s: CardSample, w: CardWindow, p: PeerStats, cfg: HealthConfig, out: list[Finding]
) -> None:
    """Drawing far less power than equally busy peers: the card is doing less work than it claims."""
    spread = p.power
    if not w.fair or s.power_w is None or not _enough(spread, cfg):
        return
    if s.power_w < spread.median - spread.margin:
        under = 1 - s.power_w / spread.median
        msg = f"power {s.power_w:.0f} W at {s.util_pct:.0f}% busy, {under:.0%} under median {spread.median:.0f} W of {_peers(p, spread)}"
        out.append(Finding("STRAGGLER_POWER", Level.WATCH, msg, Action.WATCH))


def straggler_temp(s: CardSample, w: CardWindow, p: PeerStats, cfg: HealthConfig, out: list[Finding]) -> None:
    """Hotter than peers drawing the same power: its cooling (fan, airflow, paste) is worse."""
    spread, power = p.temp, p.power
    if not w.fair or s.temp_c is None or power is None or not _enough(spread, cfg):
        return
    if _near(s.power_w, power.median, cfg) and s.temp_c > spread.median + spread.margin:
        msg = f"{s.temp_c:.0f} °C at {s.power_w:.0f} W, median {spread.median:.0f} °C of {_peers(p, spread)} at the same power"
        out.append(Finding("STRAGGLER_TEMP", Level.WATCH, msg, Action.WATCH))


def power_limit_low(
    s: CardSample, w: CardWindow, p: PeerStats, cfg: HealthConfig, out: list[Finding]
) -> None:
    """An enforced limit under the model default or under what most peers run at: lowered and forgotten."""
    if s.power_limit_w is None:
        return
    for ref, what in ((s.power_default_limit_w, "model default"), (p.typical_limit_w, "most peers")):
        if ref and s.power_limit_w < ref * (1 - cfg.power_limit_tolerance_frac):
            msg = f"power limit {s.power_limit_w:.0f} W, {what} {ref:.0f} W"
            out.append(Finding("POWER_LIMIT_LOW", Level.DEGRADED, msg, Action.WATCH))
            return


def ecc_corrected_rate(
    s: CardSample, w: CardWindow, p: PeerStats, cfg: HealthConfig, out: list[Finding]
) -> None:
    """Corrected errors far above the threshold and the group's baseline; accelerating makes it worse."""
    rate_h = w.ecc_rate_h
    if rate_h is None or rate_h <= cfg.ecc_corrected_per_hour:
        return
    baseline = p.ecc_rate_per_h
    if baseline is not None and rate_h <= baseline * cfg.ecc_baseline_factor:
        return
    accel = _accelerating(w, cfg)
    level, action = (Level.DEGRADED, Action.DRAIN_RESET) if accel else (Level.WATCH, Action.WATCH)
    trend = ", accelerating" if accel else ""
    group = f"group median {baseline:,.0f}/h" if baseline is not None else "too few peers for a baseline"
    msg = f"corrected ECC {rate_h:,.0f}/h{trend}; {group}, threshold {cfg.ecc_corrected_per_hour:,.0f}/h"
    out.append(Finding("ECC_CORRECTED_RATE", level, msg, action))


def _accelerating(w: CardWindow, cfg: HealthConfig) -> bool:
    points = list(w.counters)
    if len(points) < 3 or any(pt.ecc_corrected is None for pt in points):
        return False
    first, mid, last = points[0], points[len(points) // 2], points[-1]
    early = (mid.ecc_corrected - first.ecc_corrected) / max(mid.ts - first.ts, 1e-9)
    late = (last.ecc_corrected - mid.ecc_corrected) / max(last.ts - mid.ts, 1e-9)
    return early >= 0 and late > early * cfg.ecc_accel_factor


def _enough(spread: Spread | None, cfg: HealthConfig) -> TypeGuard[Spread]:
    return spread is not None and spread.n >= cfg.straggler_min_peers


def _peers(p: PeerStats, spread: Spread) -> str:
    return f"{spread.n} peers ({p.group})"


PEER_RULES: tuple[PeerRule, ...] = (
    power_limit_low,
    straggler_clock,
    straggler_power,
    straggler_temp,
    ecc_corrected_rate,
)
"""Rules that need the card's model group baselines."""
