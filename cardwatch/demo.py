"""`cardwatch demo`: a simulated fleet of real agents on loopback ports, and the fleet TUI on top.

The fleet mixes NVIDIA-like, Ascend-like and RISC-V-like nodes; the named scenarios are spread over it
deterministically from the seed, so the same command always shows the same broken cards.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import click

from cardwatch.collectors.sim import SCENARIOS, SimCollector

PROFILE_MIX: Final = ("nvidia-h100",) * 5 + ("ascend-910b",) * 2 + ("riscv-th1520",)
NODE_PREFIX: Final = {"nvidia-h100": "gpu", "ascend-910b": "npu", "riscv-th1520": "rv"}
BROKEN: Final = tuple(s for s in SCENARIOS if s != "healthy")
NODES_PER_RACK: Final = 8
READY_TIMEOUT_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class DemoNode:
    """One simulated node: its name, card model, rack and which card runs which scenario."""

    name: str
    profile: str
    rack: str
    scenarios: dict[int, str]


def plan_fleet(nodes: int, cards: int, seed: int, scenarios: Sequence[str] = BROKEN) -> list[DemoNode]:
    """Name the nodes, mix the vendors and spread each scenario over about one node in sixteen."""
    rng = random.Random(seed)
    profiles = [PROFILE_MIX[i % len(PROFILE_MIX)] for i in range(nodes)]
    names = [f"{NODE_PREFIX[p]}{i + 1:03d}" for i, p in enumerate(profiles)]
    placed: dict[int, dict[int, str]] = {i: {} for i in range(nodes)}
    free = [(n, c) for n in range(nodes) for c in range(cards)]
    rng.shuffle(free)
    for scenario in scenarios:
        for _ in range(max(1, nodes // 16)):
            if not free:
                break
            node, card = free.pop()
            placed[node][card] = scenario
    return [
        DemoNode(name, profile, f"rack-{i // NODES_PER_RACK + 1:02d}", placed[i])
        for i, (name, profile) in enumerate(zip(names, profiles, strict=True))
    ]


def fleet_toml(nodes: Sequence[DemoNode], urls: Sequence[str]) -> str:
    """The fleet file for the running demo: one rack group per eight nodes, a cluster per vendor."""
    lines = ["# cardwatch demo fleet: simulated agents on loopback", ""]
    for kind, key in (("rack", lambda n: n.rack), ("cluster", lambda n: n.profile)):
        groups: dict[str, list[str]] = {}
        for node, url in zip(nodes, urls, strict=True):
            groups.setdefault(key(node), []).append(url)
        for name, members in groups.items():
            lines += [f'[{kind}."{name}"]', "agents = [", *(f'  "{u}",' for u in members), "]", ""]
    return "\n".join(lines)


async def serve_fleet(
    nodes: Sequence[DemoNode], cards: int, seed: int, interval_s: float
) -> tuple[list, list[str]]:
    """Start one real agent per node on an ephemeral loopback port; returns the runners and URLs."""
    from aiohttp import web

    from cardwatch.agent.app import create_app

    runners, urls = [], []
    for node in nodes:
        collector = SimCollector(
            node=node.name, profile=node.profile, cards=cards, seed=seed, scenarios=node.scenarios
        )
        runner = web.AppRunner(
            create_app([collector], interval_s=interval_s, node=node.name), access_log=None
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{port}")
    return runners, urls


async def _run_headless(
    nodes: Sequence[DemoNode], cards: int, seed: int, interval_s: float, out: Path | None
) -> None:
    runners, urls = await serve_fleet(nodes, cards, seed, interval_s)
    text = fleet_toml(nodes, urls)
    if out is not None:
        tmp = out.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(out)
    click.echo(text)
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def _start_agents(argv: list[str], fleet_file: Path) -> subprocess.Popen[bytes]:
    """Run the agents in a child process so the TUI's event loop only draws."""
    child = subprocess.Popen(
        [sys.executable, "-m", "cardwatch", "demo", "--headless", "--fleet-out", str(fleet_file), *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not fleet_file.exists():
        if child.poll() is not None:
            err = child.stderr.read().decode(errors="replace").strip() if child.stderr else ""
            raise click.ClickException(
                f"the demo agents failed to start: {err.splitlines()[-1] if err else child.returncode}"
            )
        if time.monotonic() > deadline:
            child.kill()
            raise click.ClickException("the demo agents did not start within a minute")
        time.sleep(0.05)
    return child


@click.command()
@click.option("--nodes", default=64, show_default=True, type=click.IntRange(1, 2000), help="Simulated nodes.")
@click.option("--cards", default=8, show_default=True, type=click.IntRange(1, 64), help="Cards per node.")
@click.option("--seed", default=1, show_default=True, help="Seed: the same seed shows the same fleet.")
@click.option(
    "--scenario",
    "scenarios",
    multiple=True,
    type=click.Choice(BROKEN),
    help="Scenario to spread over the fleet; repeat for several (default: all).",
)
@click.option(
    "--interval", default=1.0, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds per tick."
)
@click.option("--headless", is_flag=True, help="Run the agents only and print the fleet file.")
@click.option(
    "--fleet-out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the fleet file here."
)
def demo(
    nodes: int,
    cards: int,
    seed: int,
    scenarios: tuple[str, ...],
    interval: float,
    headless: bool,
    fleet_out: Path | None,
) -> None:
    """Start a simulated fleet of real agents on loopback and watch it.

    \b
    Examples:
      cardwatch demo                          # 64 nodes x 8 cards, every scenario
      cardwatch demo --nodes 1250 --seed 7    # 10,000 cards
      cardwatch demo --scenario thermal --scenario straggler
      cardwatch demo --headless --fleet-out fleet.toml   # agents only, for record/export/Prometheus

    Closing the TUI (q) stops the agents.
    """
    plan = plan_fleet(nodes, cards, seed, scenarios or BROKEN)
    if headless:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_run_headless(plan, cards, seed, interval, fleet_out))
        return
    argv = ["--nodes", str(nodes), "--cards", str(cards), "--seed", str(seed), "--interval", str(interval)]
    argv += [arg for s in scenarios for arg in ("--scenario", s)]
    with tempfile.TemporaryDirectory(prefix="cardwatch-demo-") as tmp:
        fleet_file = Path(tmp) / "fleet.toml"
        child = _start_agents(argv, fleet_file)
        try:
            _run_tui(fleet_file, interval)
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def _run_tui(fleet_file: Path, interval_s: float) -> None:
    from cardwatch.fleet_cli import watch
    from cardwatch.fleetfile import load_fleet_file

    watch(load_fleet_file(fleet_file), interval_s=interval_s)
