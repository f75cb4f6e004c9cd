"""The verdict vocabulary shared by the health engine, its rules, the fleet model and the TUI."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Literal, NamedTuple


class Level(IntEnum):
    """How bad a card is; ordered so `max()` and worst-first sorting just work."""

    OK = 0
    UNKNOWN = 1
    WATCH = 2
    DEGRADED = 3
    FAILED = 4


class Action(StrEnum):
    """What the on-call engineer should do about a reason."""

    NONE = "none"
    WATCH = "watch"
    DRAIN_RESET = "drain_reset"
    REBOOT_NODE = "reboot_node"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Reason:
    """One active problem of one card, with the numbers and since when it holds.

    `acknowledged_by` names the operator who acknowledged it while its condition still held.
    """

    code: str
    level: Level
    message: str
    since_ts: float
    action: Action
    sticky: bool = False
    acknowledged_by: str | None = None


@dataclass(frozen=True, slots=True)
class CardHealth:
    """The verdict on one card: its worst level, why, and how much compute it still delivers."""

    key: str
    level: Level
    reasons: tuple[Reason, ...]
    effective_compute: float | None
    compute_basis: str
    ts: float


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A reason raised, cleared or acknowledged: what the recorder and the events log store."""

    key: str
    code: str
    kind: Literal["raised", "cleared", "acknowledged"]
    ts: float
    level: Level
    message: str
    who: str | None = None


class Finding(NamedTuple):
    """A rule's observation on one sample, before hysteresis turns it into a `Reason`.

    `immediate` findings (events, lost cards, uncorrected errors) skip the N-of-M wait.
    """

    code: str
    level: Level
    message: str
    action: Action
    sticky: bool = False
    immediate: bool = False
