"""Fleet TUI at 10,000 cards: overview refresh time, and key latency while 1,250 agents stream at 1 Hz.

The fleet is 1,250 sim nodes x 8 cards in 10 racks, fed through the real wire path (JSON text ->
parse_frame -> Fleet.apply_frame) without sockets; the app runs headless at 200x60.

- refresh: one overview redraw from the model (flagged list, heat map slots, header; three steps)
  until Textual has computed the painted update, p50/p95 per run.
- key latency: keys (m, down/up, enter, escape) sent through the driver while a background task merges
  each second's 1,250 frames in chunks and the app's own 1 s timer evaluates health and redraws;
  measured from the key to the first paint after the key's effect (metric, cursor, screen) happened.

Run: python bench/tui.py [--runs 3] [--nodes 1250]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure, machine
from textual import events

from cardwatch.collectors.sim import SCENARIOS, SimCollector
from cardwatch.fleet import Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.tui.app import FleetApp, make_app
from cardwatch.tui.widgets.heat_map import HeatMap
from cardwatch.wire import dumps, make_frame, parse_frame, sample_to_wire, wire_delta

CARDS = 8
RACKS = 10
BROKEN = tuple(s for s in SCENARIOS if s != "healthy")
T0 = 1_790_000_000.0
KEYS = ("m", "down", "enter", "escape", "m", "up", "enter", "escape")
CHUNK = 50
WAIT_S = 30.0
"""A key whose effect never shows is a failure, not a hang."""


def frames(nodes: int, ticks: int) -> list[list[tuple[str, str]]]:
    """Per tick, (agent url, frame JSON) for every node: a snapshot first, then deltas."""
    now = [T0]
    sims = [
        SimCollector(
            node=f"gpu{n:04d}",
            cards=CARDS,
            seed=7,
            scenarios={n % CARDS: BROKEN[n % len(BROKEN)]} if n % 5 == 0 else None,
            clock=lambda: now[0],
        )
        for n in range(nodes)
    ]
    held: dict[str, list[dict]] = {}
    out = []
    for seq in range(ticks):
        now[0] = T0 + seq
        tick = []
        for sim in sims:
            cards = [sample_to_wire(s) for s in sim.read()]
            old = held.get(sim.node)
            if old is None:
                frame = make_frame("snapshot", sim.node, seq, now[0], cards, interval_s=1.0)
            else:
                frame = make_frame(
                    "tick", sim.node, seq, now[0], [wire_delta(p, c) for p, c in zip(old, cards, strict=True)]
                )
            held[sim.node] = cards
            tick.append((url_of(sim.node), dumps(frame)))
        out.append(tick)
    return out


def url_of(node: str) -> str:
    return f"http://{node}:9464"


def new_fleet(nodes: int) -> Fleet:
    specs = [AgentSpec(url_of(f"gpu{n:04d}"), {"rack": f"r{n * RACKS // nodes:02d}"}) for n in range(nodes)]
    return Fleet(specs, engine=HealthEngine(), now=T0)


def apply(fleet: Fleet, tick: list[tuple[str, str]], now: float) -> None:
    for url, text in tick:
        fleet.apply_frame(url, parse_frame(text), now)


async def stream(fleet: Fleet, ticks: list[list[tuple[str, str]]]) -> None:
    """Merge one tick of frames per second, in chunks, as a client would while frames arrive."""
    for tick in ticks:
        started = time.monotonic()
        for i in range(0, len(tick), CHUNK):
            apply(fleet, tick[i : i + CHUNK], time.time())
            await asyncio.sleep(1.0 / (len(tick) / CHUNK + 1))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))


class Paints:
    """When the app painted: every screen update computed (headless apps skip only the terminal write)."""

    def __init__(self, app: FleetApp) -> None:
        self.times: list[float] = []
        original = app._display

        def display(screen, renderable) -> None:  # type: ignore[no-untyped-def]
            self.times.append(time.perf_counter())
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]

    async def after(self, start: float, changed: Callable[[], bool]) -> float:
        """Milliseconds from `start` to the first paint after `changed()` became true."""
        async with asyncio.timeout(WAIT_S):
            while not changed():
                await asyncio.sleep(0.001)
            seen = len(self.times)
            while len(self.times) == seen:
                await asyncio.sleep(0.001)
        return (self.times[seen] - start) * 1000


def press(app: FleetApp, key: str) -> None:
    """Send one key the way a terminal does (through the driver), without waiting for idle."""
    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    assert app._driver is not None
    app._driver.send_message(event)


def expect(app: FleetApp, key: str) -> Callable[[], bool]:
    """What must have changed once `key` was handled."""
    screen = app.screen
    if key == "m":
        metric = screen.metric
        return lambda: app.screen.metric is not metric
    if key in ("down", "up"):
        heat = screen.query_one(HeatMap)
        cursor = heat.cursor
        return lambda: heat.cursor != cursor
    return lambda: app.screen is not screen


async def one_run(nodes: int, warm: list[list[tuple[str, str]]], live: list[list[tuple[str, str]]]) -> dict:
    fleet = new_fleet(nodes)
    for tick in warm:
        apply(fleet, tick, time.time())
        fleet.evaluate(time.time())
    app: FleetApp = make_app(fleet, refresh_s=1.0)
    redraw: list[float] = []
    refresh: list[float] = []
    keys: list[tuple[str, float]] = []
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        paints = Paints(app)
        screen = app.screen
        for _ in range(10):
            screen._header = None
            start = time.perf_counter()
            screen.redraw(time.time())
            while screen._header is None:
                await asyncio.sleep(0.001)
            redraw.append((time.perf_counter() - start) * 1000)
            refresh.append(await paints.after(start, lambda: True))
        feeder = asyncio.create_task(stream(fleet, live))
        try:
            for i in range(4 * len(live)):
                await asyncio.sleep(0.13 + 0.07 * (i % 5))
                key = KEYS[i % len(KEYS)]
                changed = expect(app, key)
                start = time.perf_counter()
                press(app, key)
                keys.append((key, await paints.after(start, changed)))
        finally:
            feeder.cancel()
        cards = len(list(fleet.cards()))
    return {
        "redraw": redraw,
        "refresh": refresh,
        "keys": [ms for _, ms in keys],
        "by_key": keys,
        "cards": cards,
    }


def per_key(runs: list[dict], key: str) -> list[float]:
    """Each run's median latency of one key."""
    return [statistics.median(ms for k, ms in r["by_key"] if k == key) for r in runs]


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=1250)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    built = frames(args.nodes, 12)
    print(f"built {args.nodes} nodes x 12 ticks of frames in {time.perf_counter() - started:.1f} s")
    warm, live = built[:4], built[4:]
    runs = [asyncio.run(one_run(args.nodes, warm, live)) for _ in range(args.runs)]
    print(
        f"{runs[0]['cards']} cards, 200x60, {machine()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    return emit(
        [
            figure(
                "overview redraw, model to widgets p50",
                "ms",
                [statistics.median(r["redraw"]) for r in runs],
                "-",
            ),
            figure("overview refresh p50", "ms", [statistics.median(r["refresh"]) for r in runs], "< 250 ms"),
            figure("overview refresh p95", "ms", [p95(r["refresh"]) for r in runs], "< 500 ms"),
            figure(
                "key latency under load p50", "ms", [statistics.median(r["keys"]) for r in runs], "< 100 ms"
            ),
            figure("key latency under load p95", "ms", [p95(r["keys"]) for r in runs], "< 100 ms"),
            figure("key latency under load max", "ms", [max(r["keys"]) for r in runs], "-"),
            *(
                figure(f"key latency under load p50, {key}", "ms", per_key(runs, key), "< 100 ms")
                for key in dict.fromkeys(KEYS)
            ),
        ]
    )


if __name__ == "__main__":
    main()
