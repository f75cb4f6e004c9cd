"""How long one full-fleet health tick takes: 10,000 simulated cards (1,250 nodes x 8), recent window filled.

Run: ``python bench/health.py [--nodes 1250] [--runs 7] [--json]``. Prints the median and spread of
`HealthEngine.observe()` over full-fleet ticks, and of `summary()`, in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from itertools import cycle
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure

from cardwatch.collectors.sim import PROFILES, SCENARIOS, SimCollector
from cardwatch.health import HealthEngine
from cardwatch.model import CardSample

T0 = 1_700_000_000.0


def fleet_ticks(nodes: int, ticks: int) -> list[list[CardSample]]:
    """Samples of a mixed fleet for `ticks` ticks; one node in ten runs a trouble scenario on card 3."""
    profiles = cycle(PROFILES)
    trouble = cycle(SCENARIOS[1:])
    collectors = [
        SimCollector(f"node-{n:04d}", next(profiles), 8, 1, {3: next(trouble)} if n % 10 == 0 else {})
        for n in range(nodes)
    ]
    return [
        [c.sample(i, tick, T0 + tick) for c in collectors for i in range(c.cards)] for tick in range(ticks)
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    engine = HealthEngine()
    warm = engine.config.window_samples
    print(f"building {args.nodes * 8} cards x {warm + args.runs} ticks ...", flush=True)
    ticks = fleet_ticks(args.nodes, warm + args.runs)
    for tick, samples in enumerate(ticks[:warm]):
        engine.observe(samples, T0 + tick)
    timings: dict[str, list[float]] = {"observe wall": [], "observe cpu": [], "summary wall": []}
    gc.collect()
    gc.freeze()
    for tick, samples in enumerate(ticks[warm:], start=warm):
        wall, cpu = time.perf_counter(), time.process_time()
        engine.observe(samples, T0 + tick)
        timings["observe wall"].append((time.perf_counter() - wall) * 1000)
        timings["observe cpu"].append((time.process_time() - cpu) * 1000)
        wall = time.perf_counter()
        engine.summary(lambda key: key.split("/")[0])
        timings["summary wall"].append((time.perf_counter() - wall) * 1000)
    cards = len(ticks[0])
    return emit(
        [figure(f"health {name}, {cards} cards", "ms", values, "< 50 ms") for name, values in timings.items()]
    )


if __name__ == "__main__":
    main()
