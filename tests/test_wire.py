"""The wire form round-trips every sample and refuses anything malformed."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.model import FIELD_KINDS, CardSample, CardState
from cardwatch.wire import (
    WireError,
    WireVersionError,
    apply_wire_delta,
    dumps,
    make_frame,
    parse_frame,
    sample_from_wire,
    sample_to_wire,
    wire_delta,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
_VALUES = {
    "str": st.text(max_size=20),
    "int": st.integers(min_value=-(2**63), max_value=2**63),
    "float": finite,
    "bool": st.booleans(),
    "state": st.sampled_from(list(CardState)),
    "strset": st.frozensets(st.text(max_size=12), max_size=4),
    "ints": st.lists(st.integers(0, 200), max_size=4).map(tuple),
    "strs": st.lists(st.text(max_size=8), max_size=4).map(tuple),
    "strmap": st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=3),
}
_REQUIRED = {"node": st.text(min_size=1, max_size=10), "vendor": st.text(min_size=1, max_size=8),
             "source": st.text(min_size=1, max_size=8), "index": st.integers(0, 64), "ts": finite}
samples = st.fixed_dictionaries(
    _REQUIRED,
    optional={name: _VALUES[kind] for name, kind in FIELD_KINDS.items() if name not in _REQUIRED},
).map(lambda kw: CardSample(**kw))


@given(samples)
def test_every_sample_round_trips_through_json(sample: CardSample) -> None:
    text = dumps(sample_to_wire(sample))
    assert sample_from_wire(json.loads(text)) == sample


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_sim_samples_round_trip(scenario: str) -> None:
    collector = SimCollector(scenarios={0: scenario})
    for _ in range(5):
        sample = collector.read()[0]
        assert sample_from_wire(json.loads(dumps(sample_to_wire(sample)))) == sample


def test_unknown_stays_unknown_and_empty_throttle_stays_known() -> None:
    sample = CardSample(node="n", vendor="v", source="s", index=0, ts=1.0, throttle=frozenset())
    wire = sample_to_wire(sample)
    assert "temp_c" not in wire and wire["throttle"] == []
    decoded = sample_from_wire(wire)
    assert decoded.temp_c is None and decoded.throttle == frozenset()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"temp_c": "hot"}, "temp_c"),
        ({"temp_c": True}, "temp_c"),
        ({"index": 1.5}, "index"),
        ({"state": "exploded"}, "state"),
        ({"throttle": "hw_thermal"}, "throttle"),
        ({"xids": [79, "x"]}, "xids"),
        ({"node": None}, "node"),
    ],
)
def test_malformed_samples_are_refused(patch: dict, message: str) -> None:
    wire = {"node": "n", "vendor": "v", "source": "s", "index": 0, "ts": 1.0} | patch
    with pytest.raises(WireError, match=message):
        sample_from_wire(wire)


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(WireError):
        sample_from_wire({"node": "n", "vendor": "v", "source": "s", "index": 0, "ts": 1.0, "temp_c": math.nan})
    text = '{"v":1,"kind":"tick","node":"n","seq":1,"ts":NaN,"cards":[]}'
    with pytest.raises(WireError):
        parse_frame(text)


def test_delta_carries_only_changes_and_rebuilds_the_sample() -> None:
    collector = SimCollector(scenarios={0: "lost"})
    previous = sample_to_wire(collector.sample(0, 0, 10.0))
    current = sample_to_wire(collector.sample(0, 5, 11.0))
    delta = wire_delta(previous, current)
    assert delta["index"] == 0 and delta["temp_c"] is None and "model" not in delta
    assert apply_wire_delta(previous, delta) == current


def test_steady_state_delta_is_small() -> None:
    collector = SimCollector()
    previous = sample_to_wire(collector.sample(3, 0, 10.0))
    current = sample_to_wire(collector.sample(3, 1, 11.0))
    delta = wire_delta(previous, current)
    assert apply_wire_delta(previous, delta) == current
    assert {"model", "uuid", "temp_slowdown_c"}.isdisjoint(delta)
    assert len(dumps(delta)) < len(dumps(current)) / 2


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"v":2,"kind":"tick","node":"n","seq":1,"ts":1,"cards":[]}',
        '{"v":1,"kind":"other","node":"n","seq":1,"ts":1,"cards":[]}',
        '{"v":1,"kind":"tick","node":3,"seq":1,"ts":1,"cards":[]}',
        '{"v":1,"kind":"tick","node":"n","seq":1,"ts":1,"cards":{}}',
        '{"v":1,"kind":"tick","node":"n","seq":1,"ts":1,"cards":[1]}',
    ],
)
def test_bad_frames_are_refused(text: str) -> None:
    with pytest.raises(WireError):
        parse_frame(text)


def test_other_wire_versions_are_named_as_such() -> None:
    with pytest.raises(WireVersionError, match="version 2"):
        parse_frame('{"v":2,"kind":"tick","node":"n","seq":1,"ts":1,"cards":[]}')


def test_frames_round_trip() -> None:
    cards = [sample_to_wire(s) for s in SimCollector(cards=2).read()]
    frame = make_frame("snapshot", "node-a", 0, 5.0, cards, interval_s=1.0)
    assert parse_frame(dumps(frame)) == frame
