"""The fleet client: one WebSocket stream per agent, all concurrent, each failure a visible agent state.

Every agent is followed by its own task that connects, feeds frames into the `Fleet`, and on any failure
marks the agent (down, unauthorized, version mismatch) and reconnects after a jittered, bounded backoff.
A silent peer is caught by the receive timeout, so nothing waits forever; the client never touches widgets.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp

from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.wire import MAX_FRAME_BYTES, WireError, WireVersionError, parse_frame

STREAM_PATH: Final = "/v1/stream"
DOWN_INTERVALS: Final = 5
"""A stream silent for this many intervals is dropped and reconnected (stale comes earlier, at 3)."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential reconnect delays with jitter, so a fleet of agents does not reconnect in lockstep."""

    first_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0

    def delay_s(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `attempt` (0-based): half to all of the capped exponential."""
        capped = min(self.max_s, self.first_s * self.factor ** min(attempt, 64))
        return capped * (0.5 + rand() / 2)


class _StreamEnded(Exception):
    """The stream stopped for a reason that is already a sentence."""

    def __init__(self, status: AgentStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FleetClient:
    """Streams every agent of a `Fleet` into it until `stop` is called.

    ``interval_s`` is the rate asked of each agent (an agent never streams faster than its own interval).
    """

    def __init__(
        self,
        fleet: Fleet,
        *,
        interval_s: float = 1.0,
        backoff: Backoff = Backoff(),
        connect_timeout_s: float = 10.0,
        max_msg_size: int = MAX_FRAME_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.fleet = fleet
        self.interval_s = interval_s
        self.backoff = backoff
        self.connect_timeout_s = connect_timeout_s
        self.max_msg_size = max_msg_size
        self.clock = clock
        self._stopping = asyncio.Event()
        self._ssl: dict[Path, ssl.SSLContext] = {}

    async def run(self) -> None:
        """Follow every agent concurrently until `stop`; returns once all streams are closed."""
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s)
        unlimited = aiohttp.TCPConnector(limit=0)  # one stream per agent; aiohttp's default caps at 100
        async with aiohttp.ClientSession(timeout=timeout, connector=unlimited) as session:
            tasks = [asyncio.create_task(self._follow(session, link.spec)) for link in self.fleet.agents()]
            tasks.append(asyncio.create_task(self._watch_staleness()))
            try:
                await self._stopping.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def stop(self) -> None:
        """Ask `run` to close every stream and return."""
        self._stopping.set()

    async def _watch_staleness(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s / 2)
            self.fleet.check_staleness(self.clock())

    async def _follow(self, session: aiohttp.ClientSession, spec: AgentSpec) -> None:
        """Stream one agent forever: connect, feed frames, and after a failure back off and retry."""
        attempt = 0
        while True:
            frames_before = self.fleet.agent(spec.url).last_frame_at
            try:
                await self._stream(session, spec)
            except _StreamEnded as ended:
                self.fleet.set_agent_state(spec.url, ended.status, ended.reason, self.clock())
            if self.fleet.agent(spec.url).last_frame_at != frames_before:
                attempt = 0
            await asyncio.sleep(self.backoff.delay_s(attempt))
            attempt += 1

    async def _stream(self, session: aiohttp.ClientSession, spec: AgentSpec) -> None:
        """One connection's life; always ends in `_StreamEnded` saying why."""
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                ws = await session.ws_connect(
                    spec.url + STREAM_PATH,
                    params={"interval": str(self.interval_s)},
                    headers={"Authorization": f"Bearer {spec.token}"} if spec.token else None,
                    ssl=self._ssl_for(spec),
                    max_msg_size=self.max_msg_size,
                )
        except Exception as exc:  # every failure to connect becomes the agent's state, with its reason
            raise _ended_by(exc, "connect") from None
        async with ws:
            try:
                await self._receive(ws, spec.url)
            except _StreamEnded:
                raise
            except Exception as exc:  # a broken stream must mark its agent, never kill the client
                raise _ended_by(exc, "stream") from None

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, url: str) -> None:
        while True:
            msg = await ws.receive(timeout=DOWN_INTERVALS * self._interval_of(url))
            if msg.type is aiohttp.WSMsgType.TEXT:
                problem = self.fleet.apply_frame(url, parse_frame(msg.data), self.clock())
                if problem:
                    raise _StreamEnded(AgentStatus.DOWN, f"{problem}; reconnecting to resync")
            elif msg.type is aiohttp.WSMsgType.ERROR:
                raise _StreamEnded(
                    AgentStatus.DOWN, f"stream error: {msg.data or ws.exception() or 'unknown'}"
                )
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
                raise _StreamEnded(AgentStatus.DOWN, f"agent closed the stream (code {ws.close_code})")
            else:
                raise _StreamEnded(AgentStatus.DOWN, f"bad frame: unexpected {msg.type.name} message")

    def _interval_of(self, url: str) -> float:
        return self.fleet.agent(url).interval_s or self.interval_s

    def _ssl_for(self, spec: AgentSpec) -> ssl.SSLContext | bool:
        if spec.ca_cert is None:
            return True
        if spec.ca_cert not in self._ssl:
            self._ssl[spec.ca_cert] = ssl.create_default_context(cafile=str(spec.ca_cert))
        return self._ssl[spec.ca_cert]


def _ended_by(exc: BaseException, stage: str) -> _StreamEnded:
    """The one place where connection errors become agent states and sentences."""
    match exc:
        case aiohttp.WSServerHandshakeError(status=401):
            return _StreamEnded(AgentStatus.UNAUTHORIZED, "the agent refused the token (HTTP 401)")
        case aiohttp.WSServerHandshakeError():
            return _StreamEnded(
                AgentStatus.DOWN, f"HTTP {exc.status} {exc.message} (is this a cardwatch agent?)"
            )
        case WireVersionError():
            return _StreamEnded(AgentStatus.VERSION_MISMATCH, str(exc))
        case WireError():
            return _StreamEnded(AgentStatus.DOWN, f"bad frame: {exc}; reconnecting to resync")
        case TimeoutError():
            what = "no answer to the connection" if stage == "connect" else "no frame"
            return _StreamEnded(AgentStatus.DOWN, f"{what} in time (timed out)")
        case ssl.SSLError() | aiohttp.ClientSSLError():
            return _StreamEnded(AgentStatus.DOWN, f"TLS failed: {exc}")
        case aiohttp.ClientConnectorError():
            return _StreamEnded(AgentStatus.DOWN, f"cannot connect: {exc.os_error.strerror or exc.os_error}")
        case aiohttp.ClientError() | OSError():
            return _StreamEnded(AgentStatus.DOWN, f"{stage} failed: {exc or type(exc).__name__}")
    return _StreamEnded(AgentStatus.DOWN, f"internal error during {stage}: {exc!r}")
