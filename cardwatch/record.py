"""The fleet recorder: agent streams -> fleet model and health engine -> batched SQLite writes.

Every fresh sample, every health change (raised, cleared, acknowledged, with its reason code), every agent
state change and every vendor event (Xids, Ascend error codes, vendor health) is queued and written once
per batch in one transaction. Agents that go away are marked down, reconnected with backoff, and their
cards judged UNKNOWN meanwhile; a sample seen twice (the snapshot after a reconnect) is written once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cardwatch.client import Backoff, FleetClient
from cardwatch.events import EventKind
from cardwatch.fleet import AgentStatus, Fleet
from cardwatch.fleetfile import AgentSpec
from cardwatch.health import HealthEngine
from cardwatch.model import CardSample
from cardwatch.record_store import EventRow, RecordStore, StoreError, describe_error
from cardwatch.wire import FRAME_SNAPSHOT

FLUSH_EVERY_S: Final = 1.0
"""One batch (one transaction) per this many seconds: what a `kill -9` can lose at most."""

_IDENTITY: Final = ("vendor", "source", "model", "uuid", "serial", "bus_id")

log = logging.getLogger("cardwatch.record")


class RecordingFleet(Fleet):
    """A `Fleet` that also keeps each frame's fresh samples and every agent change until they are taken."""

    def __init__(self, agents: Sequence[AgentSpec], *, engine: HealthEngine, now: float) -> None:
        super().__init__(agents, engine=engine, now=now, history_len=1)
        self.fresh: list[CardSample] = []
        self.agent_events: list[EventRow] = []
        self.snapshot_urls: set[str] = set()

    def apply_frame(self, url: str, frame: Mapping[str, Any], now: float) -> str | None:
        """Merge the frame as `Fleet` does, then keep the samples it carried."""
        problem = super().apply_frame(url, frame, now)
        if problem is None:
            cards = self.agent(url).cards
            self.fresh.extend(cards[wire["index"]].sample for wire in frame["cards"])
            if frame["kind"] == FRAME_SNAPSHOT:
                self.snapshot_urls.add(url)
                if frame.get("dropped"):
                    message = f"agent dropped {frame['dropped']} frames (recorder too slow); samples missing"
                    self.agent_events.append(EventRow(now, EventKind.AGENT.value, url, "dropped", message))
        return problem

    def set_agent_state(self, url: str, status: AgentStatus, reason: str | None, now: float) -> None:
        """Record the state as `Fleet` does, and keep the change when there is one."""
        before = self.agent(url).state.status
        super().set_agent_state(url, status, reason, now)
        if status is not before:
            message = f"{status.value}: {reason}" if reason else status.value
            self.agent_events.append(EventRow(now, EventKind.AGENT.value, url, status.value, message))


@dataclass(slots=True)
class Totals:
    """What the recorder has committed so far."""

    batches: int = 0
    samples: int = 0
    health_events: int = 0
    events: int = 0


class Recorder:
    """Follows `agents` into `store` until `stop`; ``await recorder.run()``."""

    def __init__(
        self,
        agents: Sequence[AgentSpec],
        store: RecordStore,
        *,
        interval_s: float = 1.0,
        flush_every_s: float = FLUSH_EVERY_S,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.flush_every_s = flush_every_s
        self.clock = clock
        self.fleet = RecordingFleet(agents, engine=HealthEngine(), now=clock())
        self.client = FleetClient(
            self.fleet, interval_s=interval_s, backoff=backoff or Backoff(), clock=clock
        )
        self.totals = Totals()
        self._last: dict[str, CardSample] = {}
        self._nodes: dict[str, tuple[str | None, str | None]] = {}
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        """Stream and write a batch every `flush_every_s`; on `stop` (or a write failure) flush and return."""
        streams = asyncio.create_task(self.client.run())
        try:
            while not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self.flush_every_s)
                await self.flush()
        finally:
            self.client.stop()
            await streams
        await self.flush()

    def stop(self) -> None:
        """Ask `run` to write the last batch and return."""
        self._stopping.set()

    async def flush(self) -> None:
        """Queue what arrived since the last batch and commit it in one transaction."""
        health, events = self.collect(self.clock())
        try:
            samples = await asyncio.to_thread(self.store.flush)
        except sqlite3.Error as exc:
            raise StoreError(describe_error(self.store.path, exc)) from None
        totals = self.totals
        totals.batches += 1
        totals.samples += samples
        totals.health_events += health
        totals.events += events
        log.debug(
            "committed batch %d: %d samples, %d health events, %d events (total %d samples)",
            totals.batches,
            samples,
            health,
            events,
            totals.samples,
        )

    def collect(self, now: float) -> tuple[int, int]:
        """Move fresh samples, health changes and events into the store's queue; returns (health, events)."""
        fleet = self.fleet
        self._queue_nodes()
        samples, fleet.fresh = fleet.fresh, []
        events, fleet.agent_events = fleet.agent_events, []
        for event in events:
            log.info("agent %s %s", event.subject, event.message)
        new = []
        for sample in samples:
            last = self._last.get(sample.key)
            if last is None or sample.ts > last.ts:
                new.append(sample)
                events.extend(self._remember(last, sample))
        changes = fleet.evaluate(now)
        self.store.add(new)
        self.store.add_health(changes)
        self.store.add_events(events)
        return len(changes), len(events)

    def _remember(self, last: CardSample | None, sample: CardSample) -> list[EventRow]:
        """Note the sample as the card's latest; queue its identity if new and return its vendor events."""
        self._last[sample.key] = sample
        if last is None or any(getattr(last, f) != getattr(sample, f) for f in _IDENTITY):
            self.store.add_card(sample)
        return card_events(last, sample)

    def _queue_nodes(self) -> None:
        for url in self.fleet.snapshot_urls:
            link = self.fleet.agent(url)
            if link.node is not None and self._nodes.get(url) != (link.node, link.version):
                self._nodes[url] = (link.node, link.version)
                self.store.add_node(link.node, url, link.version, dict(link.spec.groups), self.clock())
        self.fleet.snapshot_urls.clear()


def card_events(last: CardSample | None, sample: CardSample) -> list[EventRow]:
    """The vendor events one new sample carries: Xids, a change of error codes, a change of vendor health."""
    events = []
    key, ts = sample.key, sample.ts
    if sample.xids:
        codes = ", ".join(str(x) for x in sample.xids)
        events.append(EventRow(ts, EventKind.XID.value, key, codes, f"Xid {codes}"))
    old_codes = last.error_codes if last else ()
    if sample.error_codes != old_codes:
        codes = ", ".join(sample.error_codes)
        message = f"error codes {codes}" if codes else "error codes cleared"
        events.append(EventRow(ts, "error_codes", key, codes or None, message))
    old_health = last.vendor_health if last else None
    if sample.vendor_health != old_health:
        detail = f" ({sample.vendor_health_detail})" if sample.vendor_health_detail else ""
        message = f"vendor health {old_health or 'unknown'} -> {sample.vendor_health or 'unknown'}{detail}"
        events.append(EventRow(ts, EventKind.VENDOR_HEALTH.value, key, sample.vendor_health, message))
    return events
