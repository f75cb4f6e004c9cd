"""The tick loop: deadlines, stale cards with reasons, backoff, refusing garbage."""

from __future__ import annotations

import asyncio
import math

from agent_helpers import CounterCollector, GarbageCollector, HangingCollector, RaisingCollector, card

from cardwatch.agent.sampler import Sampler
from cardwatch.model import CardState


async def test_hung_collector_goes_stale_and_never_blocks_the_others() -> None:
    hanging, healthy = HangingCollector(), CounterCollector(cards=2)
    sampler = Sampler([hanging, healthy], node="n1", interval_s=0.01, deadline_s=0.5)
    try:
        await sampler.tick()
        assert sampler.cards[100].state is CardState.OK
        for _ in range(4):
            await sampler.tick()
        stale = sampler.cards[100]
        assert stale.state is CardState.STALE
        assert "hanging" in stale.state_reason and "deadline" in stale.state_reason
        assert stale.energy_j == 1.0  # the last good value is kept
        assert sampler.cards[0].state is CardState.OK and sampler.cards[0].energy_j == 5.0
        status = {s.name: s for s in sampler.statuses}
        assert not status["hanging"].ok and "deadline" in status["hanging"].error
        assert status["counter"].ok
        assert hanging.max_running == 1  # never a second call while one is stuck
    finally:
        hanging.release.set()


async def test_hung_collector_recovers_once_its_read_returns() -> None:
    hanging = HangingCollector()
    sampler = Sampler([hanging], node="n1", interval_s=0.001, deadline_s=0.5)
    await sampler.tick()
    await sampler.tick()
    assert sampler.cards[100].state is CardState.STALE
    hanging.release.set()
    for _ in range(500):
        await sampler.tick()
        if sampler.cards[100].state is CardState.OK:
            break
        await asyncio.sleep(0.01)
    assert sampler.cards[100].state is CardState.OK
    assert sampler.statuses[0].ok and sampler.statuses[0].error is None


async def test_failing_collector_backs_off_and_keeps_last_values() -> None:
    raising, healthy = RaisingCollector(cards=1, first_index=7), CounterCollector(cards=1)
    sampler = Sampler([raising, healthy], node="n1", interval_s=30.0, deadline_s=1.0)
    await sampler.tick()
    await sampler.tick()
    assert raising.reads == 2
    assert sampler.cards[7].state is CardState.STALE
    assert "npu-smi: command not found" in sampler.cards[7].state_reason
    await sampler.tick()
    assert raising.reads == 2  # backing off: not retried before the backoff ends
    assert healthy.reads == 3


async def test_garbage_result_is_an_error_not_a_crash() -> None:
    sampler = Sampler([GarbageCollector(), CounterCollector(cards=1)], node="n1", interval_s=1.0)
    await sampler.tick()
    status = {s.name: s for s in sampler.statuses}
    assert not status["garbage"].ok and "not a list of CardSample" in status["garbage"].error
    assert list(sampler.cards) == [0]


async def test_non_finite_values_become_unknown_with_a_reason() -> None:
    class NanCollector(CounterCollector):
        def read(self) -> list:
            return [card(0, node="elsewhere", temp_c=math.nan, power_w=math.inf, util_pct=50.0)]

    sampler = Sampler([NanCollector()], node="n1", interval_s=1.0)
    await sampler.tick()
    sample = sampler.cards[0]
    assert sample.temp_c is None and sample.power_w is None and sample.util_pct == 50.0
    assert sample.field_errors == {"temp_c": "non-finite value", "power_w": "non-finite value"}
    assert sample.node == "n1"


async def test_duplicate_indexes_are_refused() -> None:
    class Twins(CounterCollector):
        def read(self) -> list:
            return [card(0), card(0)]

    sampler = Sampler([Twins()], node="n1", interval_s=1.0)
    await sampler.tick()
    assert not sampler.statuses[0].ok and "duplicate" in sampler.statuses[0].error
    assert sampler.cards == {}


async def test_fresh_holds_only_samples_read_this_tick() -> None:
    hanging = HangingCollector()
    sampler = Sampler([hanging, CounterCollector(cards=1)], node="n1", interval_s=1.0, deadline_s=0.5)
    try:
        await sampler.tick()
        assert {s.index for s in sampler.fresh} == {0, 100, 101}
        await sampler.tick()
        assert {s.index for s in sampler.fresh} == {0}
    finally:
        hanging.release.set()


async def test_clashing_card_indexes_keep_the_first_collector_and_say_so() -> None:
    first, second = CounterCollector(cards=2), CounterCollector(cards=2, first_index=1)
    second.name = "second"
    sampler = Sampler([first, second], node="n1", interval_s=1.0)
    await sampler.tick()
    assert sorted(sampler.cards) == [0, 1, 2]
    assert sampler.cards[1].energy_j == first.reads
    status = {s.name: s for s in sampler.statuses}
    assert status["counter"].ok and not status["second"].ok
    assert "[1]" in status["second"].error and status["second"].cards == 1


async def test_a_read_stuck_from_an_earlier_tick_costs_no_wait() -> None:
    hanging, healthy = HangingCollector(), CounterCollector(cards=1)
    sampler = Sampler([hanging, healthy], node="n1", interval_s=0.001, deadline_s=30.0)
    try:
        await sampler.tick()
        sampler.deadline_s = 0.2
        await sampler.tick()
        sampler.deadline_s = 30.0
        for _ in range(3):
            await asyncio.wait_for(sampler.tick(), timeout=20)  # would wait 30 s for the stuck read
        assert healthy.reads == 5 and sampler.cards[100].state is CardState.STALE
    finally:
        hanging.release.set()
