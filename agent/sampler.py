"""The tick loop: read every collector off the event loop, each tick under a deadline.

A blocking read (NVML, ``npu-smi``) runs in a daemon thread of its own rather than `asyncio.to_thread`:
a thread stuck in a driver call cannot be killed, and the default executor's threads are joined at exit,
so one wedged read would stop the agent from shutting down. A collector that misses the deadline keeps
its last good values, marked stale with the reason, and is not called again until its stuck read returns
and its backoff has passed. A failing collector never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from cardwatch.collectors import Collector, CollectorStatus
from cardwatch.model import NUMERIC_FIELDS, CardSample, CardState

log = logging.getLogger(__name__)

MAX_BACKOFF_S: Final = 60.0


@dataclass
class _Slot:
    """One collector and what the sampler knows about it."""

    collector: Collector
    name: str
    read: asyncio.Future[list[CardSample]] | None = None
    started: float = 0.0
    failures: int = 0
    retry_at: float = 0.0
    cards: dict[int, CardSample] = field(default_factory=dict)
    status: CollectorStatus | None = None


class Sampler:
    """Reads all collectors once per `tick`; `cards` and `statuses` hold the latest view, `fresh` the new reads."""

    def __init__(
        self,
        collectors: Sequence[Collector],
        *,
        node: str,
        interval_s: float,
        deadline_s: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.interval_s = interval_s
        self.deadline_s = deadline_s if deadline_s is not None else interval_s
        self.clock = clock
        self._slots = [_Slot(c, _name_of(c)) for c in collectors]
        self.fresh: list[CardSample] = []
        self.last_tick_at: float | None = None

    @property
    def cards(self) -> dict[int, CardSample]:
        """Latest sample of every card on the node, by index."""
        merged: dict[int, CardSample] = {}
        for slot in self._slots:
            merged.update(slot.cards)
        return dict(sorted(merged.items()))

    @property
    def statuses(self) -> list[CollectorStatus]:
        """How each collector's latest read went (collectors not read yet are left out)."""
        return [slot.status for slot in self._slots if slot.status is not None]

    async def tick(self) -> None:
        """Start due reads, wait for them up to the deadline, then fold in what came back.

        Reads still stuck from an earlier tick are only checked, not waited for, so they cost no time.
        """
        now = time.monotonic()
        started = []
        for slot in self._slots:
            if slot.read is None and now >= slot.retry_at:
                slot.read = _read_in_thread(slot)
                slot.started = now
                started.append(slot.read)
        if started:
            await asyncio.wait(started, timeout=self.deadline_s)
        self.fresh = []
        for slot in self._slots:
            self._settle(slot)
        self.last_tick_at = time.monotonic()

    def _settle(self, slot: _Slot) -> None:
        if slot.read is None:
            return
        elapsed = time.monotonic() - slot.started
        if not slot.read.done():
            self._fail(slot, f"read did not finish within the {self.deadline_s:g} s deadline", elapsed)
            return
        future, slot.read = slot.read, None
        try:
            samples = _checked(future.result(), slot.name)
        except Exception as exc:
            self._fail(slot, _describe(exc), elapsed)
            return
        taken = self._indexes_before(slot)
        slot.cards = {s.index: self._own(s) for s in samples if s.index not in taken}
        self.fresh.extend(slot.cards.values())
        slot.failures, slot.retry_at = 0, 0.0
        clash = sorted({s.index for s in samples} & taken)
        error = f"card indexes {clash} are already served by an earlier collector" if clash else None
        self._set_status(slot, ok=not clash, duration_s=elapsed, error=error)

    def _indexes_before(self, slot: _Slot) -> set[int]:
        """Card indexes claimed by collectors configured before `slot` (the first one keeps an index)."""
        taken: set[int] = set()
        for other in self._slots[: self._slots.index(slot)]:
            taken.update(other.cards)
        return taken

    def _fail(self, slot: _Slot, error: str, elapsed: float) -> None:
        if slot.status is None or slot.status.ok or slot.read is None:
            slot.failures += 1
            backoff = min(self.interval_s * 2 ** (slot.failures - 1), MAX_BACKOFF_S)
            slot.retry_at = time.monotonic() + backoff
            log.warning("collector %s: %s (retry in %.1f s)", slot.name, error, backoff)
        reason = f"collector {slot.name}: {error}"
        slot.cards = {
            i: replace(s, state=CardState.STALE, state_reason=reason) if s.state is not CardState.LOST else s
            for i, s in slot.cards.items()
        }
        self._set_status(slot, ok=False, duration_s=elapsed, error=error)

    def _set_status(self, slot: _Slot, *, ok: bool, duration_s: float, error: str | None = None) -> None:
        now = self.clock()
        since = slot.status.since_ts if slot.status is not None and slot.status.ok == ok else now
        slot.status = CollectorStatus(slot.name, ok, len(slot.cards), round(duration_s, 6), now, error, since)

    def _own(self, sample: CardSample) -> CardSample:
        """The sample as this node reports it: the agent's node name, no non-finite numbers."""
        bad = {n: "non-finite value" for n in NUMERIC_FIELDS if _non_finite(getattr(sample, n))}
        if bad:
            sample = replace(sample, **dict.fromkeys(bad), field_errors={**sample.field_errors, **bad})
        return sample if sample.node == self.node else replace(sample, node=self.node)

    def close(self) -> None:
        """Close every collector that is not stuck in a read (closing under a running read is unsafe)."""
        for slot in self._slots:
            if slot.read is None:
                _close_quietly(slot)


def _read_in_thread(slot: _Slot) -> asyncio.Future[list[CardSample]]:
    """Start one blocking read in a daemon thread; the future settles on the loop when it returns."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[CardSample]] = loop.create_future()

    def read() -> None:
        try:
            outcome: tuple[Any, BaseException | None] = (slot.collector.read(), None)
        except Exception as exc:
            outcome = (None, exc)
        with contextlib.suppress(RuntimeError):  # the loop closed while the read was stuck
            loop.call_soon_threadsafe(_settle_future, future, *outcome)

    threading.Thread(target=read, name=f"cardwatch-read-{slot.name}", daemon=True).start()
    return future


def _settle_future(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _name_of(collector: Collector) -> str:
    return str(getattr(collector, "name", type(collector).__name__))


def _checked(result: object, name: str) -> list[CardSample]:
    """The collector's result, refused unless it is a list of samples with distinct indexes."""
    if not isinstance(result, list) or not all(isinstance(s, CardSample) for s in result):
        raise TypeError(f"read() returned {type(result).__name__}, not a list of CardSample")
    indexes = [s.index for s in result]
    if len(set(indexes)) != len(indexes):
        raise ValueError(f"read() returned duplicate card indexes {sorted(indexes)}")
    return result


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _close_quietly(slot: _Slot) -> None:
    try:
        slot.collector.close()
    except Exception as exc:
        log.warning("collector %s: close failed: %s", slot.name, _describe(exc))
