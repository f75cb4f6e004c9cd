"""Recorder throughput: samples/s into SQLite, and one 10,000-card tick through the whole recorder path.

The first figure is the store alone (encode + one transaction per 10,000-sample batch, WAL, both indexes).
The others feed pre-built stream frames of 1,250 agents x 8 cards through the real recorder code
(parse_frame, fleet merge, health engine, vendor events, batched write), in one process and shared by two
(`cardwatch record --workers 2`): one tick must take under a second for 10,000 cards at 1 Hz to keep up.

Run: python bench/record.py [--runs 5] [--batches 10] [--ticks 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure, machine

from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.fleetfile import AgentSpec
from cardwatch.model import CardSample
from cardwatch.record import Recorder
from cardwatch.record_store import RecordStore
from cardwatch.wire import dumps, make_frame, parse_frame, sample_to_wire, wire_delta

CARDS = 10_000
CARDS_PER_NODE = 8
T0 = 1_800_000_000.0


def fleet_ticks(ticks: int) -> list[list[CardSample]]:
    """`ticks` readings of 10,000 simulated cards (a few broken ones in every node)."""
    nodes = [
        SimCollector(
            node=f"gpu{n:04d}", cards=CARDS_PER_NODE, scenarios={n % 8: SCENARIOS[n % len(SCENARIOS)]}
        )
        for n in range(CARDS // CARDS_PER_NODE)
    ]
    return [[s for sim in nodes for s in sim.read()] for _ in range(ticks)]


def store_rate(batches: list[list[CardSample]]) -> float:
    """Samples per second written by `RecordStore`, one transaction per batch, into a fresh file."""
    with tempfile.TemporaryDirectory() as tmp:
        store = RecordStore(Path(tmp) / "bench.db")
        start = time.perf_counter()
        for batch in batches:
            store.add(batch)
            store.flush()
        elapsed = time.perf_counter() - start
        store.close()
    return sum(len(b) for b in batches) / elapsed


def _shifted(batch: list[CardSample], offset_s: float) -> list[CardSample]:
    return [replace(s, ts=T0 + offset_s) for s in batch]


def frames_text(ticks: list[list[CardSample]]) -> list[dict[str, list[str]]]:
    """Per tick: each agent URL's frame as JSON text, as the agents would send it (snapshot, then deltas)."""
    held: dict[str, dict[int, dict]] = {}
    out = []
    for seq, samples in enumerate(ticks):
        by_node: dict[str, list[CardSample]] = {}
        for s in samples:
            by_node.setdefault(s.node, []).append(s)
        frames: dict[str, list[str]] = {}
        for node, cards in by_node.items():
            wire = {s.index: {**sample_to_wire(s), "ts": T0 + seq} for s in cards}
            before = held.get(node)
            if before is None:
                frame = make_frame("snapshot", node, seq, T0 + seq, wire.values(), interval_s=1.0)
            else:
                frame = make_frame(
                    "tick", node, seq, T0 + seq, [wire_delta(before[i], w) for i, w in wire.items()]
                )
            held[node] = wire
            frames[_url(node)] = [dumps(frame)]
        out.append(frames)
    return out


def _url(node: str) -> str:
    return f"http://{node}:9464"


def recorder_tick_s(frames: list[dict[str, list[str]]], db_path: Path) -> list[tuple[float, float]]:
    """(wall, CPU) seconds per tick through parse, fleet, health, events and the batched write."""
    store = RecordStore(db_path)
    recorder = Recorder([AgentSpec(url) for url in frames[0]], store)
    times = []
    for seq, tick in enumerate(frames):
        start, cpu = time.perf_counter(), time.process_time()
        for url, texts in tick.items():
            for text in texts:
                recorder.fleet.apply_frame(url, parse_frame(text), T0 + seq)
        recorder.collect(T0 + seq)
        store.flush()
        times.append((time.perf_counter() - start, time.process_time() - cpu))
    store.close()
    return times[1:]


def sharded_tick_s(frames: list[dict[str, list[str]]], workers: int) -> list[tuple[float, float]]:
    """Per tick, the slowest worker's (wall, CPU) seconds when `workers` processes share the agents."""
    shards = [[{url: tick[url] for url in list(tick)[n::workers]} for tick in frames] for n in range(workers)]
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "bench.db"
        RecordStore(db_path).close()
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            per_worker = pool.starmap(recorder_tick_s, [(shard, db_path) for shard in shards])
    return [max(times) for times in zip(*per_worker, strict=True)]  # the worker slowest by wall time


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batches", type=int, default=10, help="10,000-sample batches per store run")
    parser.add_argument("--ticks", type=int, default=5, help="10,000-card ticks through the recorder")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    ticks = fleet_ticks(args.ticks + 1)
    batches = [_shifted(ticks[i % len(ticks)], float(i)) for i in range(args.batches)]
    rates = [store_rate(batches) for _ in range(args.runs)]
    frames = frames_text(ticks)
    repeats = range(max(1, args.runs // 2))
    figures = [figure("record store write rate", "samples/s", rates, ">= 50,000 samples/s")]
    for workers in (1, 2):
        ticks_s = [t for _ in repeats for t in sharded_tick_s(frames, workers)]
        name = f"recorder, one 10,000-card tick, --workers {workers}"
        figures.append(figure(name, "s", [wall for wall, _ in ticks_s], "< 1 s (10,000 cards at 1 Hz)"))
        cpu_target = "- (cost without contention from other processes)"
        figures.append(figure(f"{name}, CPU time", "s", [cpu for _, cpu in ticks_s], cpu_target))
    return emit(figures)


if __name__ == "__main__":
    main()
