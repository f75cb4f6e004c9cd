"""Tiny collectors that misbehave on purpose, and stream-reading helpers for the agent tests."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from cardwatch.model import CardSample
from cardwatch.wire import FRAME_SNAPSHOT, apply_wire_delta, parse_frame


def card(index: int, node: str = "n1", ts: float = 1000.0, **values: Any) -> CardSample:
    """A minimal valid sample."""
    return CardSample(node=node, vendor="test", source="test", index=index, ts=ts, **values)


class CounterCollector:
    """Cards whose `energy_j` is the read count, so a frame tells which tick it carries."""

    name: ClassVar[str] = "counter"

    def __init__(self, cards: int = 4, node: str = "n1", first_index: int = 0, detail_bytes: int = 0) -> None:
        self.indexes = range(first_index, first_index + cards)
        self.node = node
        self.detail_bytes = detail_bytes
        self.reads = 0

    def read(self) -> list[CardSample]:
        self.reads += 1
        detail = (f"{self.reads}:" * self.detail_bytes)[: self.detail_bytes] or None
        return [
            card(
                i,
                self.node,
                1000.0 + self.reads,
                energy_j=float(self.reads),
                temp_c=40.0 + i,
                vendor_health_detail=detail,
            )
            for i in self.indexes
        ]

    def close(self) -> None:
        """Nothing to release."""


class HangingCollector(CounterCollector):
    """Answers its first read, then blocks in read() until released (like a wedged npu-smi)."""

    name: ClassVar[str] = "hanging"

    def __init__(self, cards: int = 2, node: str = "n1", first_index: int = 100) -> None:
        super().__init__(cards, node, first_index)
        self.release = threading.Event()
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def read(self) -> list[CardSample]:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.reads >= 1:
                self.release.wait(timeout=60)
            return super().read()
        finally:
            with self._lock:
                self.running -= 1


class RaisingCollector(CounterCollector):
    """Answers once, then its vendor tool is gone."""

    name: ClassVar[str] = "raising"

    def read(self) -> list[CardSample]:
        if self.reads >= 1:
            self.reads += 1
            raise RuntimeError("npu-smi: command not found")
        return super().read()


class GarbageCollector:
    """Returns something that is not a list of samples."""

    name: ClassVar[str] = "garbage"

    def read(self) -> Any:
        return {"temp": "hot"}

    def close(self) -> None:
        """Nothing to release."""


class StreamState:
    """What a stream client holds: cards by index, rebuilt from snapshot and tick frames."""

    def __init__(self) -> None:
        self.cards: dict[int, dict[str, Any]] = {}
        self.frames: list[dict[str, Any]] = []

    def apply(self, text: str) -> dict[str, Any]:
        frame = parse_frame(text)
        if frame["kind"] == FRAME_SNAPSHOT:
            self.cards = {c["index"]: c for c in frame["cards"]}
        else:
            for delta in frame["cards"]:
                self.cards[delta["index"]] = apply_wire_delta(self.cards.get(delta["index"], {}), delta)
        self.frames.append(frame)
        return frame
