"""The TUI against real agents on 127.0.0.1 running the sim collector: live, killed, back, unauthorized."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web
from textual.pilot import Pilot

from cardwatch.agent.app import create_app
from cardwatch.client import Backoff, FleetClient
from cardwatch.collectors.sim import SimCollector
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.heat import DOWN_SLOT, UNKNOWN_SLOT
from cardwatch.tui.app import FleetApp, make_app
from cardwatch.tui.screens.node import NodeScreen
from cardwatch.tui.widgets.fleet_bar import FleetBar
from cardwatch.tui.widgets.heat_map import HeatMap
from cardwatch.tui.widgets.node_table import NodeTable

INTERVAL_S = 0.2
SIZE = (200, 60)


class Agent:
    """One agent on a loopback port that a test can stop and start again on the same port."""

    def __init__(self, node: str, token: str | None = None) -> None:
        self.node, self.token, self.port = node, token, 0
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Agent:
        app = create_app(
            [SimCollector(node=self.node, cards=4, scenarios={1: "thermal"})],
            interval_s=INTERVAL_S,
            node=self.node,
            token=self.token,
        )
        self.runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        self.port = self.runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def agents() -> AsyncIterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def make(node: str, token: str | None = None) -> Agent:
        started.append(Agent(node, token))
        return started[-1]

    yield make
    for agent in started:
        await agent.stop()


def _app(specs: list[AgentSpec]) -> FleetApp:
    fleet = Fleet(specs, engine=HealthEngine(), now=time.time())
    client = FleetClient(fleet, interval_s=INTERVAL_S, backoff=Backoff(first_s=0.05, max_s=0.3))
    return make_app(fleet, client, refresh_s=INTERVAL_S)


async def _until(pilot: Pilot[None], done: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not done():
            await pilot.pause(0.05)


def _bar(app: FleetApp) -> str:
    return str(app.screen.query_one(FleetBar).render())


def _heat(app: FleetApp) -> dict[str, tuple[int, ...]]:
    return {node.name: node.slots for node in app.screen.query_one(HeatMap)._heat_nodes}


async def test_live_agents_drill_down_and_a_killed_agent_shows_down_then_recovers(agents) -> None:
    a, b = await agents("node-a").start(), await agents("node-b").start()
    app = _app([AgentSpec(a.url), AgentSpec(b.url)])
    async with app.run_test(size=SIZE) as pilot:
        await _until(
            pilot, lambda: list(_heat(app)) == ["node-a", "node-b"] and "all agents live" in _bar(app)
        )
        await pilot.press("enter")
        assert isinstance(app.screen, NodeScreen) and app.screen.node == "node-a"
        await _until(pilot, lambda: app.screen.query_one(NodeTable).row_count == 4)
        await pilot.press("escape")

        await b.stop()
        await _until(pilot, lambda: app.fleet.agent(b.url).state.status is AgentStatus.DOWN)
        await _until(pilot, lambda: "1 down" in _bar(app) and set(_heat(app)["node-b"]) == {UNKNOWN_SLOT})
        assert "node-b down (" in _bar(app)
        assert UNKNOWN_SLOT not in _heat(app)["node-a"]

        await b.start()
        await _until(
            pilot, lambda: "all agents live" in _bar(app) and UNKNOWN_SLOT not in _heat(app)["node-b"]
        )


async def test_an_agent_that_refuses_the_token_is_shown_unauthorized(agents) -> None:
    good = await agents("node-good", token="right").start()
    locked = await agents("node-locked", token="right").start()
    app = _app([AgentSpec(good.url, token="right"), AgentSpec(locked.url, token="wrong")])
    async with app.run_test(size=SIZE) as pilot:
        await _until(pilot, lambda: "1 unauthorized" in _bar(app) and "node-good" in _heat(app))
        label = f"127.0.0.1:{locked.port}"
        assert _heat(app)[label] == (DOWN_SLOT,)
        assert f"{label} unauthorized (the agent refused the token" in _bar(app)
