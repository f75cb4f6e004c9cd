"""TUI tests: a Fleet fed with frames built from SimCollector samples, no network, deterministic per seed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from cardwatch.collectors.sim import SimCollector
from cardwatch.fleet import Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.wire import make_frame, sample_to_wire, wire_delta

T0 = 1_790_000_000.0
"""The frozen start of every simulated fleet (2026-09-21 14:13:20 UTC)."""


class SimFeed:
    """Sim nodes streaming into one Fleet; `tick()` delivers one frame per node and evaluates health."""

    def __init__(
        self,
        nodes: Sequence[str],
        *,
        cards: int = 8,
        seed: int = 1,
        scenarios: Mapping[str, Mapping[int, str]] | None = None,
        groups: Mapping[str, Mapping[str, str]] | None = None,
        profiles: Mapping[str, str] | None = None,
    ) -> None:
        self.now = T0
        self.scenarios = dict(scenarios or {})
        self.specs = [AgentSpec(url_of(node), (groups or {}).get(node, {})) for node in nodes]
        self.fleet = Fleet(self.specs, engine=HealthEngine(), now=self.now)
        self.collectors = {
            node: SimCollector(
                node=node,
                profile=(profiles or {}).get(node, "nvidia-h100"),
                cards=cards,
                seed=seed,
                scenarios=(scenarios or {}).get(node),
                clock=lambda: self.now,
            )
            for node in nodes
        }
        self.seq = 0
        self._held: dict[str, list[dict[str, Any]]] = {}

    def clock(self) -> float:
        """The feed's frozen clock, for `make_app(clock=...)`."""
        return self.now

    def tick(self, skip: Sequence[str] = ()) -> None:
        """One interval: every node not in `skip` sends a frame, then health is evaluated."""
        self.now += 1.0
        for node, collector in self.collectors.items():
            if node in skip:
                continue
            cards = [sample_to_wire(s) for s in collector.read()]
            previous = self._held.get(node)
            if previous is None:
                frame = make_frame("snapshot", node, self.seq, self.now, cards, interval_s=1.0)
            else:
                deltas = [wire_delta(p, c) for p, c in zip(previous, cards, strict=True)]
                frame = make_frame("tick", node, self.seq, self.now, deltas)
            self._held[node] = cards
            problem = self.fleet.apply_frame(url_of(node), frame, self.now)
            assert problem is None, problem
        self.seq += 1
        self.fleet.evaluate(self.now)

    def run(self, ticks: int) -> SimFeed:
        """Several ticks in a row."""
        for _ in range(ticks):
            self.tick()
        return self


def url_of(node: str) -> str:
    """The agent URL a simulated node is known by (never connected to)."""
    return f"http://{node}:9464"


NODES = [f"gpu{i:03d}" for i in range(12)]
SCENARIOS = {
    "gpu001": {2: "thermal", 5: "power_cap"},
    "gpu003": {0: "lost"},
    "gpu004": {7: "ecc_storm", 1: "hbm_hot"},
    "gpu006": {3: "straggler"},
    "gpu007": {4: "link_down"},
}
RACKS = {node: {"rack": "r1" if i < 6 else "r2"} for i, node in enumerate(NODES)}


@pytest.fixture
def feed() -> SimFeed:
    """Twelve 8-card nodes in two racks, five of them with broken cards, eight ticks in."""
    return SimFeed(NODES, scenarios=SCENARIOS, groups=RACKS).run(8)


@pytest.fixture
def sim_feed() -> type[SimFeed]:
    """The SimFeed class, for tests that build their own simulated fleet."""
    return SimFeed
