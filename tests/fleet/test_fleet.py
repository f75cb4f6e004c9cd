"""The fleet model driven directly with frames: merging, bad input as agent state, staleness, health."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from cardwatch.events import EventKind
from cardwatch.fleet import STALE_INTERVALS, AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine, Level
from cardwatch.model import CardSample
from cardwatch.wire import make_frame

from .conftest import T0, SimStream

URL = "http://gpu01:9464"


class RecordingEngine(HealthEngine):
    """The real engine, also remembering which cards each observe() call was given."""

    def __init__(self) -> None:
        super().__init__()
        self.observed: list[list[str]] = []

    def observe(self, samples: Iterable[CardSample], now: float) -> list[Any]:
        given = list(samples)
        self.observed.append(sorted(s.key for s in given))
        return super().observe(given, now)


def test_snapshot_then_ticks_hold_the_agents_samples(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    assert fleet.apply_frame(URL, stream.snapshot(), T0) is None
    for _ in range(3):
        assert fleet.apply_frame(URL, stream.tick(), stream.now) is None
    assert [card.sample for card in fleet.node_cards("gpu01")] == stream.samples
    link = fleet.agent(URL)
    assert (link.state.status, link.node, link.seq, link.interval_s) == (AgentStatus.LIVE, "gpu01", 3, 1.0)


def test_delta_for_unknown_card_marks_agent_down_and_keeps_data(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    fleet.apply_frame(URL, stream.snapshot(), T0)
    before = [card.sample for card in fleet.node_cards("gpu01")]
    bad = make_frame("tick", "gpu01", 1, T0 + 1, [{"index": 9, "temp_c": 50.0}])
    problem = fleet.apply_frame(URL, bad, T0 + 1)
    assert problem is not None and "card 9" in problem
    state = fleet.agent(URL).state
    assert (state.status, state.reason, state.since_ts) == (AgentStatus.DOWN, problem, T0 + 1)
    assert [card.sample for card in fleet.node_cards("gpu01")] == before


def test_malformed_sample_is_refused_whole(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    fleet.apply_frame(URL, stream.snapshot(), T0)
    before = [card.sample for card in fleet.node_cards("gpu01")]
    bad = make_frame(
        "tick", "gpu01", 1, T0 + 1, [{"index": 0, "temp_c": 51.0}, {"index": 1, "temp_c": "hot"}]
    )
    problem = fleet.apply_frame(URL, bad, T0 + 1)
    assert problem is not None and "card 1" in problem and "temp_c" in problem
    assert [card.sample for card in fleet.node_cards("gpu01")] == before


def test_lost_deltas_and_ticks_before_snapshot_are_refused(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    early = make_frame("tick", "gpu01", 0, T0, [])
    assert "before any snapshot" in (fleet.apply_frame(URL, early, T0) or "")
    fleet.apply_frame(URL, stream.snapshot(), T0)
    stream.tick()
    problem = fleet.apply_frame(URL, stream.tick(), T0 + 2)
    assert problem is not None and "seq jumped from 0 to 2" in problem


def test_garbage_envelope_never_raises(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(URL)
    for frame in (
        {},
        {"kind": "snapshot"},
        {"kind": "snapshot", "node": "n", "seq": 0, "ts": 1.0, "cards": [3]},
    ):
        assert fleet.apply_frame(URL, frame, T0) is not None
        assert fleet.agent(URL).state.status is AgentStatus.DOWN


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["index", "temp_c", "power_w", "node", "state", "throttle", "xids", "field_errors"]
            ),
            st.none()
            | st.booleans()
            | st.integers(-5, 5)
            | st.floats()
            | st.text(max_size=3)
            | st.lists(st.integers()),
        ),
        max_size=4,
    )
)
def test_any_tick_content_is_applied_or_refused_never_raised(cards: list[dict[str, Any]]) -> None:
    fleet, stream = Fleet([AgentSpec(URL)], engine=HealthEngine(), now=T0), SimStream("gpu01")
    fleet.apply_frame(URL, stream.snapshot(), T0)
    problem = fleet.apply_frame(URL, make_frame("tick", "gpu01", 1, T0 + 1, cards), T0 + 1)
    status = fleet.agent(URL).state.status
    assert (problem is None and status is AgentStatus.LIVE) or (problem and status is AgentStatus.DOWN)
    fleet.evaluate(T0 + 1)


def test_agent_goes_stale_after_three_silent_intervals_and_back(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    fleet.apply_frame(URL, stream.snapshot(interval_s=2.0), T0)
    fleet.check_staleness(T0 + STALE_INTERVALS * 2.0)
    assert fleet.agent(URL).state.status is AgentStatus.LIVE
    fleet.check_staleness(T0 + STALE_INTERVALS * 2.0 + 0.5)
    state = fleet.agent(URL).state
    assert state.status is AgentStatus.STALE and "no frame for 6.5 s" in (state.reason or "")
    fleet.apply_frame(URL, stream.tick(), T0 + 7)
    assert fleet.agent(URL).state.status is AgentStatus.LIVE
    assert [e.code for e in fleet.events.newest(URL)] == ["live", "stale", "live"]


def test_evaluate_feeds_only_changed_cards(make_fleet: Callable[..., Fleet]) -> None:
    engine = RecordingEngine()
    fleet, stream = make_fleet(URL, engine=engine), SimStream("gpu01", cards=3)
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.evaluate(T0)
    one_card = make_frame("tick", "gpu01", 1, T0 + 1, [{"index": 2, "temp_c": 70.0}])
    fleet.apply_frame(URL, one_card, T0 + 1)
    fleet.evaluate(T0 + 1)
    fleet.evaluate(T0 + 2)
    assert engine.observed == [["gpu01/0", "gpu01/1", "gpu01/2"], ["gpu01/2"]]
    assert fleet.card("gpu01/2").sample.temp_c == 70.0


def test_cards_of_a_down_agent_become_unknown_then_recover(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01", cards=2)
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.evaluate(T0)
    assert {fleet.health(c.key).level for c in fleet.cards()} == {Level.OK}
    fleet.set_agent_state(URL, AgentStatus.DOWN, "cannot connect: Connection refused", T0 + 5)
    fleet.evaluate(T0 + 5)
    verdicts = [fleet.health(c.key) for c in fleet.cards()]
    assert {v.level for v in verdicts} == {Level.UNKNOWN}
    assert all(v.effective_compute is None and "Connection refused" in v.reasons[0].message for v in verdicts)
    fleet.apply_frame(URL, stream.snapshot(), T0 + 6)
    fleet.evaluate(T0 + 6)
    assert {fleet.health(c.key).level for c in fleet.cards()} == {Level.OK}


def test_thermal_card_ranks_first_with_its_reasons(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01", cards=4, scenarios={2: "thermal"})
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.evaluate(T0)
    for _ in range(4):
        fleet.apply_frame(URL, stream.tick(), stream.now)
        fleet.evaluate(stream.now)
    ranked = fleet.ranked()
    assert ranked[0].card.key == "gpu01/2"
    assert ranked[0].health is not None and ranked[0].health.level >= Level.WATCH
    assert [row.card.key for row in fleet.ranked(flagged_only=True)] == ["gpu01/2"]
    raised = [e for e in fleet.events.newest("gpu01/2") if e.kind is EventKind.HEALTH]
    assert raised and all(e.message.startswith("raised") for e in raised)


def test_xids_and_vendor_health_changes_are_logged(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01", cards=2, scenarios={1: "lost"})
    fleet.apply_frame(URL, stream.snapshot(), T0)
    for _ in range(3):
        fleet.apply_frame(URL, stream.tick(), stream.now)
    xid = fleet.events.newest("gpu01/1")[0]
    assert (xid.kind, xid.message) == (EventKind.XID, "Xid 79 (GPU is lost (fell off the bus))")
    alarm = make_frame("tick", "gpu01", 4, stream.now, [{"index": 0, "vendor_health": "Alarm"}])
    fleet.apply_frame(URL, alarm, stream.now)
    change = fleet.events.newest("gpu01/0")[0]
    assert (change.kind, change.message) == (EventKind.VENDOR_HEALTH, "vendor health unknown -> Alarm")


def test_new_snapshot_drops_cards_the_agent_no_longer_has(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(URL)
    fleet.apply_frame(URL, SimStream("gpu01", cards=3).snapshot(), T0)
    fleet.evaluate(T0)
    fleet.apply_frame(URL, SimStream("gpu01", cards=2).snapshot(), T0 + 1)
    fleet.evaluate(T0 + 1)
    assert sorted(c.key for c in fleet.cards()) == ["gpu01/0", "gpu01/1"]
    assert fleet.health("gpu01/2") is None


def test_two_agents_cannot_serve_one_node(make_fleet: Callable[..., Fleet]) -> None:
    other = "http://gpu02:9464"
    fleet = make_fleet(URL, other)
    fleet.apply_frame(URL, SimStream("gpu01").snapshot(), T0)
    problem = fleet.apply_frame(other, SimStream("gpu01").snapshot(), T0)
    assert problem is not None and "already served by http://gpu01:9464" in problem
    assert fleet.agent_of_node("gpu01") is fleet.agent(URL)


def test_history_keeps_a_bounded_window_oldest_first(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL, history_len=5), SimStream("gpu01", cards=1)
    fleet.apply_frame(URL, stream.snapshot(), T0)
    temps = [stream.samples[0].temp_c]
    for _ in range(7):
        fleet.apply_frame(URL, stream.tick(), stream.now)
        temps.append(stream.samples[0].temp_c)
    history = fleet.card("gpu01/0").history
    assert len(history) == 5
    assert history.times() == [T0 + n for n in range(3, 8)]
    assert history.series("temp_c") == pytest.approx(temps[-5:], rel=1e-6)


def test_header_counts_live_nodes_levels_and_hottest_card(make_fleet: Callable[..., Fleet]) -> None:
    down = "http://gpu02:9464"
    fleet, stream = make_fleet(URL, down), SimStream("gpu01", cards=3, scenarios={1: "thermal"})
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.set_agent_state(down, AgentStatus.DOWN, "cannot connect", T0)
    fleet.evaluate(T0)
    header = fleet.header()
    assert (header.nodes_live, header.nodes_total, header.newest_ts) == (1, 2, T0)
    assert (
        header.cards.cards == 3 and header.cards.by_level[Level.OK] + header.cards.by_level[Level.WATCH] >= 2
    )
    assert header.hottest is fleet.card("gpu01/1")
    assert header.cards.effective_pct is not None and 0 < header.cards.effective_pct <= 100


def test_resync_snapshot_after_dropped_frames_is_logged(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01")
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.apply_frame(URL, stream.tick(), T0 + 1)
    resync = stream.snapshot() | {"dropped": 7}
    assert fleet.apply_frame(URL, resync, T0 + 2) is None
    assert fleet.events.newest(URL)[0].message.startswith("agent dropped 7 frames")
    assert fleet.agent(URL).seq == resync["seq"]


def test_stale_agent_cards_go_unknown_and_recover_when_ticks_resume(make_fleet: Callable[..., Fleet]) -> None:
    fleet, stream = make_fleet(URL), SimStream("gpu01", cards=2)
    fleet.apply_frame(URL, stream.snapshot(), T0)
    fleet.evaluate(T0)
    fleet.check_staleness(T0 + 10)
    fleet.evaluate(T0 + 10)
    verdict = fleet.health("gpu01/0")
    assert verdict is not None and verdict.level is Level.UNKNOWN
    assert "agent stale: no frame for 10.0 s" in verdict.reasons[0].message
    fleet.apply_frame(URL, stream.tick(), T0 + 11)
    fleet.evaluate(T0 + 11)
    assert {fleet.health(c.key).level for c in fleet.cards()} == {Level.OK}
