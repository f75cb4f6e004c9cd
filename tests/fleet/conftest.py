"""Fleet tests: a simulated agent's frame stream, built the way the agent builds it, without a server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from cardwatch.collectors.sim import SimCollector
from cardwatch.fleet import Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.model import CardSample
from cardwatch.wire import dumps, make_frame, parse_frame, sample_to_wire, wire_delta

T0 = 1_800_000_000.0


class SimStream:
    """Frames of one simulated node: a snapshot, then one delta tick per call, as JSON round-tripped."""

    def __init__(self, node: str, cards: int = 4, scenarios: Mapping[int, str] | None = None) -> None:
        self.now = T0
        self.sim = SimCollector(node=node, cards=cards, scenarios=scenarios, clock=lambda: self.now)
        self.seq = 0
        self.held: dict[int, dict[str, Any]] = {}
        self.samples: list[CardSample] = []

    def snapshot(self, interval_s: float = 1.0) -> dict[str, Any]:
        self.samples = self.sim.read()
        self.held = {s.index: sample_to_wire(s) for s in self.samples}
        extra = {
            "interval_s": interval_s,
            "agent": {"node": self.sim.node, "version": "test"},
            "collectors": [],
        }
        return self._frame("snapshot", list(self.held.values()), **extra)

    def tick(self) -> dict[str, Any]:
        self.now += 1.0
        self.samples = self.sim.read()
        current = {s.index: sample_to_wire(s) for s in self.samples}
        deltas = [wire_delta(self.held.get(i), w) for i, w in current.items() if self.held.get(i) != w]
        self.held = current
        return self._frame("tick", deltas, collectors=[])

    def _frame(self, kind: str, cards: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        frame = make_frame(kind, self.sim.node, self.seq, self.now, cards, **extra)
        self.seq += 1
        return parse_frame(dumps(frame))


@pytest.fixture
def make_fleet() -> Callable[..., Fleet]:
    """A fleet of the given agent URLs with a real health engine."""

    def build(*urls: str, engine: HealthEngine | None = None, **kwargs: Any) -> Fleet:
        specs = [AgentSpec(url) for url in urls]
        return Fleet(specs, engine=engine or HealthEngine(), now=T0, **kwargs)

    return build
