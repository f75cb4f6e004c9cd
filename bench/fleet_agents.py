"""Many simulated agents in one process: a real WebSocket server per agent on 127.0.0.1, real wire frames.

Running 1,250 real agents with the sim collector would cost more CPU than this 2-core machine has, so
the frames are precomputed: `PATTERNS` simulated nodes (`SimCollector`, 8 cards, one node in ten with a
troubled card) are sampled for `CYCLE_TICKS` ticks and turned into the agent's frames with
`cardwatch.wire` (a snapshot of whole samples, then per-tick deltas; the cycle wraps with a delta from
its last tick back to its first). Agent ``i`` streams pattern ``i % PATTERNS`` under its own node name,
at 1 Hz with its own phase in the second, and stamps the send time into the frame's and every card's
``ts``. Each agent listens on its own port, so every frame crosses a real socket.

Run by bench/fleet_ingest.py: python bench/fleet_agents.py AGENTS LIFETIME_S (prints the ports as JSON).
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from cardwatch.collectors import CollectorStatus
from cardwatch.collectors.sim import PROFILES, SCENARIOS, SimCollector
from cardwatch.model import CardSample
from cardwatch.wire import dumps, make_frame, sample_to_wire, status_to_wire, wire_delta

PATTERNS: Final = 64
CYCLE_TICKS: Final = 60
CARDS: Final = 8
TS_MARK: Final = "@ts@"
"""Stands for the send time in precomputed text; replaced by the number when the frame goes out."""


@dataclass(frozen=True, slots=True)
class Pattern:
    """One simulated node's cycle: whole wire samples per tick, and each tick's delta cards as JSON text."""

    full: list[list[dict[str, Any]]]
    deltas: list[str]


@dataclass(frozen=True, slots=True)
class SimAgent:
    """One served agent: node name, the pattern it streams, and its phase within the second."""

    node: str
    pattern: Pattern
    phase_s: float


def build_pattern(number: int) -> Pattern:
    """Sample one simulated node for a cycle and encode it the way an agent's stream would."""
    profile = list(PROFILES)[number % len(PROFILES)]
    scenarios = {3: SCENARIOS[1 + number // 10 % (len(SCENARIOS) - 1)]} if number % 10 == 0 else {}
    sim = SimCollector(f"pattern-{number:02d}", profile, CARDS, 1, scenarios)
    full = [[_marked(sim.sample(i, tick, 0.0)) for i in range(CARDS)] for tick in range(CYCLE_TICKS)]
    deltas = [
        dumps(
            [
                {**wire_delta(old, new), "ts": TS_MARK}
                for old, new in zip(full[tick - 1], full[tick], strict=True)
            ]
        )
        for tick in range(CYCLE_TICKS)
    ]
    return Pattern(full, deltas)


def _marked(sample: CardSample) -> dict[str, Any]:
    wire = sample_to_wire(sample)
    wire["ts"] = TS_MARK
    return wire


COLLECTORS: Final = dumps(
    [{**status_to_wire(CollectorStatus("sim", True, CARDS, 0.0004, 0.0)), "ts": TS_MARK}]
)


def snapshot_text(agent: SimAgent, tick: int, ts: float) -> str:
    """The agent's snapshot at a cycle tick, as sent."""
    cards = [{**card, "node": agent.node} for card in agent.pattern.full[tick]]
    frame = make_frame(
        "snapshot",
        agent.node,
        0,
        ts,
        cards,
        collectors=json.loads(COLLECTORS),
        interval_s=1.0,
        agent={"node": agent.node, "version": "bench"},
    )
    return dumps(frame).replace(dumps(TS_MARK), repr(ts))


def tick_text(agent: SimAgent, tick: int, seq: int, ts: float) -> str:
    """The agent's delta frame for a cycle tick, as sent."""
    body = (
        f'{{"v":1,"kind":"tick","node":{dumps(agent.node)},"seq":{seq},"ts":{ts!r},'
        f'"cards":{agent.pattern.deltas[tick]},"collectors":{COLLECTORS}}}'
    )
    return body.replace(dumps(TS_MARK), repr(ts))


AGENTS: Final = web.AppKey("agents", dict[int, SimAgent])


async def stream(request: web.Request) -> web.WebSocketResponse:
    """One client's stream: the snapshot at once, then a delta each second at the agent's phase."""
    agent = request.app[AGENTS][request.transport.get_extra_info("sockname")[1]]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    tick, seq = int(time.time()) % CYCLE_TICKS, 0
    await ws.send_str(snapshot_text(agent, tick, time.time()))
    try:
        while not ws.closed:
            now = time.time()
            await asyncio.sleep(math.floor(now - agent.phase_s) + 1 + agent.phase_s - now)
            tick, seq = (tick + 1) % CYCLE_TICKS, seq + 1
            await ws.send_str(tick_text(agent, tick, seq, time.time()))
    except ConnectionError:
        pass
    return ws


def listening_sockets(count: int) -> list[socket.socket]:
    """One bound loopback socket per agent, on ports the kernel picks."""
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    return socks


async def serve(count: int, lifetime_s: float) -> None:
    """Serve `count` agents for `lifetime_s` seconds at most, printing their ports once listening."""
    patterns = [build_pattern(n) for n in range(min(count, PATTERNS))]
    socks = listening_sockets(count)
    ports = [sock.getsockname()[1] for sock in socks]
    app = web.Application()
    app[AGENTS] = {
        port: SimAgent(f"node-{i:04d}", patterns[i % len(patterns)], i / count)
        for i, port in enumerate(ports)
    }
    app.router.add_get("/v1/stream", stream)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    for sock in socks:
        await web.SockSite(runner, sock, backlog=1024).start()
    print(json.dumps(ports), flush=True)
    try:
        await asyncio.sleep(lifetime_s)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), float(sys.argv[2])))
