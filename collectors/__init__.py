"""Collectors: one per vendor, each turning its vendor's source into `CardSample`s.

Collectors are registered through the ``cardwatch.collectors`` entry-point group, built-ins exactly like
third-party ones, and loaded lazily so that listing them imports no vendor library.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar, Final, Protocol, runtime_checkable

from cardwatch.model import CardSample

ENTRY_POINT_GROUP: Final = "cardwatch.collectors"
AUTO_ORDER: Final = ("nvml", "ascend", "amd", "mthreads", "metax", "cambricon", "enflame", "ppu", "sysfs")
"""Vendors `auto` probes, in order; ``sim`` is never picked automatically."""


class CollectorUnavailable(RuntimeError):
    """The vendor's library, tool or driver is not usable on this node; the message says why in one sentence."""


@runtime_checkable
class Collector(Protocol):
    """The contract every vendor collector fulfils.

    - ``probe`` is cheap and side-effect free: is this vendor present under ``root``?
    - ``read`` is blocking (the agent runs it in a thread); it returns one sample per card, with failed
      cards marked by `CardState` and failed fields in ``field_errors``. It raises `CollectorUnavailable`
      only when the whole source is unusable (library missing, tool gone).
    - ``close`` releases the vendor handle (NVML shutdown); it is safe to call twice.
    """

    name: ClassVar[str]

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool: ...

    def read(self) -> list[CardSample]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """How the last read of one collector went (node_exporter's ``collector_success``)."""

    name: str
    ok: bool
    cards: int
    duration_s: float
    ts: float
    error: str | None = None
    since_ts: float | None = None  # when the current ok/failing streak began


def available() -> dict[str, Callable[[], type[Collector]]]:
    """Registered collector names -> loaders of their class (nothing is imported yet)."""
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(name: str) -> type[Collector]:
    """The collector class registered under `name`."""
    loaders = available()
    if name not in loaders:
        known = ", ".join(sorted(loaders)) or "none"
        raise KeyError(f"unknown collector {name!r} (known: {known})")
    try:
        return loaders[name]()
    except Exception as exc:  # a broken plugin must not take the others down
        raise CollectorUnavailable(f"the {name} collector failed to load: {exc}") from exc


def detect(root: Path = Path("/")) -> list[str]:
    """Names of the vendors present on this node, in `AUTO_ORDER`, none reading a card another one reads.

    A collector whose cards another may also see (amd-smi and sysfs' amdgpu hwmon) has an ``overlaps``
    classmethod naming which of the found collectors to drop.
    """
    found = []
    for name in AUTO_ORDER:
        try:
            if load(name).probe(root):
                found.append(name)
        except (KeyError, CollectorUnavailable):
            continue
    dropped: set[str] = set()
    for name in found:
        overlaps = getattr(load(name), "overlaps", None)
        if overlaps is not None:
            dropped |= overlaps(found, root)
    return [name for name in found if name not in dropped]


def default_node() -> str:
    """The node name samples carry when none is configured: the host name."""
    return socket.gethostname()
