"""The fleet client against real cardwatch agents on 127.0.0.1 running the sim collector."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp.test_utils import TestServer

from cardwatch.agent.app import create_app
from cardwatch.client import Backoff, FleetClient
from cardwatch.collectors.sim import SimCollector
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine, Level

from .conftest import T0

FAST = Backoff(first_s=0.05, max_s=0.3)
INTERVAL_S = 0.2
ServerFactory = Callable[..., Awaitable[TestServer]]


async def _agent(aiohttp_server: ServerFactory, node: str, token: str | None = None, **sim: object) -> str:
    app = create_app([SimCollector(node=node, cards=4, **sim)], interval_s=INTERVAL_S, node=node, token=token)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


async def _wait_for(done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not done():
            await asyncio.sleep(0.02)


def _status(fleet: Fleet, url: str) -> AgentStatus:
    return fleet.agent(url).state.status


async def test_real_agents_stream_samples_and_health(aiohttp_server: ServerFactory) -> None:
    urls = [await _agent(aiohttp_server, f"sim-{n}", scenarios={1: "thermal"}) for n in range(2)]
    fleet = Fleet([AgentSpec(url) for url in urls], engine=HealthEngine(), now=T0)
    client = FleetClient(fleet, interval_s=INTERVAL_S, backoff=FAST)
    task = asyncio.create_task(client.run())
    try:
        for seq in range(1, 6):
            await _wait_for(lambda seq=seq: all((fleet.agent(u).seq or 0) >= seq for u in urls))
            fleet.evaluate(T0 + seq)
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)
    assert [link.node for link in fleet.agents()] == ["sim-0", "sim-1"]
    assert all(link.interval_s == INTERVAL_S for link in fleet.agents())
    assert sorted(c.key for c in fleet.cards()) == [f"sim-{n}/{i}" for n in range(2) for i in range(4)]
    assert len(fleet.card("sim-0/0").history) >= 5
    worst = fleet.ranked()[:2]
    assert {row.card.key for row in worst} == {"sim-0/1", "sim-1/1"}
    assert all(row.health is not None and row.health.level > Level.OK for row in worst)


async def test_agent_with_another_token_is_unauthorized(aiohttp_server: ServerFactory) -> None:
    good = await _agent(aiohttp_server, "good", token="right")
    bad = await _agent(aiohttp_server, "locked", token="right")
    fleet = Fleet(
        [AgentSpec(good, token="right"), AgentSpec(bad, token="wrong")], engine=HealthEngine(), now=T0
    )
    client = FleetClient(fleet, interval_s=INTERVAL_S, backoff=FAST)
    task = asyncio.create_task(client.run())
    try:
        await _wait_for(
            lambda: (
                _status(fleet, bad) is AgentStatus.UNAUTHORIZED and _status(fleet, good) is AgentStatus.LIVE
            )
        )
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)
    assert fleet.node_cards("locked") == []
    assert len(fleet.node_cards("good")) == 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def agent_process() -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """Starts `cardwatch agent` processes (sim collector, loopback); kills any still running at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(port: int) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "cardwatch", "agent", "--listen", f"127.0.0.1:{port}"]
        argv += ["--interval", str(INTERVAL_S), "--collector", "sim", "--node", "proc-node"]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


async def test_killed_agent_goes_down_then_recovers_on_restart(
    agent_process: Callable[[int], subprocess.Popen[bytes]],
) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    fleet = Fleet([AgentSpec(url)], engine=HealthEngine(), now=T0)
    client = FleetClient(fleet, interval_s=INTERVAL_S, backoff=FAST)
    first = agent_process(port)
    task = asyncio.create_task(client.run())
    try:
        await _wait_for(lambda: (fleet.agent(url).seq or 0) >= 3)
        first.kill()
        first.wait(timeout=10)
        await _wait_for(lambda: _status(fleet, url) is AgentStatus.DOWN)
        fleet.evaluate(T0 + 1)
        assert {fleet.health(c.key).level for c in fleet.cards()} == {Level.UNKNOWN}
        agent_process(port)
        await _wait_for(lambda: _status(fleet, url) is AgentStatus.LIVE and (fleet.agent(url).seq or 0) >= 2)
        fleet.evaluate(T0 + 2)
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)
    codes = [e.code for e in reversed(fleet.events.newest(url))]
    assert codes[codes.index("live") :] == ["live", "down", "live"]
    assert len(fleet.node_cards("proc-node")) == 8
    assert {fleet.health(c.key).level for c in fleet.cards()} != {Level.UNKNOWN}
