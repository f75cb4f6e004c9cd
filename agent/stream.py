"""Fan-out of ticks to WebSocket clients, each with a bounded queue and its own rate.

Each client gets a full snapshot first and then per-card deltas against what it holds. A client that
cannot keep up never makes the agent buffer without bound: when its queue is full, the queued frames are
dropped and replaced by one snapshot that says how many were dropped, so deltas always apply.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from typing import Any, Final

from cardwatch.collectors import CollectorStatus
from cardwatch.model import CardSample
from cardwatch.wire import FRAME_SNAPSHOT, FRAME_TICK, make_frame, sample_to_wire, status_to_wire, wire_delta

MAX_PENDING_FRAMES: Final = 8


class StreamClient:
    """One subscriber: its pending frames, the cards it will hold once they are sent, its rate."""

    def __init__(self, hub: StreamHub, every: int) -> None:
        self.hub = hub
        self.every = every
        self.pending: deque[dict[str, Any]] = deque()
        self.held: dict[int, dict[str, Any]] = {}
        self.seq = 0
        self.dropped_total = 0
        self._ticks = 0
        self._ready = asyncio.Event()

    @property
    def interval_s(self) -> float:
        """The rate this client gets frames at."""
        return self.every * self.hub.interval_s

    async def next_frame(self) -> dict[str, Any]:
        """Wait for the next frame to send, stamped with this client's sequence number."""
        while not self.pending:
            self._ready.clear()
            await self._ready.wait()
        frame = self.pending.popleft()
        frame["seq"] = self.seq
        self.seq += 1
        return frame

    def on_tick(self) -> None:
        """Queue this tick's frame if the client is due one."""
        self._ticks += 1
        if self._ticks % self.every == 0:
            self.push(self._frame())

    def _frame(self) -> dict[str, Any]:
        current = self.hub.current
        if not set(self.held) <= set(current):
            return self.snapshot()
        cards = [
            wire_delta(self.held.get(i), wire) for i, wire in current.items() if self.held.get(i) != wire
        ]
        self.held = dict(current)
        return self.hub.frame(FRAME_TICK, cards)

    def snapshot(self, **extra: Any) -> dict[str, Any]:
        """A full frame; the client will hold every current card."""
        self.held = dict(self.hub.current)
        return self.hub.frame(FRAME_SNAPSHOT, list(self.held.values()), interval_s=self.interval_s, **extra)

    def push(self, frame: dict[str, Any]) -> None:
        """Queue a frame; on overflow replace everything queued by one snapshot that counts the drops."""
        if len(self.pending) >= MAX_PENDING_FRAMES:
            dropped = sum(1 + f.get("dropped", 0) for f in self.pending)
            self.dropped_total += len(self.pending)
            self.pending.clear()
            frame = self.snapshot(dropped=dropped)
        self.pending.append(frame)
        self._ready.set()


class StreamHub:
    """The current wire view of the node's cards and the clients subscribed to it."""

    def __init__(self, node: str, version: str, interval_s: float) -> None:
        self.node = node
        self.version = version
        self.interval_s = interval_s
        self.current: dict[int, dict[str, Any]] = {}
        self.collectors: list[dict[str, Any]] = []
        self.ts = 0.0
        self.clients: set[StreamClient] = set()

    def publish(self, cards: Mapping[int, CardSample], statuses: list[CollectorStatus], ts: float) -> None:
        """Take in one tick and queue frames for the clients that are due."""
        self.current = {i: sample_to_wire(s) for i, s in cards.items()}
        self.collectors = [status_to_wire(s) for s in statuses]
        self.ts = ts
        for client in self.clients:
            client.on_tick()

    def subscribe(self, interval_s: float | None = None) -> StreamClient:
        """A new client (never faster than the agent's interval) with its snapshot queued."""
        wanted = max(interval_s or self.interval_s, self.interval_s)
        client = StreamClient(self, max(1, math.ceil(wanted / self.interval_s - 1e-9)))
        client.push(client.snapshot())
        self.clients.add(client)
        return client

    def unsubscribe(self, client: StreamClient) -> None:
        """Forget a client that went away."""
        self.clients.discard(client)

    def frame(self, kind: str, cards: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        """A frame with the envelope and collector states (seq is stamped at send time)."""
        if kind == FRAME_SNAPSHOT:
            extra["agent"] = {"node": self.node, "version": self.version}
        return make_frame(kind, self.node, 0, self.ts, cards, collectors=self.collectors, **extra)
