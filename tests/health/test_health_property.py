"""Whatever a collector sends (unknowns, zeros, NaN, negatives, odd throttle strings), the engine gives a verdict."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardwatch.health import HealthEngine, Level
from cardwatch.model import CardSample, CardState, Throttle

numbers = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True, width=32), st.just(0.0))
counts = st.one_of(st.none(), st.integers(min_value=-5, max_value=10**9))
flags = st.one_of(st.none(), st.booleans())
throttles = st.one_of(
    st.none(),
    st.frozensets(
        st.sampled_from([*(t.value for t in Throttle), "sysfs:cooling_device", "nvml:display_clock", ""])
    ),
)

samples = st.builds(
    CardSample,
    node=st.sampled_from(["n1", "n2"]),
    vendor=st.sampled_from(["nvidia", "huawei", "thead"]),
    source=st.sampled_from(["nvml", "ascend", "sysfs", "sim"]),
    index=st.integers(0, 3),
    ts=st.floats(0, 2e9),
    model=st.one_of(st.none(), st.sampled_from(["H100", "910B3"])),
    state=st.sampled_from(list(CardState)),
    temp_c=numbers,
    mem_temp_c=numbers,
    temp_slowdown_c=numbers,
    mem_temp_max_c=numbers,
    power_w=numbers,
    power_limit_w=numbers,
    power_default_limit_w=numbers,
    sm_clock_mhz=numbers,
    sm_clock_max_mhz=numbers,
    util_pct=numbers,
    throttle=throttles,
    ecc_corrected_volatile=counts,
    ecc_uncorrected_volatile=counts,
    retired_pages_sbe=counts,
    retired_pages_dbe=counts,
    retired_pages_pending=flags,
    remap_pending=flags,
    remap_failure=flags,
    pcie_gen=counts,
    pcie_gen_max=counts,
    pcie_width=counts,
    pcie_width_max=counts,
    pcie_replay_count=counts,
    xids=st.lists(st.integers(0, 200), max_size=3).map(tuple),
    error_codes=st.lists(st.sampled_from(["80E18005", "A4025021"]), max_size=2).map(tuple),
    vendor_health=st.one_of(
        st.none(), st.sampled_from(["OK", "Warning", "Alarm", "Critical", "UNKNOWN", "??"])
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(samples, min_size=1, max_size=6), min_size=1, max_size=6))
def test_any_input_gives_a_verdict_with_a_sane_compute(ticks: list[list[CardSample]]) -> None:
    engine = HealthEngine()
    for now, batch in enumerate(ticks):
        engine.observe(batch, float(now))
    engine.mark_unknown(["n1/0", "zz/9"], 99.0, "agent down")
    summary = engine.summary(lambda key: key.split("/")[0])
    for health in engine.all().values():
        assert isinstance(health.level, Level)
        compute = health.effective_compute
        assert compute is None or (0.0 <= compute <= 1.0 and not math.isnan(compute)), health
        assert health.compute_basis
        assert all(r.message and r.code for r in health.reasons)
    assert summary.fleet.cards == len(engine.all())


def test_nan_clock_is_unknown_and_does_not_poison_the_window_or_the_peers() -> None:
    from health_helpers import SUBJECT, T0, h100, peers

    engine = HealthEngine()
    for tick, clock in enumerate([1980.0, math.nan, 1980.0]):
        ts = T0 + tick
        engine.observe(
            [h100(ts=ts, sm_clock_mhz=clock, power_w=math.inf if tick == 1 else 600.0), *peers(tick, ts)], ts
        )
        health = engine.health(SUBJECT)
        if tick == 1:
            assert health.effective_compute is None
            assert "not a number" in health.compute_basis
            assert engine.peers()["NVIDIA H100 80GB HBM3"].clock.n == 7
            assert engine.peers()["NVIDIA H100 80GB HBM3"].power.n == 7
    assert engine.health(SUBJECT).effective_compute == 1.0


def test_nan_utilization_is_not_busy() -> None:
    from health_helpers import SUBJECT, T0, h100

    engine = HealthEngine()
    for tick in range(4):
        engine.observe([h100(ts=T0 + tick, util_pct=math.nan, sm_clock_mhz=900.0, pcie_gen=3)], T0 + tick)
    health = engine.health(SUBJECT)
    assert (health.reasons, health.effective_compute) == ((), None)
