"""One table per kind of rule: each rule raised, held, cleared, and kept from flapping."""

from __future__ import annotations

import pytest
from health_helpers import T0, RuleSpec, run_pattern

from cardwatch.health import HealthConfig, Level
from cardwatch.model import CardState, Throttle

THERMAL = frozenset({Throttle.SW_THERMAL})
SYSFS_COOLING = frozenset({"sysfs:cooling_device"})
SHORT_RATES = HealthConfig(rate_window_samples=3)
TH1520 = {"vendor": "thead", "source": "sysfs", "model": "TH1520 NPU", "sm_clock_max_mhz": 1000.0}

MEASURED = [
    RuleSpec(
        "THERMAL_SLOWDOWN",
        Level.DEGRADED,
        lambda t: {"throttle": THERMAL, "sm_clock_mhz": 1400.0},
        "sw_thermal",
    ),
    RuleSpec(
        "THERMAL_SLOWDOWN",
        Level.DEGRADED,
        lambda t: {**TH1520, "throttle": SYSFS_COOLING, "sm_clock_mhz": 1000.0},
        "sysfs:cooling_device",
        good=lambda t: {**TH1520, "sm_clock_mhz": 1000.0},
    ),
    RuleSpec(
        "HW_SLOWDOWN",
        Level.DEGRADED,
        lambda t: {"throttle": frozenset({Throttle.HW_SLOWDOWN}), "sm_clock_mhz": 990.0},
        "hw_slowdown",
    ),
    RuleSpec(
        "HW_SLOWDOWN",
        Level.DEGRADED,
        lambda t: {"throttle": frozenset({Throttle.HW_POWER_BRAKE}), "util_pct": 0.0},
        "hw_power_brake",
    ),
    RuleSpec("TEMP_NEAR_SLOWDOWN", Level.WATCH, lambda t: {"temp_c": 87.0}, "core 87 °C, slowdown at 90 °C"),
    RuleSpec("MEM_TEMP_NEAR_LIMIT", Level.WATCH, lambda t: {"mem_temp_c": 92.0}, "memory 92 °C, limit 95 °C"),
    RuleSpec(
        "DEVFREQ_BELOW_MAX",
        Level.WATCH,
        lambda t: {**TH1520, "sm_clock_mhz": 600.0},
        "600/1000 MHz",
        good=lambda t: {**TH1520, "sm_clock_mhz": 1000.0},
    ),
    RuleSpec(
        "POWER_CAP",
        Level.WATCH,
        lambda t: {"throttle": frozenset({Throttle.SW_POWER_CAP}), "power_w": 698.0},
        "698 W, limit 700 W",
    ),
    RuleSpec(
        "POWER_LIMIT_LOW", Level.DEGRADED, lambda t: {"power_limit_w": 450.0}, "450 W, model default 700 W"
    ),
    RuleSpec(
        "POWER_LIMIT_LOW",
        Level.DEGRADED,
        lambda t: {"power_limit_w": 450.0, "power_default_limit_w": None},
        "450 W, most peers 700 W",
    ),
    RuleSpec("CLOCK_LOW", Level.DEGRADED, lambda t: {"sm_clock_mhz": 1400.0}, "1400/1980 MHz (71%)"),
    RuleSpec(
        "STRAGGLER_CLOCK",
        Level.DEGRADED,
        lambda t: {"sm_clock_mhz": 1720.0},
        "13% under median 1972 of 8 peers",
    ),
    RuleSpec("STRAGGLER_POWER", Level.WATCH, lambda t: {"power_w": 480.0}, "power 480 W at 98% busy"),
    RuleSpec("STRAGGLER_TEMP", Level.WATCH, lambda t: {"temp_c": 76.0}, "76 °C at 600 W"),
    RuleSpec(
        "PCIE_DOWNTRAINED", Level.DEGRADED, lambda t: {"pcie_gen": 3, "pcie_width": 8}, "gen 3/5 x8/x16"
    ),
    RuleSpec(
        "ECC_CORRECTED_RATE",
        Level.WATCH,
        lambda t: {},
        "corrected ECC",
        counter="ecc_corrected_volatile",
        step=5000,
        config=SHORT_RATES,
    ),
    RuleSpec(
        "PCIE_REPLAY_RATE",
        Level.WATCH,
        lambda t: {},
        "limit 8/min",
        counter="pcie_replay_count",
        step=20,
        config=SHORT_RATES,
    ),
]

STANDARD = [
    ("raise after 3 of 5", "HHH", "..R"),
    ("hold", "HHHHHHH", "..RRRRR"),
    ("clear after 5 clean", "HHHCCCCC", "..RRRRR."),
    ("spikes never raise", "HCCCCHCCCCH", "..........."),
    ("flapping does not clear", "HHHCHCHCHC", "..RRRRRRRR"),
]
RATE_LAG = {"clear after 5 clean": "..RRRRRR"}
"""A counter rate still sees the last increment one tick after it stops (window of 3 readings)."""


@pytest.mark.parametrize("spec", MEASURED, ids=lambda s: s.code)
@pytest.mark.parametrize(("case", "pattern", "expect"), STANDARD, ids=[c[0] for c in STANDARD])
def test_measured_rule_hysteresis(spec: RuleSpec, case: str, pattern: str, expect: str) -> None:
    if spec.counter:
        active, _, _ = run_pattern(spec, "C" + pattern)
        assert active[1:] == RATE_LAG.get(case, expect), "a rate needs a first reading to start from"
    else:
        active, _, _ = run_pattern(spec, pattern)
        assert active == expect


@pytest.mark.parametrize("spec", MEASURED, ids=lambda s: s.code)
def test_measured_rule_reason_and_since(spec: RuleSpec) -> None:
    _, changes, engine = run_pattern(spec, "CHHHHH")
    health = engine.health("gpu-a/0")
    assert health is not None
    reason = next(r for r in health.reasons if r.code == spec.code)
    assert reason.level is spec.level
    assert spec.message_has in reason.message
    assert reason.since_ts == T0 + 1
    raised = [c for c in changes if c.code == spec.code]
    assert [c.kind for c in raised] == ["raised"]
    assert health.level >= spec.level


def test_clean_sequence_raises_nothing() -> None:
    _, changes, engine = run_pattern(MEASURED[0], "CCCCCCCC")
    assert changes == []
    assert all(h.level is Level.OK and not h.reasons for h in engine.all().values())


LOST = {"state": CardState.LOST, "state_reason": "GPU is lost"}
EVENTS = [
    RuleSpec("ECC_UNCORRECTED", Level.FAILED, lambda t: {"ecc_uncorrected_volatile": 2}, "2 uncorrected"),
    RuleSpec("ROW_REMAP_FAILURE", Level.FAILED, lambda t: {"remap_failure": True}, "row remapping failed"),
    RuleSpec(
        "RETIRED_PAGES_LIMIT",
        Level.FAILED,
        lambda t: {"retired_pages_sbe": 40, "retired_pages_dbe": 22},
        "62 retired pages, limit 60",
    ),
    RuleSpec("CARD_LOST", Level.FAILED, lambda t: LOST, "card lost: GPU is lost"),
    RuleSpec("XID_79", Level.FAILED, lambda t: {"xids": (79,)}, "fallen off the bus"),
    RuleSpec("XID_48", Level.FAILED, lambda t: {"xids": (48,)}, "double-bit ECC"),
    RuleSpec("XID_95", Level.FAILED, lambda t: {"xids": (95,)}, "uncontained ECC"),
    RuleSpec(
        "ASCEND_CRITICAL",
        Level.FAILED,
        lambda t: {"vendor_health": "Critical", "error_codes": ("80CB8009", "80E01801")},
        "80CB8009 80E01801",
    ),
]
STICKY = [
    ("raise at once", "H", "R"),
    ("stays after the condition is gone", "HCCCCCCC", "RRRRRRRR"),
]


@pytest.mark.parametrize("spec", EVENTS, ids=lambda s: s.code)
@pytest.mark.parametrize(("case", "pattern", "expect"), STICKY, ids=[c[0] for c in STICKY])
def test_sticky_rule(spec: RuleSpec, case: str, pattern: str, expect: str) -> None:
    active, _, engine = run_pattern(spec, pattern)
    assert active == expect
    reason = next(r for r in engine.health("gpu-a/0").reasons if r.code == spec.code)
    assert (reason.level, reason.sticky, reason.since_ts) == (spec.level, True, T0)
    assert spec.message_has in reason.message


STALE = {"state": CardState.STALE, "state_reason": "nvml read took 12 s"}
INSTANT = [
    RuleSpec("MEMORY_REPAIR_PENDING", Level.DEGRADED, lambda t: {"remap_pending": True}, "row remap pending"),
    RuleSpec(
        "CARD_READ_ERROR",
        Level.UNKNOWN,
        lambda t: {"state": CardState.ERROR, "state_reason": "Unknown Error"},
        "Unknown Error",
    ),
    RuleSpec("COLLECTOR_STUCK", Level.UNKNOWN, lambda t: STALE, "nvml read took 12 s"),
    RuleSpec(
        "ASCEND_WARNING",
        Level.WATCH,
        lambda t: {"vendor_health": "Warning", "error_codes": ("80E18005",)},
        "80E18005",
    ),
    RuleSpec(
        "ASCEND_ALARM",
        Level.DEGRADED,
        lambda t: {"vendor_health": "Alarm", "error_codes": ("A4025021",)},
        "Alarm",
    ),
]
FACTS = [("raise at once", "H", "R"), ("hold", "HHH", "RRR"), ("clear at once", "HHC", "RR.")]


@pytest.mark.parametrize("spec", INSTANT, ids=lambda s: s.code)
@pytest.mark.parametrize(("case", "pattern", "expect"), FACTS, ids=[c[0] for c in FACTS])
def test_reported_fact_rule(spec: RuleSpec, case: str, pattern: str, expect: str) -> None:
    active, _, engine = run_pattern(spec, pattern)
    assert active == expect
    if expect.endswith("R"):
        reason = next(r for r in engine.health("gpu-a/0").reasons if r.code == spec.code)
        assert (reason.level, reason.sticky) == (spec.level, False)
        assert spec.message_has in reason.message
