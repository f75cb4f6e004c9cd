"""Fleet ingest: 1,250 agents x 8 cards at 1 Hz over loopback WebSockets into the fleet model, with health.

The agents run in a separate process (bench/fleet_agents.py: one aiohttp WebSocket server per agent on
127.0.0.1, precomputed sim frames). This process is what `cardwatch fleet` runs without the screen: a
`FleetClient` streaming every agent into a `Fleet`, and `Fleet.evaluate` once a second as the TUI's
tick does. Once every agent is live, the window is cut into slices; per slice it measures this
process's CPU (% of one core), the age of each frame when it merges (now - frame ts) and of every
card when health is evaluated (now - sample ts), and the frames merged per second.

Run: python bench/fleet_ingest.py [--agents 1250] [--seconds 60] [--slices 6] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, emit, figure, machine

from cardwatch.client import FleetClient
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine

AGENTS_SCRIPT = Path(__file__).resolve().with_name("fleet_agents.py")
CONNECT_S = 120.0
WARMUP_S = 5.0


class TimedFleet(Fleet):
    """The fleet model, noting each frame's age when it merges."""

    def __init__(self, agents: list[AgentSpec], **kwargs: Any) -> None:
        super().__init__(agents, **kwargs)
        self.merge_ages_s: list[float] = []

    def apply_frame(self, url: str, frame: Mapping[str, Any], now: float) -> str | None:
        self.merge_ages_s.append(now - frame["ts"])
        return super().apply_frame(url, frame, now)


@dataclass
class Slice:
    """What one slice of the window measured."""

    cpu_pct: float
    frames_per_s: float
    merge_ages_s: list[float]
    eval_ages_s: list[float]
    stall_pct: float | None


def cpu_stall_us() -> int | None:
    """Microseconds some task on this machine waited for a CPU (Linux PSI), to tell contention from cost."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return int(some.rpartition("total=")[2])


def p99(values: list[float]) -> float:
    """The 99th percentile (the largest value for fewer than 100)."""
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


async def start_agents(count: int, lifetime_s: float) -> tuple[asyncio.subprocess.Process, list[int]]:
    """Start the agents' process; returns it and the agents' ports once they listen."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(AGENTS_SCRIPT), str(count), str(lifetime_s), stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=CONNECT_S)
    if not line:
        raise SystemExit(f"the agents' process exited with status {await proc.wait()} before listening")
    return proc, json.loads(line)


async def evaluate_every_second(fleet: Fleet, ages: list[float]) -> None:
    """The TUI's tick without the screen: evaluate health once a second, noting every card's age."""
    while True:
        await asyncio.sleep(1.0)
        now = time.time()
        fleet.evaluate(now)
        ages.extend(now - card.sample.ts for card in fleet.cards())


async def all_live(fleet: Fleet, timeout_s: float) -> None:
    """Wait until every agent streams, or stop with the states of those that do not."""
    deadline = time.monotonic() + timeout_s
    while (late := [a for a in fleet.agents() if a.state.status is not AgentStatus.LIVE]) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.5)
    if late:
        raise SystemExit(f"{len(late)} agents not live, e.g. {late[0].spec.url}: {late[0].state}")


async def measure(fleet: TimedFleet, seconds: float, slices: int) -> list[Slice]:
    """CPU, frames and ages per slice of the window."""
    eval_ages: list[float] = []
    evaluator = asyncio.create_task(evaluate_every_second(fleet, eval_ages))
    await asyncio.sleep(WARMUP_S)
    out = []
    try:
        for _ in range(slices):
            fleet.merge_ages_s.clear()
            eval_ages.clear()
            wall, cpu, stall = time.monotonic(), time.process_time(), cpu_stall_us()
            await asyncio.sleep(seconds / slices)
            wall, cpu = time.monotonic() - wall, time.process_time() - cpu
            after = cpu_stall_us()
            stall_pct = None if stall is None or after is None else (after - stall) / wall / 1e4
            out.append(
                Slice(
                    100 * cpu / wall,
                    len(fleet.merge_ages_s) / wall,
                    list(fleet.merge_ages_s),
                    list(eval_ages),
                    stall_pct,
                )
            )
    finally:
        evaluator.cancel()
    return out


async def run(agents: int, seconds: float, slices: int) -> tuple[list[Slice], float]:
    """Serve the agents, ingest them, measure; returns the slices and the agents' process CPU %."""
    proc, ports = await start_agents(agents, CONNECT_S + WARMUP_S + seconds + 30)
    try:
        specs = [AgentSpec(f"http://127.0.0.1:{port}") for port in ports]
        fleet = TimedFleet(specs, engine=HealthEngine(), now=time.time())
        client = FleetClient(fleet, interval_s=1.0)
        following = asyncio.create_task(client.run())
        await all_live(fleet, CONNECT_S)
        served = psutil.Process(proc.pid)
        before = sum(served.cpu_times()[:2])
        measured = await measure(fleet, seconds, slices)
        served_pct = 100 * (sum(served.cpu_times()[:2]) - before) / (WARMUP_S + seconds)
        client.stop()
        await asyncio.wait_for(following, timeout=30)
        return measured, served_pct
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1250)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--slices", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.seconds / args.slices < 2:
        parser.error("each slice must last at least 2 s (health is evaluated once a second)")
    print(f"{machine()}; load average {psutil.getloadavg()[0]:.2f}", flush=True)
    slices, served_pct = asyncio.run(run(args.agents, args.seconds, args.slices))
    cards = args.agents * 8
    print(f"agents' process (frames precomputed): {served_pct:.1f} % of one core")
    stalls = [s.stall_pct for s in slices if s.stall_pct is not None]
    context = [figure("CPU pressure on the machine (PSI some)", "%", stalls, "- (contention, not cost)")]
    return emit(
        [
            figure(
                f"fleet ingest CPU, {args.agents} agents x 8 cards at 1 Hz, health 1/s",
                "% of one core",
                [s.cpu_pct for s in slices],
                "< 100 % (one core)",
            ),
            figure(
                "staleness at merge (now - frame ts), p99",
                "s",
                [p99(s.merge_ages_s) for s in slices],
                "< 2 s",
            ),
            figure(
                f"staleness at health evaluation (now - sample ts, {cards} cards), p99",
                "s",
                [p99(s.eval_ages_s) for s in slices],
                "< 2 s",
            ),
            figure(
                "frames merged per second",
                "frames/s",
                [s.frames_per_s for s in slices],
                f"= {args.agents} (every agent once a second)",
            ),
            *(context if stalls else []),
        ]
    )


if __name__ == "__main__":
    main()
