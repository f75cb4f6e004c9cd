"""The simulator's scenarios on a mixed NVIDIA / Ascend / RISC-V fleet each give exactly the expected reasons."""

from __future__ import annotations

import pytest

from cardwatch.collectors.sim import PROFILES as SIM_PROFILES
from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.health import HealthEngine, Level

PROFILES = ("nvidia-h100", "ascend-910b", "riscv-th1520")

EXPECTED: dict[str, dict[str, set[str]]] = {
    "nvidia-h100": {
        "healthy": set(),
        "thermal": {"THERMAL_SLOWDOWN", "HW_SLOWDOWN", "TEMP_NEAR_SLOWDOWN", "CLOCK_LOW"},
        "power_cap": {"POWER_CAP", "POWER_LIMIT_LOW", "CLOCK_LOW"},
        "hbm_hot": {"MEM_TEMP_NEAR_LIMIT"},
        "ecc_storm": {"ECC_CORRECTED_RATE"},
        "link_down": {"PCIE_DOWNTRAINED", "PCIE_REPLAY_RATE"},
        "lost": {"CARD_LOST", "XID_79"},
        "straggler": {"STRAGGLER_CLOCK", "STRAGGLER_POWER"},
    },
    "ascend-910b": {
        "healthy": set(),
        "thermal": {"ASCEND_WARNING", "CLOCK_LOW", "STRAGGLER_TEMP"},
        "power_cap": {"CLOCK_LOW"},
        "hbm_hot": set(),
        "ecc_storm": {"ECC_CORRECTED_RATE"},
        "link_down": set(),
        "lost": {"CARD_LOST"},
        "straggler": {"STRAGGLER_CLOCK", "STRAGGLER_POWER"},
    },
    "riscv-th1520": {
        "healthy": set(),
        "thermal": {"THERMAL_SLOWDOWN", "TEMP_NEAR_SLOWDOWN", "CLOCK_LOW"},
        "power_cap": {"CLOCK_LOW"},
        "hbm_hot": set(),
        "ecc_storm": set(),
        "link_down": set(),
        "lost": {"CARD_LOST"},
        "straggler": {"STRAGGLER_CLOCK"},
    },
}
"""Scenarios the simulator cannot express on a profile (no HBM sensor, no ECC, no PCIe) give nothing."""


def sim_fleet(seed: int, clock: list[float]) -> list[SimCollector]:
    """Per profile: one node running every scenario (card i = scenario i) and one healthy node."""
    fleet = []
    for profile in PROFILES:
        for n, scenarios in enumerate(({i: s for i, s in enumerate(SCENARIOS)}, {})):
            fleet.append(SimCollector(f"{profile}-{n}", profile, 8, seed, scenarios, clock=lambda: clock[0]))
    return fleet


def run_fleet(seed: int, ticks: int) -> HealthEngine:
    clock = [1_700_000_000.0]
    fleet = sim_fleet(seed, clock)
    engine = HealthEngine()
    for _ in range(ticks):
        engine.observe([s for collector in fleet for s in collector.read()], clock[0])
        clock[0] += 1.0
    return engine


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ticks", [8, 30])
def test_each_scenario_gives_exactly_its_reasons(seed: int, ticks: int) -> None:
    engine = run_fleet(seed, ticks)
    for profile in PROFILES:
        for index, scenario in enumerate(SCENARIOS):
            health = engine.health(f"{profile}-0/{index}")
            assert health is not None
            found = {r.code for r in health.reasons}
            assert found == EXPECTED[profile][scenario], f"{profile} {scenario}"
            assert (health.level is Level.OK) == (not found)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_healthy_nodes_raise_nothing(seed: int) -> None:
    engine = run_fleet(seed, 30)
    flagged = {
        key: h.reasons for key, h in engine.all().items() if key.split("/")[0].endswith("-1") and h.reasons
    }
    assert flagged == {}


def test_mixed_vendor_stragglers_are_judged_against_their_own_model() -> None:
    clock = [1_700_000_000.0]
    fleet = [
        SimCollector(
            f"{profile}-{n}", profile, 8, 7, {5: "straggler"} if n == 0 else {}, clock=lambda: clock[0]
        )
        for profile in PROFILES
        for n in range(2)
    ]
    engine = HealthEngine()
    for _ in range(6):
        engine.observe([s for collector in fleet for s in collector.read()], clock[0])
        clock[0] += 1.0
    stragglers = {
        key for key, h in engine.all().items() if any(r.code == "STRAGGLER_CLOCK" for r in h.reasons)
    }
    assert stragglers == {f"{profile}-0/5" for profile in PROFILES}
    medians = {m.model: m.clock_median_mhz for m in engine.summary().models.values()}
    tops = {p.model: p.sm_clock_max_mhz for p in (SIM_PROFILES[name] for name in PROFILES)}
    assert medians.keys() == tops.keys()
    assert all(tops[model] * 0.98 <= medians[model] <= tops[model] for model in tops), medians


def test_fleet_summary_rolls_up_levels_compute_and_groups() -> None:
    engine = run_fleet(1, 8)
    summary = engine.summary(group_of=lambda key: key.split("-")[0])
    assert summary.fleet.cards == 48
    assert sum(summary.fleet.by_level.values()) == 48
    assert summary.fleet.by_level[Level.FAILED] == 3
    assert summary.fleet.known == 48
    lost = {f"{profile}-0/{SCENARIOS.index('lost')}" for profile in PROFILES}
    assert {key for key, cost in summary.fleet.top_cost[:3]} == lost
    assert all(cost == 1.0 for _, cost in summary.fleet.top_cost[:3])
    assert [cost for _, cost in summary.fleet.top_cost] == sorted(
        (c for _, c in summary.fleet.top_cost), reverse=True
    )
    expected_sum = sum(h.effective_compute for h in engine.all().values())
    assert summary.fleet.effective_compute == pytest.approx(expected_sum)
    assert summary.fleet.effective_pct == pytest.approx(100 * expected_sum / 48)
    assert set(summary.groups) == {"nvidia", "ascend", "riscv"}
    assert all(g.cards == 16 and g.by_level[Level.FAILED] == 1 for g in summary.groups.values())
    assert set(summary.by_model) == {"NVIDIA H100 80GB HBM3", "910B3", "TH1520 NPU"}
    assert [g.cards for g in summary.by_model.values()] == [16, 16, 16]
