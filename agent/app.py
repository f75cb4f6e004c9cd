"""The agent's aiohttp application: typed state, the sampling task, thin JSON handlers."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import WSMsgType, web

from cardwatch import __version__
from cardwatch.agent import metrics, systemd
from cardwatch.agent.sampler import Sampler
from cardwatch.agent.security import (
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    MAX_URL_BYTES,
    MAX_WS_MESSAGE_BYTES,
    auth_middleware,
    limits_middleware,
)
from cardwatch.agent.stream import StreamClient, StreamHub
from cardwatch.collectors import Collector, default_node
from cardwatch.model import card_key
from cardwatch.store import SampleStore
from cardwatch.wire import WIRE_VERSION, dumps, sample_to_wire, status_to_wire

FLUSH_EVERY_S: Final = 1.0
PRUNE_EVERY_S: Final = 300.0
DEFAULT_PAGE_ROWS: Final = 1000
IDENTITY_FIELDS: Final = ("index", "uuid", "model", "vendor", "bus_id")


@dataclass(frozen=True, slots=True)
class History:
    """The local history store and how long it keeps samples."""

    store: SampleStore
    retention_s: float | None


SAMPLER: Final = web.AppKey("sampler", Sampler)
HUB: Final = web.AppKey("hub", StreamHub)
HISTORY: Final = web.AppKey("history", History)

routes = web.RouteTableDef()


def create_app(
    collectors: Sequence[Collector],
    *,
    interval_s: float = 1.0,
    node: str | None = None,
    token: str | None = None,
    store: SampleStore | None = None,
    retention_s: float | None = None,
    tick_deadline_s: float | None = None,
) -> web.Application:
    """The agent for `collectors`; `token` turns on bearer auth, `store` local history."""
    middlewares = [_json_errors, limits_middleware]
    if token is not None:
        middlewares.append(auth_middleware(token))
    app = web.Application(
        middlewares=middlewares,
        client_max_size=MAX_BODY_BYTES,
        handler_args={"max_line_size": MAX_URL_BYTES + 64, "max_field_size": MAX_HEADER_BYTES},
    )
    name = node or default_node()
    app[SAMPLER] = Sampler(collectors, node=name, interval_s=interval_s, deadline_s=tick_deadline_s)
    app[HUB] = StreamHub(name, __version__, interval_s)
    if store is not None:
        app[HISTORY] = History(store, retention_s)
        app.cleanup_ctx.append(_history)
    app.cleanup_ctx.append(_sampling)
    app.cleanup_ctx.append(systemd.watchdog_ctx(lambda: _tick_age_s(app) < _stall_after_s(app)))
    app.add_routes(routes)
    return app


async def _sampling(app: web.Application) -> AsyncIterator[None]:
    """Take the first tick before serving, then keep ticking until shutdown."""
    await _tick(app)
    task = asyncio.create_task(_tick_forever(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    app[SAMPLER].close()


async def _tick(app: web.Application) -> None:
    sampler = app[SAMPLER]
    await sampler.tick()
    app[HUB].publish(sampler.cards, sampler.statuses, sampler.clock())
    if HISTORY in app:
        app[HISTORY].store.add(sampler.fresh)


async def _tick_forever(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    interval_s = app[SAMPLER].interval_s
    next_at = loop.time() + interval_s
    while True:
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        await _tick(app)
        next_at = max(next_at + interval_s, loop.time())


async def _history(app: web.Application) -> AsyncIterator[None]:
    """Flush history in batches off the event loop; prune by age; flush the rest at shutdown."""
    history = app[HISTORY]
    task = asyncio.create_task(_flush_forever(history))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.to_thread(history.store.close)


async def _flush_forever(history: History) -> None:
    last_prune = -math.inf
    while True:
        await asyncio.sleep(FLUSH_EVERY_S)
        await asyncio.to_thread(history.store.flush)
        if history.retention_s is not None and time.monotonic() - last_prune >= PRUNE_EVERY_S:
            await asyncio.to_thread(history.store.prune, time.time() - history.retention_s)
            last_prune = time.monotonic()


def _tick_age_s(app: web.Application) -> float:
    last = app[SAMPLER].last_tick_at
    return math.inf if last is None else time.monotonic() - last


def _stall_after_s(app: web.Application) -> float:
    """How long without a tick means the sampling loop itself is stuck."""
    sampler = app[SAMPLER]
    return 3 * sampler.interval_s + sampler.deadline_s + 5.0


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error answers JSON too (404 for unknown paths, 405 for anything but GET)."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response({"error": exc.reason}, status=exc.status, headers=_allow_header(exc))


def _allow_header(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}


def _json(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=dumps)


@routes.get("/v1/info")
async def info(request: web.Request) -> web.Response:
    """Who this node is and what it serves."""
    sampler = request.app[SAMPLER]
    cards = [{k: w[k] for k in IDENTITY_FIELDS if k in w} for w in request.app[HUB].current.values()]
    return _json(
        {
            "v": WIRE_VERSION,
            "node": sampler.node,
            "version": __version__,
            "interval_s": sampler.interval_s,
            "collectors": [status_to_wire(s) for s in sampler.statuses],
            "cards": cards,
        }
    )


@routes.get("/v1/snapshot")
async def snapshot(request: web.Request) -> web.Response:
    """The latest sample of every card."""
    hub = request.app[HUB]
    return _json(
        {
            "v": WIRE_VERSION,
            "node": hub.node,
            "ts": hub.ts,
            "cards": list(hub.current.values()),
            "collectors": hub.collectors,
        }
    )


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """Liveness: 200 while the sampling loop ticks (collector failures are reported, not fatal)."""
    app = request.app
    age_s = _tick_age_s(app)
    alive = age_s < _stall_after_s(app)
    statuses = app[SAMPLER].statuses
    body = {
        "v": WIRE_VERSION,
        "alive": alive,
        "collectors_ok": all(s.ok for s in statuses),
        "last_tick_age_s": round(age_s, 3) if math.isfinite(age_s) else None,
        "collectors": [status_to_wire(s) for s in statuses],
    }
    return _json(body, status=200 if alive else 503)


@routes.get("/metrics")
async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text exposition of the latest samples."""
    sampler = request.app[SAMPLER]
    body = metrics.render(sampler.cards, sampler.statuses)
    return web.Response(body=body, headers={"Content-Type": metrics.CONTENT_TYPE})


@routes.get("/v1/history")
async def history(request: web.Request) -> web.Response:
    """A page of local history: ``?since=&until=&card=&after=&limit=``."""
    if HISTORY not in request.app:
        return _json({"error": "history is off (start the agent with --db PATH)"}, status=404)
    query = request.query
    node = request.app[SAMPLER].node
    card = _int_param(query, "card")
    page = await asyncio.to_thread(
        request.app[HISTORY].store.query,
        since_ts=_float_param(query, "since"),
        until_ts=_float_param(query, "until"),
        key=None if card is None else card_key(node, card),
        after=_int_param(query, "after"),
        limit=_int_param(query, "limit") or DEFAULT_PAGE_ROWS,
    )
    return _json(
        {
            "v": WIRE_VERSION,
            "node": node,
            "samples": [sample_to_wire(s) for s in page.samples],
            "next": page.next_after,
        }
    )


@routes.get("/v1/stream")
async def stream(request: web.Request) -> web.StreamResponse:
    """A WebSocket: the full snapshot first, then one frame per tick (``?interval=`` slows it down)."""
    interval_s = _float_param(request.query, "interval")
    ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE_BYTES, heartbeat=30.0)
    if not ws.can_prepare(request).ok:
        raise web.HTTPBadRequest(reason="GET /v1/stream needs a WebSocket upgrade")
    await ws.prepare(request)
    hub = request.app[HUB]
    client = hub.subscribe(interval_s)
    sender = asyncio.create_task(_send_frames(ws, client))
    try:
        async for message in ws:
            if message.type is WSMsgType.ERROR:
                break
    finally:
        hub.unsubscribe(client)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


async def _send_frames(ws: web.WebSocketResponse, client: StreamClient) -> None:
    """Send the client's frames as they come; a peer that went away ends the stream."""
    try:
        while not ws.closed:
            await ws.send_str(dumps(await client.next_frame()))
    except (ConnectionError, RuntimeError):
        await ws.close()


def _float_param(query: Any, name: str) -> float | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name}={text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise web.HTTPBadRequest(reason=f"{name}={text!r} must be a finite number >= 0")
    return value


def _int_param(query: Any, name: str) -> int | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if not text.isdigit() or len(text) > 18:
        raise web.HTTPBadRequest(reason=f"{name}={text!r} is not a non-negative integer")
    return int(text)
