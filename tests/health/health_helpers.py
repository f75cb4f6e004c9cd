"""Realistic card samples and a driver that feeds a card plus its peers through the engine tick by tick."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cardwatch.health import HealthChange, HealthConfig, HealthEngine, Level
from cardwatch.model import CardSample

T0 = 1_700_000_000.0
SUBJECT = "gpu-a/0"
PEER_CLOCKS = (1980.0, 1965.0, 1980.0, 1950.0, 1980.0, 1965.0, 1980.0)


def h100(node: str = "gpu-a", index: int = 0, ts: float = T0, **overrides: Any) -> CardSample:
    """A busy, healthy H100 as NVML reports it (thresholds from a real SXM5 board)."""
    base = CardSample(
        node=node,
        vendor="nvidia",
        source="nvml",
        index=index,
        ts=ts,
        model="NVIDIA H100 80GB HBM3",
        temp_c=62.0,
        mem_temp_c=68.0,
        temp_slowdown_c=90.0,
        temp_shutdown_c=92.0,
        temp_max_operating_c=87.0,
        mem_temp_max_c=95.0,
        power_w=600.0,
        power_limit_w=700.0,
        power_default_limit_w=700.0,
        sm_clock_mhz=1980.0,
        sm_clock_max_mhz=1980.0,
        util_pct=98.0,
        throttle=frozenset(),
        ecc_corrected_volatile=0,
        ecc_uncorrected_volatile=0,
        retired_pages_sbe=0,
        retired_pages_dbe=0,
        retired_pages_pending=False,
        remapped_rows_corrected=0,
        remapped_rows_uncorrected=0,
        remap_pending=False,
        remap_failure=False,
        pcie_gen=5,
        pcie_gen_max=5,
        pcie_width=16,
        pcie_width_max=16,
        pcie_replay_count=0,
    )
    return replace(base, **overrides)


def peers(tick: int, ts: float, count: int = 7) -> list[CardSample]:
    """Healthy cards of the same model on another node, with the small spread real cards show."""
    return [
        h100(
            "gpu-b",
            i,
            ts,
            sm_clock_mhz=PEER_CLOCKS[i % len(PEER_CLOCKS)],
            power_w=590.0 + 3 * ((i + tick) % 5),
            temp_c=60.0 + (i + tick) % 4,
            util_pct=95.0 + (i % 5),
        )
        for i in range(count)
    ]


Overrides = Callable[[int], dict[str, Any]]


@dataclass(frozen=True)
class RuleSpec:
    """One rule under test: its code, a sample where it holds (H) and one where it does not (C).

    `counter` names a cumulative field that grows by `step` on H ticks and stands still on C ticks.
    """

    code: str
    level: Level
    bad: Overrides
    message_has: str
    good: Overrides = lambda tick: {}
    counter: str | None = None
    step: int = 0
    config: HealthConfig = field(default_factory=HealthConfig)


def run_pattern(
    spec: RuleSpec, pattern: str, dt: float = 1.0
) -> tuple[str, list[HealthChange], HealthEngine]:
    """Feed H/C samples one per tick; return 'R' or '.' per tick for whether `spec.code` is raised."""
    engine = HealthEngine(spec.config)
    active: list[str] = []
    changes: list[HealthChange] = []
    count = 0
    for tick, step in enumerate(pattern):
        ts = T0 + tick * dt
        fields = spec.bad(tick) if step == "H" else spec.good(tick)
        if spec.counter is not None:
            count += spec.step if step == "H" else 0
            fields = {**fields, spec.counter: count}
        changes += engine.observe([h100(ts=ts, **fields), *peers(tick, ts)], ts)
        health = engine.health(SUBJECT)
        assert health is not None
        active.append("R" if any(r.code == spec.code for r in health.reasons) else ".")
    return "".join(active), changes, engine
