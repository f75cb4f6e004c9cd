"""The WebSocket stream on a real 127.0.0.1 server: order, deltas, rate, reconnection, slow clients."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import pytest
from agent_helpers import CounterCollector, HangingCollector, StreamState, card

from cardwatch.agent.app import HUB, create_app
from cardwatch.agent.stream import MAX_PENDING_FRAMES, StreamHub
from cardwatch.collectors import CollectorStatus
from cardwatch.model import CardState
from cardwatch.wire import sample_from_wire, sample_to_wire


async def read_frames(ws: aiohttp.ClientWebSocketResponse, state: StreamState, count: int) -> None:
    for _ in range(count):
        message = await asyncio.wait_for(ws.receive(), timeout=30)
        assert message.type is aiohttp.WSMsgType.TEXT, message
        state.apply(message.data)


async def test_snapshot_first_then_ordered_ticks_that_rebuild_the_cards(aiohttp_client) -> None:
    counter = CounterCollector(cards=4)
    client = await aiohttp_client(create_app([counter], interval_s=0.05, tick_deadline_s=5, node="n1"))
    state = StreamState()
    async with client.ws_connect("/v1/stream") as ws:
        await read_frames(ws, state, 12)
    first = state.frames[0]
    assert first["kind"] == "snapshot" and first["interval_s"] == 0.05
    assert first["agent"]["node"] == "n1" and first["agent"]["version"]
    assert first["collectors"][0]["name"] == "counter"
    assert [f["seq"] for f in state.frames] == list(range(12))
    assert all(f["kind"] == "tick" for f in state.frames[1:])
    ticks = [f["cards"][0]["energy_j"] for f in state.frames[1:]]
    assert ticks == [ticks[0] + i for i in range(len(ticks))]  # one frame per tick, none lost
    rebuilt = {i: sample_from_wire(c) for i, c in state.cards.items()}
    assert sorted(rebuilt) == [0, 1, 2, 3]
    assert {s.energy_j for s in rebuilt.values()} == {ticks[-1]}


async def test_client_can_ask_for_a_slower_rate_but_not_a_faster_one(aiohttp_client) -> None:
    client = await aiohttp_client(create_app([CounterCollector(cards=1)], interval_s=0.01, tick_deadline_s=5))
    slow, fast = StreamState(), StreamState()
    async with client.ws_connect("/v1/stream?interval=0.05") as ws:
        await read_frames(ws, slow, 4)
    async with client.ws_connect("/v1/stream?interval=0.0001") as ws:
        await read_frames(ws, fast, 1)
    assert slow.frames[0]["interval_s"] == pytest.approx(0.05)
    ticks = [f["cards"][0]["energy_j"] for f in slow.frames[1:]]
    assert [b - a for a, b in itertools.pairwise(ticks)] == [5.0, 5.0]
    assert fast.frames[0]["interval_s"] == 0.01
    resp = await client.get("/v1/stream?interval=soon")
    assert resp.status == 400
    resp = await client.get("/v1/stream")
    assert resp.status == 400 and "WebSocket" in (await resp.json())["error"]


async def test_reconnecting_client_starts_again_from_a_snapshot(aiohttp_client) -> None:
    app = create_app([CounterCollector(cards=2)], interval_s=0.01, tick_deadline_s=5)
    client = await aiohttp_client(app)
    first, second = StreamState(), StreamState()
    async with client.ws_connect("/v1/stream") as ws:
        await read_frames(ws, first, 3)
    async with client.ws_connect("/v1/stream") as ws:
        await read_frames(ws, second, 3)
        assert len(app[HUB].clients) == 1  # the first client was forgotten
    assert second.frames[0]["kind"] == "snapshot" and second.frames[0]["seq"] == 0
    assert second.frames[0]["cards"][0]["energy_j"] >= first.frames[-1]["cards"][0]["energy_j"]
    for _ in range(500):
        if not app[HUB].clients:
            break
        await asyncio.sleep(0.01)
    assert not app[HUB].clients


async def test_hung_collector_never_stalls_the_stream(aiohttp_client) -> None:
    hanging = HangingCollector(cards=1)
    app = create_app([hanging, CounterCollector(cards=1)], interval_s=0.05, tick_deadline_s=0.3)
    client = await aiohttp_client(app)
    state = StreamState()
    try:
        async with client.ws_connect("/v1/stream") as ws:
            await read_frames(ws, state, 8)
    finally:
        hanging.release.set()
    assert state.cards[100]["state"] == "stale" and "deadline" in state.cards[100]["state_reason"]
    hung = next(c for c in state.frames[-1]["collectors"] if c["name"] == "hanging")
    assert hung["ok"] is False and "deadline" in hung["error"]
    ticks = [
        c["energy_j"] for f in state.frames[1:] for c in f["cards"] if c["index"] == 0 and "energy_j" in c
    ]
    assert len(ticks) >= 5 and ticks == sorted(ticks)


async def test_slow_client_gets_drops_reported_and_memory_stays_bounded(aiohttp_client) -> None:
    counter = CounterCollector(cards=32, detail_bytes=4096)
    app = create_app([counter], interval_s=0.005, tick_deadline_s=5)
    client = await aiohttp_client(app)
    async with client.ws_connect("/v1/stream") as ws:
        hub = app[HUB]
        peak = 0

        async def until_dropped() -> None:
            nonlocal peak
            while not any(c.dropped_total for c in hub.clients):
                peak = max([peak, *(len(c.pending) for c in hub.clients)])
                await asyncio.sleep(0.002)

        await asyncio.wait_for(until_dropped(), timeout=60)
        assert peak <= MAX_PENDING_FRAMES
        state = StreamState()
        for _ in range(2000):
            frame = state.apply((await asyncio.wait_for(ws.receive(), timeout=30)).data)
            if frame.get("dropped"):
                break
        assert frame["kind"] == "snapshot" and frame["dropped"] >= MAX_PENDING_FRAMES
        await read_frames(ws, state, 3)
    held = {i: c["energy_j"] for i, c in state.cards.items()}
    assert sorted(held) == list(range(32)) and len(set(held.values())) == 1  # deltas applied to what it held
    assert [f["seq"] for f in state.frames] == list(
        range(state.frames[0]["seq"], state.frames[-1]["seq"] + 1)
    )


async def test_oversized_client_message_closes_the_socket(aiohttp_client) -> None:
    client = await aiohttp_client(create_app([CounterCollector(cards=1)], interval_s=0.05))
    async with client.ws_connect("/v1/stream") as ws:
        await ws.send_str("x" * 100_000)
        for _ in range(100):
            message = await asyncio.wait_for(ws.receive(), timeout=30)
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert ws.close_code == 1009


def test_hub_deltas_carry_only_changes_and_resync_when_cards_vanish() -> None:
    hub = StreamHub("n1", "0", 1.0)
    client = hub.subscribe()
    status = [CollectorStatus("test", True, 2, 0.01, 1.0)]
    hub.publish({0: card(0, temp_c=50.0), 1: card(1, temp_c=51.0)}, status, 1.0)
    hub.publish({0: card(0, temp_c=52.0), 1: card(1, temp_c=51.0)}, status, 2.0)
    hub.publish({0: card(0, state=CardState.LOST, state_reason="gone")}, status, 3.0)
    frames = list(client.pending)
    assert [f["kind"] for f in frames] == ["snapshot", "tick", "tick", "snapshot"]
    assert frames[1]["cards"] == [sample_to_wire(card(0, temp_c=50.0)), sample_to_wire(card(1, temp_c=51.0))]
    assert frames[2]["cards"] == [{"index": 0, "temp_c": 52.0}]
    assert frames[3]["cards"] == [sample_to_wire(card(0, state=CardState.LOST, state_reason="gone"))]


def test_overflow_replaces_the_queue_by_one_counting_snapshot() -> None:
    hub = StreamHub("n1", "0", 1.0)
    client = hub.subscribe()
    status = [CollectorStatus("test", True, 1, 0.01, 1.0)]
    ticks = MAX_PENDING_FRAMES + 3  # the first snapshot and MAX - 1 ticks fill the queue
    for tick in range(ticks):
        hub.publish({0: card(0, energy_j=float(tick))}, status, float(tick))
        assert len(client.pending) <= MAX_PENDING_FRAMES
    frames = list(client.pending)
    assert frames[0]["kind"] == "snapshot" and frames[0]["dropped"] == MAX_PENDING_FRAMES
    assert frames[0]["cards"][0]["energy_j"] == MAX_PENDING_FRAMES - 1
    assert [f["kind"] for f in frames[1:]] == ["tick"] * 3
    assert [f["cards"][0]["energy_j"] for f in frames[1:]] == [
        float(t) for t in range(MAX_PENDING_FRAMES, ticks)
    ]
    for _ in range(2 * MAX_PENDING_FRAMES):
        hub.publish({0: card(0)}, status, 0.0)
    assert client.pending[0]["dropped"] > MAX_PENDING_FRAMES  # drops of a dropped snapshot are carried on
    assert client.dropped_total == client.pending[0]["dropped"]
