"""Rules that judge one card from its own samples: thermal, power, clocks, memory errors, link.

Each rule appends `Finding`s for conditions that hold in the newest sample; hysteresis happens later.
A rule whose inputs are unknown (None) stays silent rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable

from cardwatch.health_config import HealthConfig
from cardwatch.health_types import Action, Finding, Level
from cardwatch.health_window import HW_SLOWDOWNS, CardWindow, counter_rate
from cardwatch.model import CardSample, Throttle

Rule = Callable[[CardSample, CardWindow, HealthConfig, list[Finding]], None]


def thermal_names(reasons: frozenset[str]) -> list[str]:
    """Software thermal limits, and sysfs thermal-zone trips or engaged cooling devices."""
    found = [Throttle.SW_THERMAL.value] if Throttle.SW_THERMAL in reasons else []
    for name in sorted(reasons):
        if name.startswith("sysfs:") and any(word in name for word in ("thermal", "trip", "cooling")):
            found.append(name)
    return found


def thermal_slowdown(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Clocks pulled down for temperature while the card has work to do."""
    reasons = w.limits
    if not reasons or not w.busy:
        return
    names = thermal_names(reasons)
    if names:
        msg = f"thermal slowdown ({', '.join(names)}) while busy{_at_temp(s)}"
        out.append(Finding("THERMAL_SLOWDOWN", Level.DEGRADED, msg, Action.WATCH))


def hw_slowdown(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Hardware slowdown halves clocks or worse, so it counts whether or not the card is busy."""
    if not w.limits:
        return
    names = sorted(HW_SLOWDOWNS & w.limits)
    if not names:
        return
    seen = sum(1 for old in w.samples if old.throttle and HW_SLOWDOWNS & old.throttle)
    msg = f"hardware slowdown ({', '.join(names)}) in {seen} of the last {len(w.samples)} samples"
    out.append(Finding("HW_SLOWDOWN", Level.DEGRADED, msg, Action.DRAIN_RESET))


def temp_near_slowdown(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Core temperature within the margin of where hardware slowdown begins."""
    if s.temp_c is None or s.temp_slowdown_c is None:
        return
    if s.temp_c >= s.temp_slowdown_c - cfg.thermal_margin_c:
        msg = f"core {s.temp_c:.0f} °C, slowdown at {s.temp_slowdown_c:.0f} °C"
        out.append(Finding("TEMP_NEAR_SLOWDOWN", Level.WATCH, msg, Action.WATCH))


def mem_temp_near_limit(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """HBM/memory temperature within the margin of its limit, where memory slowdown starts."""
    if s.mem_temp_c is None or s.mem_temp_max_c is None:
        return
    if s.mem_temp_c >= s.mem_temp_max_c - cfg.mem_thermal_margin_c:
        msg = f"memory {s.mem_temp_c:.0f} °C, limit {s.mem_temp_max_c:.0f} °C"
        out.append(Finding("MEM_TEMP_NEAR_LIMIT", Level.WATCH, msg, Action.WATCH))


def devfreq_below_max(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """A devfreq accelerator (sysfs) running under its top frequency while busy is being capped."""
    if s.source != "sysfs" or not w.busy:
        return
    if s.sm_clock_mhz is None or not s.sm_clock_max_mhz or s.sm_clock_mhz >= s.sm_clock_max_mhz:
        return
    msg = f"devfreq {s.sm_clock_mhz:.0f}/{s.sm_clock_max_mhz:.0f} MHz while busy"
    out.append(Finding("DEVFREQ_BELOW_MAX", Level.WATCH, msg, Action.WATCH))


def power_cap(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Software power capping while busy: clocks are held to stay under the enforced limit."""
    if s.throttle is None or Throttle.SW_POWER_CAP not in s.throttle or not w.busy:
        return
    draw = f"{s.power_w:.0f} W" if s.power_w is not None else "draw unknown"
    limit = f"{s.power_limit_w:.0f} W" if s.power_limit_w is not None else "unknown"
    out.append(Finding("POWER_CAP", Level.WATCH, f"software power cap: {draw}, limit {limit}", Action.WATCH))


def clock_low(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """SM clock well under max while busy (busy excludes idle-throttled): compute lost, whatever the cause."""
    if not w.busy or s.sm_clock_mhz is None or not s.sm_clock_max_mhz:
        return
    ratio = s.sm_clock_mhz / s.sm_clock_max_mhz
    if ratio < 1 - cfg.clock_low_frac:
        if w.limits:
            why = f"limited by {', '.join(sorted(w.limits))}"
        else:
            why = (
                "no throttle reason reported"
                if s.throttle is not None
                else "vendor reports no throttle reasons"
            )
        msg = f"SM clock {s.sm_clock_mhz:.0f}/{s.sm_clock_max_mhz:.0f} MHz ({ratio:.0%}) while busy, {why}"
        out.append(Finding("CLOCK_LOW", Level.DEGRADED, msg, Action.WATCH))


def ecc_uncorrected(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Any uncorrected ECC error since driver load means data was lost: the job must not trust this card."""
    if s.ecc_uncorrected_volatile:
        msg = f"{s.ecc_uncorrected_volatile} uncorrected ECC errors since driver load"
        out.append(Finding("ECC_UNCORRECTED", Level.FAILED, msg, Action.DRAIN_RESET, True, True))


def memory_repair(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """Pending page retirement or row remap needs a reset; a failed remap or a full table needs a new card."""
    if s.retired_pages_pending or s.remap_pending:
        what = "row remap" if s.remap_pending else "page retirement"
        out.append(
            Finding(
                "MEMORY_REPAIR_PENDING", Level.DEGRADED, f"{what} pending", Action.DRAIN_RESET, immediate=True
            )
        )
    if s.remap_failure:
        out.append(
            Finding("ROW_REMAP_FAILURE", Level.FAILED, "row remapping failed", Action.REPLACE, True, True)
        )
    retired = (s.retired_pages_sbe or 0) + (s.retired_pages_dbe or 0)
    if retired >= cfg.retired_pages_limit > 0:
        msg = f"{retired} retired pages, limit {cfg.retired_pages_limit}"
        out.append(Finding("RETIRED_PAGES_LIMIT", Level.FAILED, msg, Action.REPLACE, True, True))


def pcie_downtrained(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """A link trained below its capability under load (idle links legitimately drop generation)."""
    if not w.busy:
        return
    gen_low = s.pcie_gen is not None and s.pcie_gen_max is not None and s.pcie_gen < s.pcie_gen_max
    width_low = s.pcie_width is not None and s.pcie_width_max is not None and s.pcie_width < s.pcie_width_max
    if gen_low or width_low:
        msg = f"PCIe gen {s.pcie_gen}/{s.pcie_gen_max} x{s.pcie_width}/x{s.pcie_width_max} while busy"
        out.append(Finding("PCIE_DOWNTRAINED", Level.DEGRADED, msg, Action.DRAIN_RESET))


def pcie_replays(s: CardSample, w: CardWindow, cfg: HealthConfig, out: list[Finding]) -> None:
    """PCIe replays above DCGM's 8 per minute mean a marginal link or riser."""
    rate = counter_rate(w.counters, 2, cfg.rate_min_span_s)
    if rate is not None and rate[0] * 60 > cfg.pcie_replays_per_min:
        msg = (
            f"PCIe replays {rate[0] * 60:.0f}/min ({rate[1]} counted), limit {cfg.pcie_replays_per_min:g}/min"
        )
        out.append(Finding("PCIE_REPLAY_RATE", Level.WATCH, msg, Action.WATCH))


def _at_temp(s: CardSample) -> str:
    return f" at {s.temp_c:.0f} °C" if s.temp_c is not None else ""


SAMPLE_RULES: tuple[Rule, ...] = (
    thermal_slowdown,
    hw_slowdown,
    temp_near_slowdown,
    mem_temp_near_limit,
    devfreq_below_max,
    power_cap,
    clock_low,
    ecc_uncorrected,
    memory_repair,
    pcie_downtrained,
    pcie_replays,
)
"""Rules that need only the card's own window, in the order their findings are listed."""
