"""The simulator is deterministic and each scenario shows the symptom it is named for."""

from __future__ import annotations

import itertools

import pytest

from cardwatch.collectors import Collector, load
from cardwatch.collectors.sim import LOST_AFTER_TICKS, PROFILES, SCENARIOS, SimCollector
from cardwatch.model import CardState, Throttle


def _clock() -> itertools.count:
    return itertools.count(1_000.0)


def test_registered_and_satisfies_the_protocol() -> None:
    cls = load("sim")
    assert cls is SimCollector
    assert isinstance(SimCollector(), Collector)


def test_same_seed_same_samples_other_seed_other_samples() -> None:
    first = [SimCollector(seed=7, clock=_clock().__next__).read() for _ in range(2)]
    other = SimCollector(seed=8, clock=_clock().__next__).read()
    assert first[0] == first[1]
    assert [s.temp_c for s in other] != [s.temp_c for s in first[0]]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_card_has_identity_and_units_in_range(profile: str) -> None:
    samples = SimCollector(profile=profile, cards=4).read()
    assert [s.index for s in samples] == [0, 1, 2, 3]
    assert len({s.uuid for s in samples}) == 4
    for s in samples:
        assert s.source == "sim" and s.model == PROFILES[profile].model
        assert 20 < s.temp_c < 100
        assert 0 < s.sm_clock_mhz <= s.sm_clock_max_mhz


def test_vendor_gaps_are_none_not_zero() -> None:
    ascend = SimCollector(profile="ascend-910b").read()[0]
    riscv = SimCollector(profile="riscv-th1520").read()[0]
    assert ascend.throttle is None and ascend.power_limit_w is None and ascend.pcie_gen is None
    assert riscv.power_w is None and riscv.ecc_corrected_volatile is None and riscv.mem_total_mib is None


def _run(scenario: str, ticks: int = 6, profile: str = "nvidia-h100") -> list:
    collector = SimCollector(profile=profile, cards=2, scenarios={1: scenario})
    return [collector.read() for _ in range(ticks)]


def test_thermal_scenario_is_hot_and_thermally_throttled() -> None:
    healthy, hot = _run("thermal")[-1]
    assert hot.temp_c > healthy.temp_c + 15
    assert Throttle.HW_THERMAL in hot.throttle and not healthy.throttle
    assert hot.sm_clock_mhz < 0.7 * hot.sm_clock_max_mhz


def test_power_cap_scenario_runs_at_a_lowered_limit() -> None:
    _, capped = _run("power_cap")[-1]
    assert capped.power_limit_w < capped.power_default_limit_w
    assert Throttle.SW_POWER_CAP in capped.throttle
    assert capped.power_w <= capped.power_limit_w


def test_hbm_hot_scenario_is_near_its_memory_limit() -> None:
    _, hot = _run("hbm_hot")[-1]
    assert hot.mem_temp_max_c - 3 <= hot.mem_temp_c < hot.mem_temp_max_c


def test_ecc_storm_accelerates() -> None:
    counts = [ticks[1].ecc_corrected_volatile for ticks in _run("ecc_storm", ticks=5)]
    rates = [b - a for a, b in itertools.pairwise(counts)]
    assert rates[0] >= 1000 and all(b > a for a, b in itertools.pairwise(rates))


def test_link_down_scenario_is_downtrained() -> None:
    _, down = _run("link_down")[-1]
    assert down.pcie_gen < down.pcie_gen_max and down.pcie_width < down.pcie_width_max


def test_lost_scenario_falls_off_the_bus_once() -> None:
    run = [ticks[1] for ticks in _run("lost")]
    assert all(s.state is CardState.OK for s in run[:LOST_AFTER_TICKS])
    lost = run[LOST_AFTER_TICKS:]
    assert all(s.state is CardState.LOST and s.temp_c is None for s in lost)
    assert [s.xids for s in lost[:2]] == [(79,), ()]


def test_straggler_is_slow_without_a_throttle_reason() -> None:
    healthy, slow = _run("straggler")[-1]
    assert slow.throttle == frozenset()
    assert 0.85 <= slow.sm_clock_mhz / healthy.sm_clock_max_mhz <= 0.9
    assert slow.util_pct >= 90


def test_unknown_profile_or_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        SimCollector(profile="nope")
    with pytest.raises(ValueError, match="scenario"):
        SimCollector(scenarios={0: "meltdown"})


def test_all_scenarios_listed() -> None:
    assert set(SCENARIOS) >= {"healthy", "thermal", "power_cap", "hbm_hot", "ecc_storm", "link_down", "lost", "straggler"}
