"""The bounded stores under the fleet model: per-card plot history and the fleet event log."""

from __future__ import annotations

import pytest

from cardwatch.events import EventKind, EventLog, FleetEvent
from cardwatch.history import CardHistory
from cardwatch.model import CardSample


def _sample(ts: float, temp_c: float | None) -> CardSample:
    return CardSample(node="n", vendor="sim", source="sim", index=0, ts=ts, temp_c=temp_c, util_pct=50.0)


def test_unknown_values_read_back_as_none_not_zero() -> None:
    history = CardHistory(capacity=3)
    for ts, temp in [(1.0, 40.0), (2.0, None), (3.0, 42.5)]:
        history.append(_sample(ts, temp))
    assert history.series("temp_c") == [40.0, None, 42.5]
    assert history.series("power_w") == [None, None, None]
    assert history.series("util_pct") == [50.0, 50.0, 50.0]


def test_history_wraps_keeping_the_newest_in_order() -> None:
    history = CardHistory(capacity=4)
    for n in range(10):
        history.append(_sample(float(n), float(n)))
    assert history.times() == [6.0, 7.0, 8.0, 9.0]
    assert history.series("temp_c") == [6.0, 7.0, 8.0, 9.0]


def test_history_needs_room_for_one_sample() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CardHistory(capacity=0)


def test_event_log_is_bounded_and_newest_first() -> None:
    log = EventLog(capacity=3)
    for n in range(5):
        log.add(FleetEvent(float(n), EventKind.XID, f"n/{n % 2}", f"event {n}"))
    assert len(log) == 3
    assert [e.message for e in log] == ["event 4", "event 3", "event 2"]
    assert [e.message for e in log.newest("n/0")] == ["event 4", "event 2"]
    assert [e.message for e in log.newest(limit=2)] == ["event 4", "event 3"]
