"""The fleet client against small real WebSocket servers on 127.0.0.1 that misbehave on purpose."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from cardwatch.client import Backoff, FleetClient
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.wire import dumps

from .conftest import T0, SimStream

FAST = Backoff(first_s=0.05, max_s=0.2)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ServerFactory = Callable[..., Awaitable[TestServer]]


def _fleet(*urls: str, token: str | None = None) -> Fleet:
    return Fleet([AgentSpec(url, token=token) for url in urls], engine=HealthEngine(), now=T0)


async def _serve(aiohttp_server: ServerFactory, handler: Handler) -> str:
    app = web.Application()
    app.router.add_get("/v1/stream", handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/")


async def _run_until(client: FleetClient, done: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Run the client until `done()` holds (bounded), then stop it and wait for it to finish."""
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                await asyncio.sleep(0.01)
    finally:
        client.stop()
        await asyncio.wait_for(task, 10)


def _status(fleet: Fleet, url: str) -> AgentStatus:
    return fleet.agent(url).state.status


def _sim_handler(stream: SimStream, seen: list[dict[str, str]], ticks: int = 1000) -> Handler:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        seen.append(dict(request.headers) | {"interval": request.query.get("interval", "")})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(dumps(stream.snapshot(interval_s=0.05)))
        for _ in range(ticks):
            await asyncio.sleep(0.02)
            await ws.send_str(dumps(stream.tick()))
        await ws.close()
        return ws

    return handler


async def test_frames_reach_the_model_with_the_token(aiohttp_server: ServerFactory) -> None:
    seen: list[dict[str, str]] = []
    stream = SimStream("gpu01", cards=4)
    url = await _serve(aiohttp_server, _sim_handler(stream, seen))
    fleet = _fleet(url, token="s3cret")
    client = FleetClient(fleet, interval_s=0.05, backoff=FAST)
    await _run_until(client, lambda: (fleet.agent(url).seq or 0) >= 5)
    assert seen[0]["Authorization"] == "Bearer s3cret" and seen[0]["interval"] == "0.05"
    assert len(fleet.node_cards("gpu01")) == 4
    assert fleet.agent(url).node == "gpu01"


async def test_unauthorized_agent_is_shown_as_such(aiohttp_server: ServerFactory) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": "unauthorized"}, status=401)

    url = await _serve(aiohttp_server, refuse)
    fleet = _fleet(url, token="wrong")
    await _run_until(
        FleetClient(fleet, backoff=FAST), lambda: _status(fleet, url) is AgentStatus.UNAUTHORIZED
    )
    assert "401" in (fleet.agent(url).state.reason or "")


async def _send_then_hold(request: web.Request, *texts: str) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    for text in texts:
        await ws.send_str(text)
    await ws.receive()
    return ws


def _holding(*texts: str) -> Handler:
    """A stream that sends `texts`, then stays open and silent."""

    async def handler(request: web.Request) -> web.WebSocketResponse:
        return await _send_then_hold(request, *texts)

    return handler


async def test_other_wire_version_is_a_version_mismatch(aiohttp_server: ServerFactory) -> None:
    frame = SimStream("gpu01").snapshot() | {"v": 2}
    url = await _serve(aiohttp_server, _holding(dumps(frame)))
    fleet = _fleet(url)
    await _run_until(
        FleetClient(fleet, backoff=FAST), lambda: _status(fleet, url) is AgentStatus.VERSION_MISMATCH
    )
    assert "wire version 2" in (fleet.agent(url).state.reason or "")


async def test_malformed_frame_marks_down_and_the_client_resyncs(aiohttp_server: ServerFactory) -> None:
    connections: list[int] = []
    stream = SimStream("gpu01")

    async def garble_first(request: web.Request) -> web.WebSocketResponse:
        connections.append(1)
        if len(connections) == 1:
            return await _send_then_hold(request, dumps(stream.snapshot()), '{"v":1,"kind":"tick",')
        stream.seq = 0
        return await _send_then_hold(request, dumps(stream.snapshot()))

    url = await _serve(aiohttp_server, garble_first)
    fleet = _fleet(url)
    client = FleetClient(fleet, backoff=FAST)
    await _run_until(client, lambda: len(connections) >= 2 and _status(fleet, url) is AgentStatus.LIVE)
    agent_events = [e.message for e in fleet.events.newest(url)]
    assert agent_events[0] == "live"
    assert agent_events[1].startswith("down: bad frame: frame is not JSON")


async def test_oversized_frame_marks_down(aiohttp_server: ServerFactory) -> None:
    big = dumps(SimStream("gpu01", cards=8).snapshot())
    url = await _serve(aiohttp_server, _holding(big))
    fleet = _fleet(url)
    client = FleetClient(fleet, backoff=FAST, max_msg_size=len(big) // 2)
    await _run_until(client, lambda: _status(fleet, url) is AgentStatus.DOWN)
    assert "exceeds limit" in (fleet.agent(url).state.reason or "")
    assert fleet.agent(url).node is None


@pytest.fixture
async def silent_tcp() -> AsyncIterator[str]:
    """A TCP server on loopback that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_agent_that_accepts_and_never_answers_goes_down(silent_tcp: str) -> None:
    fleet = _fleet(silent_tcp)
    client = FleetClient(fleet, backoff=FAST, connect_timeout_s=0.3)
    await _run_until(client, lambda: _status(fleet, silent_tcp) is AgentStatus.DOWN)
    assert "timed out" in (fleet.agent(silent_tcp).state.reason or "")


async def test_stream_that_falls_silent_goes_stale_then_down(aiohttp_server: ServerFactory) -> None:
    frame = dumps(SimStream("gpu01").snapshot(interval_s=0.1))
    url = await _serve(aiohttp_server, _holding(frame))
    fleet = _fleet(url)
    client = FleetClient(fleet, interval_s=0.1, backoff=FAST)
    await _run_until(client, lambda: _status(fleet, url) is AgentStatus.DOWN)
    codes = [e.code for e in reversed(fleet.events.newest(url))]
    assert codes[:3] == ["live", "stale", "down"]
    assert "no frame in time" in (fleet.agent(url).state.reason or "")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_dead_agent_never_hides_the_others(aiohttp_server: ServerFactory) -> None:
    dead = f"http://127.0.0.1:{_closed_port()}"
    live = await _serve(aiohttp_server, _sim_handler(SimStream("gpu01"), []))
    fleet = _fleet(dead, live)
    client = FleetClient(fleet, interval_s=0.05, backoff=FAST)
    await _run_until(
        client, lambda: _status(fleet, dead) is AgentStatus.DOWN and (fleet.agent(live).seq or 0) >= 3
    )
    assert "cannot connect" in (fleet.agent(dead).state.reason or "")
    assert _status(fleet, live) is AgentStatus.LIVE


async def test_not_an_agent_says_so(aiohttp_server: ServerFactory) -> None:
    server = await aiohttp_server(web.Application(), host="127.0.0.1")
    url = str(server.make_url("")).rstrip("/")
    fleet = _fleet(url)
    await _run_until(FleetClient(fleet, backoff=FAST), lambda: _status(fleet, url) is AgentStatus.DOWN)
    assert "HTTP 404" in (fleet.agent(url).state.reason or "")


def test_backoff_grows_is_capped_and_jittered() -> None:
    backoff = Backoff(first_s=1.0, max_s=8.0)
    assert [backoff.delay_s(n, rand=lambda: 1.0) for n in range(6)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.delay_s(2, rand=lambda: 0.0) == 2.0
    assert backoff.delay_s(10_000, rand=lambda: 1.0) == 8.0
