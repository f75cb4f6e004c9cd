"""Engine behaviour around the rules: acknowledge, unknown data, staleness, events, effective compute."""

from __future__ import annotations

from dataclasses import replace

import pytest
from health_helpers import SUBJECT, T0, h100, peers

from cardwatch.health import Action, HealthConfig, HealthEngine, Level
from cardwatch.model import CardSample, CardState, Throttle


def feed(engine: HealthEngine, subject: list[CardSample], dt: float = 1.0) -> list:
    """Observe each subject sample with its seven peers, one tick apart; return all changes."""
    changes = []
    for tick, sample in enumerate(subject):
        ts = T0 + tick * dt
        changes += engine.observe([replace(sample, ts=ts), *peers(tick, ts)], ts)
    return changes


def codes(engine: HealthEngine, key: str = SUBJECT) -> list[str]:
    health = engine.health(key)
    assert health is not None
    return [r.code for r in health.reasons]


def test_acknowledge_clears_a_sticky_reason_once_its_condition_is_gone() -> None:
    engine = HealthEngine()
    feed(engine, [h100(ecc_uncorrected_volatile=1), h100(), h100()])
    assert codes(engine) == ["ECC_UNCORRECTED"]
    change = engine.acknowledge(SUBJECT, "ECC_UNCORRECTED", who="alice", now=T0 + 10)
    assert change is not None
    assert (change.kind, change.who, change.ts, change.level) == (
        "acknowledged",
        "alice",
        T0 + 10,
        Level.FAILED,
    )
    assert codes(engine) == []
    assert engine.health(SUBJECT).level is Level.OK


def test_acknowledged_reason_that_still_holds_stays_until_it_clears() -> None:
    engine = HealthEngine()
    feed(engine, [h100(xids=(79,), state=CardState.LOST)])
    assert engine.acknowledge(SUBJECT, "CARD_LOST", who="bob", now=T0 + 1) is not None
    lost = next(r for r in engine.health(SUBJECT).reasons if r.code == "CARD_LOST")
    assert lost.acknowledged_by == "bob"
    engine.observe([h100(ts=T0 + 2)], T0 + 2)
    assert "CARD_LOST" not in codes(engine)
    assert "XID_79" in codes(engine), "the unacknowledged Xid stays"


def test_acknowledge_of_nothing_returns_none() -> None:
    engine = HealthEngine()
    feed(engine, [h100()])
    assert engine.acknowledge(SUBJECT, "ECC_UNCORRECTED", "alice", T0) is None
    assert engine.acknowledge("nowhere/9", "ECC_UNCORRECTED", "alice", T0) is None


def test_unknown_fields_fire_no_rule_and_compute_says_why() -> None:
    blank = CardSample(
        node="gpu-a", vendor="nvidia", source="nvml", index=0, ts=T0, model="NVIDIA H100 80GB HBM3"
    )
    engine = HealthEngine()
    feed(engine, [blank] * 6)
    health = engine.health(SUBJECT)
    assert (health.level, health.reasons, health.effective_compute) == (Level.OK, (), None)
    assert health.compute_basis == "unknown: utilization not reported"


def test_unknown_utilization_keeps_busy_rules_silent() -> None:
    slow = h100(util_pct=None, sm_clock_mhz=1000.0, throttle=frozenset({Throttle.SW_THERMAL}), pcie_gen=3)
    engine = HealthEngine()
    feed(engine, [slow] * 6)
    assert codes(engine) == []


def test_clock_unknown_on_a_busy_card_gives_no_estimate() -> None:
    engine = HealthEngine()
    feed(engine, [h100(sm_clock_mhz=None)])
    health = engine.health(SUBJECT)
    assert health.effective_compute is None
    assert "SM clock" in health.compute_basis


def test_mark_unknown_sets_unknown_with_reason_and_recovers() -> None:
    engine = HealthEngine()
    feed(engine, [h100(temp_c=88.0)] * 3)
    changes = engine.mark_unknown([SUBJECT], T0 + 5, "agent gpu-a unreachable since 12:00:05")
    health = engine.health(SUBJECT)
    assert health.level is Level.UNKNOWN
    assert codes(engine) == ["STALE_AGENT", "STRAGGLER_TEMP", "TEMP_NEAR_SLOWDOWN"], (
        "last-known reasons stay listed"
    )
    assert health.effective_compute is None
    assert "unreachable" in health.compute_basis
    assert [(c.code, c.kind) for c in changes] == [("STALE_AGENT", "raised")]
    assert engine.mark_unknown([SUBJECT], T0 + 6, "still unreachable") == []
    engine.observe([h100(ts=T0 + 7, temp_c=88.0)], T0 + 7)
    assert codes(engine) == ["STRAGGLER_TEMP", "TEMP_NEAR_SLOWDOWN"]


def test_mark_unknown_keeps_a_sticky_failure_visible() -> None:
    engine = HealthEngine()
    feed(engine, [h100(ecc_uncorrected_volatile=3)])
    engine.mark_unknown([SUBJECT], T0 + 5, "agent down")
    assert engine.health(SUBJECT).level is Level.FAILED


def test_mark_unknown_for_a_card_never_seen() -> None:
    engine = HealthEngine()
    engine.mark_unknown(["gpu-z/3"], T0, "collector stuck 30 s", code="COLLECTOR_STUCK")
    health = engine.health("gpu-z/3")
    assert (health.level, codes(engine, "gpu-z/3"), health.effective_compute) == (
        Level.UNKNOWN,
        ["COLLECTOR_STUCK"],
        None,
    )


def test_stale_collector_escalates_to_degraded_after_the_deadline() -> None:
    engine = HealthEngine(HealthConfig(stuck_degraded_s=60))
    stale = h100(state=CardState.STALE, state_reason="read took 30 s")
    changes = feed(engine, [h100(), stale, stale], dt=45.0)
    health = engine.health(SUBJECT)
    assert health.level is Level.DEGRADED
    assert health.reasons[0].action is Action.REBOOT_NODE
    assert [(c.code, c.level) for c in changes] == [
        ("COLLECTOR_STUCK", Level.UNKNOWN),
        ("COLLECTOR_STUCK", Level.DEGRADED),
    ]


def test_forget_drops_the_card() -> None:
    engine = HealthEngine()
    feed(engine, [h100()])
    engine.forget([SUBJECT])
    assert engine.health(SUBJECT) is None
    assert SUBJECT not in engine.all()


def test_non_sticky_xid_holds_for_the_hold_time_then_clears() -> None:
    engine = HealthEngine(HealthConfig(event_hold_s=600))
    changes = feed(engine, [h100(xids=(13,)), h100(), h100(), h100()], dt=300.0)
    assert [(c.code, c.kind, c.ts) for c in changes] == [
        ("XID_13", "raised", T0),
        ("XID_13", "cleared", T0 + 900),
    ]


def test_unknown_xid_is_reported_not_dropped() -> None:
    engine = HealthEngine()
    feed(engine, [h100(xids=(154,))])
    reason = engine.health(SUBJECT).reasons[0]
    assert (reason.code, reason.level) == ("XID_154", Level.WATCH)
    assert "Xid catalog" in reason.message


def test_reasons_are_sorted_worst_first() -> None:
    engine = HealthEngine()
    feed(engine, [h100(temp_c=88.0, xids=(48,))] * 3)
    assert codes(engine) == ["XID_48", "STRAGGLER_TEMP", "TEMP_NEAR_SLOWDOWN"]
    assert engine.health(SUBJECT).level is Level.FAILED


def test_ecc_storm_escalates_when_it_accelerates() -> None:
    engine = HealthEngine()
    storm = [h100(ecc_corrected_volatile=2000 * t + 250 * t * t) for t in range(12)]
    changes = [c for c in feed(engine, storm) if c.code == "ECC_CORRECTED_RATE"]
    assert [(c.kind, c.level) for c in changes] == [("raised", Level.WATCH), ("raised", Level.DEGRADED)]
    assert "accelerating" in engine.health(SUBJECT).reasons[0].message


def test_counter_reset_does_not_look_like_a_storm() -> None:
    engine = HealthEngine()
    counts = [500_000, 500_000, 500_000, 0, 0, 0, 0]
    feed(engine, [h100(ecc_corrected_volatile=c) for c in counts])
    assert codes(engine) == []


@pytest.mark.parametrize(
    ("samples", "expected", "basis"),
    [
        (
            [h100(sm_clock_mhz=1722.0)],
            1722 / 1980,
            "sm 1722/1980 MHz x 100% without hw slowdown over 1 busy samples",
        ),
        (
            [h100(), h100(sm_clock_mhz=990.0, throttle=frozenset({Throttle.HW_SLOWDOWN}))],
            (1 + 0.5 * 0.5) / 2,
            "sm 990/1980 MHz x 50% without hw slowdown over 2 busy samples",
        ),
        (
            [h100(util_pct=3.0, sm_clock_mhz=345.0)],
            1.0,
            "idle (3% busy): full capacity assumed, not measured under load",
        ),
        ([h100(), h100(state=CardState.LOST, state_reason="GPU is lost")], 0.0, "card lost: GPU is lost"),
        ([h100(remap_failure=True)], 0.0, "unusable until repaired: ROW_REMAP_FAILURE"),
        (
            [h100(state=CardState.ERROR, state_reason="Unknown Error")],
            None,
            "unknown: card could not be read: Unknown Error",
        ),
    ],
    ids=["busy", "hw-slowdown", "idle", "lost", "failed", "read-error"],
)
def test_effective_compute(samples: list[CardSample], expected: float | None, basis: str) -> None:
    engine = HealthEngine()
    feed(engine, samples)
    health = engine.health(SUBJECT)
    assert (
        health.effective_compute == pytest.approx(expected)
        if expected is not None
        else health.effective_compute is None
    )
    assert health.compute_basis == basis


def test_observe_is_incremental_but_peers_span_all_cards() -> None:
    engine = HealthEngine()
    feed(engine, [h100()] * 3)
    before = engine.health("gpu-b/0")
    ts = T0 + 10
    engine.observe([h100(ts=ts, sm_clock_mhz=1720.0)], ts)
    assert engine.health("gpu-b/0") is before, "peers not given to observe() are not re-evaluated"
    assert engine.peers()["NVIDIA H100 80GB HBM3"].clock.n == 8


def test_same_input_gives_same_verdicts() -> None:
    runs = []
    for _ in range(2):
        engine = HealthEngine()
        changes = feed(engine, [h100(sm_clock_mhz=1700.0, temp_c=88.0, xids=(13,))] * 4)
        runs.append((changes, dict(engine.all())))
    assert runs[0] == runs[1]


def test_clock_low_names_the_limit_that_explains_it() -> None:
    engine = HealthEngine()
    feed(
        engine,
        [h100(sm_clock_mhz=1188.0, throttle=frozenset({Throttle.SW_THERMAL, Throttle.SYNC_BOOST}))] * 3,
    )
    reason = next(r for r in engine.health(SUBJECT).reasons if r.code == "CLOCK_LOW")
    assert reason.message == "SM clock 1188/1980 MHz (60%) while busy, limited by sw_thermal"


def test_idle_throttled_card_is_not_clock_low() -> None:
    engine = HealthEngine()
    feed(engine, [h100(sm_clock_mhz=345.0, throttle=frozenset({Throttle.IDLE}))] * 5)
    assert codes(engine) == []


def test_collector_stuck_long_means_hung_and_zero_compute() -> None:
    engine = HealthEngine(HealthConfig(stuck_degraded_s=60))
    feed(engine, [h100()])
    engine.mark_unknown([SUBJECT], T0 + 30, "read pending 30 s", code="COLLECTOR_STUCK")
    assert (engine.health(SUBJECT).level, engine.health(SUBJECT).effective_compute) == (Level.UNKNOWN, None)
    changes = engine.mark_unknown([SUBJECT], T0 + 90, "read pending 90 s", code="COLLECTOR_STUCK")
    health = engine.health(SUBJECT)
    assert [(c.code, c.level) for c in changes] == [("COLLECTOR_STUCK", Level.DEGRADED)]
    assert (health.level, health.effective_compute) == (Level.DEGRADED, 0.0)
    assert health.compute_basis.startswith("hung: collector stuck for 90 s")


def test_peer_scope_compares_only_within_the_scope() -> None:
    slow_rack = [h100("rack2-n1", i, T0, sm_clock_mhz=1700.0) for i in range(6)]

    def run(engine: HealthEngine) -> set[str]:
        for tick in range(4):
            ts = T0 + tick
            engine.observe([replace(s, ts=ts) for s in slow_rack] + peers(tick, ts, count=20), ts)
        return {k for k, h in engine.all().items() if any(r.code == "STRAGGLER_CLOCK" for r in h.reasons)}

    assert run(HealthEngine()) == {s.key for s in slow_rack}
    assert run(HealthEngine(peer_scope=lambda key: key.split("-")[0])) == set()


def test_every_failed_xid_is_sticky() -> None:
    from cardwatch.health_events import XIDS

    assert all(m.sticky for m in XIDS.values() if m.level is Level.FAILED)


def test_unreadable_samples_do_not_count_as_clean() -> None:
    engine = HealthEngine()
    hot = h100(temp_c=88.0)
    unread = h100(state=CardState.ERROR, state_reason="Unknown Error")
    feed(engine, [hot, hot, hot, *[unread] * 8])
    assert codes(engine) == ["CARD_READ_ERROR", "STRAGGLER_TEMP", "TEMP_NEAR_SLOWDOWN"]
    assert engine.health(SUBJECT).level is Level.UNKNOWN


def test_corrected_ecc_shared_by_the_whole_group_is_the_baseline_not_a_storm() -> None:
    engine = HealthEngine()
    for tick in range(6):
        ts = T0 + tick
        fleet = [h100("gpu-c", i, ts, ecc_corrected_volatile=100 * tick) for i in range(8)]
        engine.observe(fleet, ts)
    assert all(h.reasons == () for h in engine.all().values())
    assert engine.peers()["NVIDIA H100 80GB HBM3"].ecc_rate_per_h > HealthConfig().ecc_corrected_per_hour


@pytest.mark.parametrize(
    ("raise_n", "raise_m", "expected"), [(2, 2, ".RR..R"), (3, 3, "..R..."), (1, 1, "RRR.RR")]
)
def test_k_consecutive_hysteresis_from_config(raise_n: int, raise_m: int, expected: str) -> None:
    from health_helpers import RuleSpec, run_pattern

    cfg = HealthConfig(raise_n=raise_n, raise_m=raise_m, clear_after=1)
    spec = RuleSpec("TEMP_NEAR_SLOWDOWN", Level.WATCH, lambda t: {"temp_c": 88.0}, "88", config=cfg)
    assert run_pattern(spec, "HHHCHH")[0] == expected


def test_a_lone_card_storming_is_flagged_without_a_baseline() -> None:
    engine = HealthEngine()
    for tick in range(5):
        engine.observe([h100("solo", 0, T0 + tick, ecc_corrected_volatile=5000 * tick)], T0 + tick)
    reason = engine.health("solo/0").reasons[0]
    assert reason.code == "ECC_CORRECTED_RATE"
    assert "too few peers for a baseline" in reason.message
