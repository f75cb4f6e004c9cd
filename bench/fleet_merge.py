"""What one second of fleet traffic costs the fleet model: 1,250 agents x 8 cards at 1 Hz (10,000 cards).

Frames are built ahead the way agents build them (snapshot, then per-tick deltas, as JSON text); the
figures time `parse_frame` + `Fleet.apply_frame` for every agent's tick (the merge), and the screen-side
reads at refresh rate (`ranked()`, `header()`). The merge must leave most of a core for the rest.

Run: python bench/fleet_merge.py [--nodes 1250] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure, machine

from cardwatch.collectors.sim import PROFILES, SCENARIOS, SimCollector
from cardwatch.fleet import Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.wire import dumps, make_frame, parse_frame, sample_to_wire, wire_delta

T0 = 1_700_000_000.0
CARDS = 8


def agent_frames(node: int, ticks: int) -> list[str]:
    """One agent's snapshot and `ticks` delta frames as JSON text; one node in ten has a troubled card."""
    profile = list(PROFILES)[node % len(PROFILES)]
    scenarios = {3: SCENARIOS[1 + node // 10 % (len(SCENARIOS) - 1)]} if node % 10 == 0 else {}
    sim = SimCollector(f"node-{node:04d}", profile, CARDS, 1, scenarios)
    held: dict[int, dict] = {}
    frames = []
    for tick in range(ticks + 1):
        current = {i: sample_to_wire(sim.sample(i, tick, T0 + tick)) for i in range(CARDS)}
        if tick == 0:
            frame = make_frame("snapshot", sim.node, 0, T0, current.values(), interval_s=1.0)
        else:
            deltas = [wire_delta(held[i], w) for i, w in current.items() if held[i] != w]
            frame = make_frame("tick", sim.node, tick, T0 + tick, deltas, collectors=[])
        frames.append(dumps(frame))
        held = current
    return frames


def timed_ms(fn: object) -> tuple[float, float]:
    """Wall and CPU milliseconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()  # type: ignore[operator]
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def main() -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--runs", type=int, default=5)
    args, _ = parser.parse_known_args()
    print(f"{machine()}; building {args.nodes} agents x {args.runs + 1} frames ...", flush=True)
    urls = [f"http://node-{n:04d}:9464" for n in range(args.nodes)]
    frames = [agent_frames(n, args.runs) for n in range(args.nodes)]
    fleet = Fleet([AgentSpec(url) for url in urls], engine=HealthEngine(), now=T0)
    merge, reads, evaluate = [], [], []
    gc.collect()
    for tick in range(args.runs + 1):
        now = T0 + tick

        def merge_all(tick: int = tick, now: float = now) -> None:
            for url, texts in zip(urls, frames, strict=True):
                if fleet.apply_frame(url, parse_frame(texts[tick]), now) is not None:
                    raise SystemExit(f"frame refused: {fleet.agent(url).state.reason}")

        wall, cpu = timed_ms(merge_all)
        if tick:
            merge.append(cpu)
        wall, cpu = timed_ms(lambda now=now: fleet.evaluate(now))
        evaluate.append(wall)
        wall, _ = timed_ms(lambda: (fleet.ranked(), fleet.header()))
        reads.append(wall)
    cards = len(list(fleet.cards()))
    per_card_us = [1000 * ms / cards for ms in merge]
    return emit(
        [
            figure(f"merge one fleet second ({cards} cards)", "ms cpu", merge, "< 500 ms (half a core)"),
            figure("merge per card", "us cpu", per_card_us, "< 50 us"),
            figure("evaluate (health engine, all cards changed)", "ms", evaluate, "< 300 ms"),
            figure("ranked() + header() for the screen", "ms", reads, "< 100 ms"),
        ]
    )


if __name__ == "__main__":
    main()
