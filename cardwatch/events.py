"""The fleet's event log: what changed, when, for which agent or card, newest first on read."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cardwatch.health import Level


class EventKind(StrEnum):
    """What an event is about."""

    AGENT = "agent"  # an agent's connection state changed
    HEALTH = "health"  # a health reason was raised, cleared or acknowledged
    XID = "xid"  # the card reported NVIDIA Xid codes
    VENDOR_HEALTH = "vendor_health"  # the vendor's own verdict changed (Ascend health)


@dataclass(frozen=True, slots=True)
class FleetEvent:
    """One line of the events log."""

    ts: float
    kind: EventKind
    subject: str  # card key ("node/index") or agent URL
    message: str
    level: Level | None = None  # for health events
    code: str | None = None  # reason code for health events, agent status for agent events


class EventLog:
    """A bounded log: the oldest events fall off once `capacity` is reached."""

    def __init__(self, capacity: int = 2000) -> None:
        self._events: deque[FleetEvent] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[FleetEvent]:
        """Newest first."""
        return reversed(self._events)

    def add(self, event: FleetEvent) -> None:
        """Record an event."""
        self._events.append(event)

    def newest(self, subject: str | None = None, limit: int | None = None) -> list[FleetEvent]:
        """Events newest first, optionally only those about one card or agent."""
        found = (e for e in self if subject is None or e.subject == subject)
        return [e for _, e in zip(range(limit), found, strict=False)] if limit is not None else list(found)
