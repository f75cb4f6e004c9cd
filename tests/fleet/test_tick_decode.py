"""Decoding only a tick's changed fields gives exactly what decoding the merged sample whole gives."""

from __future__ import annotations

import pytest

from cardwatch.collectors.sim import PROFILES, SCENARIOS, SimCollector
from cardwatch.frames import DecodedCard, decode_tick
from cardwatch.wire import (
    WireError,
    apply_wire_delta,
    make_frame,
    sample_from_wire,
    sample_to_wire,
    sample_with_changes,
    wire_delta,
)

NODE = "gpu-node-0001"


def held_cards(sim: SimCollector, tick: int) -> dict[int, DecodedCard]:
    samples = [sim.sample(i, tick, 1000.0 + tick) for i in range(sim.cards)]
    return {s.index: DecodedCard(s.index, sample_to_wire(s), s) for s in samples}


def tick_frame(held: dict[int, DecodedCard], sim: SimCollector, tick: int) -> dict:
    current = [sample_to_wire(sim.sample(i, tick, 1000.0 + tick)) for i in range(sim.cards)]
    deltas = [wire_delta(held[w["index"]].wire, w) for w in current]
    return make_frame("tick", NODE, tick, 1000.0 + tick, deltas)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_scenario_decodes_as_the_whole_sample(profile: str) -> None:
    """Across every scenario (fields appear, change and vanish), the fast path equals the whole decode."""
    sim = SimCollector(NODE, profile, len(SCENARIOS), 1, dict(enumerate(SCENARIOS)))
    held = held_cards(sim, 0)
    for tick in range(1, 12):
        frame = tick_frame(held, sim, tick)
        decoded = decode_tick(frame, held)
        for card, delta in zip(decoded, frame["cards"], strict=True):
            merged = apply_wire_delta(held[card.index].wire, delta)
            assert card.wire == merged
            assert card.sample == sample_from_wire(merged) == sim.sample(card.index, tick, 1000.0 + tick)
        held = {card.index: card for card in decoded}


def test_a_garbled_changed_field_is_refused_with_the_card() -> None:
    held = held_cards(SimCollector(NODE, cards=2), 0)
    frame = make_frame("tick", NODE, 1, 1001.0, [{"index": 1, "temp_c": "hot"}])
    with pytest.raises(WireError, match=r"card 1: field 'temp_c'"):
        decode_tick(frame, held)


def test_a_delta_cannot_move_a_card_to_another_node() -> None:
    held = held_cards(SimCollector(NODE, cards=1), 0)
    frame = make_frame("tick", NODE, 1, 1001.0, [{"index": 0, "node": "elsewhere"}])
    with pytest.raises(WireError, match="says node 'elsewhere'"):
        decode_tick(frame, held)


def test_a_delta_cannot_drop_an_identity_field() -> None:
    held = held_cards(SimCollector(NODE, cards=1), 0)
    frame = make_frame("tick", NODE, 1, 1001.0, [{"index": 0, "vendor": None}])
    with pytest.raises(WireError, match="lacks vendor"):
        decode_tick(frame, held)


def test_changes_that_name_a_vanished_field_are_refused() -> None:
    """sample_with_changes never sets None: a field that went unknown needs the whole decode."""
    sample = SimCollector(NODE, cards=1).sample(0, 0, 1000.0)
    with pytest.raises(WireError, match="became unknown"):
        sample_with_changes(sample, {"index": 0, "temp_c": None})
    assert sample_with_changes(sample, {"index": 0, "future_field": 1, "temp_c": 70}).temp_c == 70.0
