"""Shared plumbing for collectors that parse a vendor's command-line tool (amd-smi, mx-smi, cnmon, ...).

A subclass names its tool and PCI vendor id and turns the tool's text into `Reading`s; this base runs the
tool, turns every way a call can fail into a reason, and turns readings into `CardSample`s. Parsers raise
`UnknownFormat` for output they do not recognise (another vendor's tool of the same name, a version whose
layout was never seen), so a new layout becomes an error state with its reason rather than a guess.
"""

from __future__ import annotations

import math
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Final

from cardwatch.collectors import CollectorUnavailable, default_node
from cardwatch.collectors.ascend import run_npu_smi
from cardwatch.collectors.sysfs_read import AttrError, entries, read_text
from cardwatch.model import CardSample, CardState

Runner = Callable[[Sequence[str], float], str]

ABSENT: Final = frozenset({"N/A", "NA", "n/a", "-", "--", ""})
MAX_COUNT: Final = 2**63 - 1
_DECIMAL: Final = re.compile(r"-?[0-9]{1,12}(?:\.[0-9]{1,6})?", re.ASCII)
_COUNT: Final = re.compile(r"[0-9]{1,19}", re.ASCII)
_INDEX: Final = re.compile(r"[0-9]{1,4}", re.ASCII)
_BUS_ID: Final = re.compile(r"(?:([0-9A-Fa-f]{1,8}):)?([0-9A-Fa-f]{2}):([0-9A-Fa-f]{1,2})\.([0-7])", re.ASCII)

run_tool: Final = run_npu_smi
"""Run a tool in its own process group so a hung call is killed with its children; stdout or raise."""


class UnknownFormat(ValueError):
    """The output is not a layout this parser knows; the message says what was seen instead."""


class QueryFailed(Exception):
    """One tool call gave no usable output; the message is the reason shown on the cards."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One card as a tool printed it: `CardSample` field values, why fields failed, and the card's state."""

    index: int
    values: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    state: CardState = CardState.OK
    reason: str | None = None


def number(
    raw: str, name: str, errors: dict[str, str], *, unit: str = "", signed: bool = False
) -> float | None:
    """A decimal with an optional unit suffix; absent markers give `None`, anything else an error."""
    text = raw.strip()
    if unit and text.endswith(unit):
        text = text[: -len(unit)].strip()
    if text in ABSENT:
        return None
    if not _DECIMAL.fullmatch(text) or (text.startswith("-") and not signed):
        errors[name] = f"unreadable value {raw.strip()[:40]!r}"
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def count(raw: str, name: str, errors: dict[str, str]) -> int | None:
    """A non-negative integer counter; absent markers give `None`, anything else an error."""
    text = raw.strip()
    if text in ABSENT:
        return None
    if not _COUNT.fullmatch(text) or int(text) > MAX_COUNT:
        errors[name] = f"unreadable count {text[:40]!r}"
        return None
    return int(text)


def card_index(raw: str) -> int | None:
    """A card number as tools print it (``0``..``9999``); anything else, Unicode digits included, is `None`."""
    return int(raw) if _INDEX.fullmatch(raw) else None


def bus_id(raw: str, errors: dict[str, str]) -> str | None:
    """A PCI address normalised to sysfs form (``0000:3a:00.0``) so two sources of one card agree."""
    match = _BUS_ID.fullmatch(raw.strip())
    if match is None:
        if raw.strip() not in ABSENT:
            errors["bus_id"] = f"unreadable PCI address {raw.strip()[:40]!r}"
        return None
    domain, bus, device, function = match.groups()
    return f"{int(domain or '0', 16):04x}:{bus.lower()}:{int(device, 16):02x}.{function}"


def pci_functions(sysfs: Path, vendor_id: str) -> list[str]:
    """PCI addresses under ``sysfs`` whose vendor id is `vendor_id` (``0x1ed5``); reads two small files each."""
    base = sysfs / "bus" / "pci" / "devices"
    return [address for address in entries(base) if _vendor(base / address) == vendor_id]


def _vendor(device: Path) -> str | None:
    try:
        return read_text(device / "vendor")
    except AttrError:
        return None


def _text(data: bytes | str | None) -> str:
    return data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data or ""


def _first_line(text: str) -> str:
    return next((line.strip()[:200] for line in text.splitlines() if line.strip()), "no output")


class ToolCollector:
    """Base of the CLI collectors: ``Sub(node=None, run=None, timeout_s=5.0, clock=time.time)``.

    `run(argv, timeout_s)` returns the tool's stdout or raises (`run_tool` by default). Subclasses set the
    class constants and implement `readings`.
    """

    name: ClassVar[str]
    vendor: ClassVar[str]
    tool: ClassVar[str]
    pci_vendor: ClassVar[str]
    install_hint: ClassVar[str]

    def __init__(
        self,
        node: str | None = None,
        run: Runner | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node or default_node()
        self.run = run or run_tool
        self.timeout_s = timeout_s
        self.clock = clock
        self._known: list[CardSample] = []

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """The vendor is here when a PCI function with its vendor id exists under ``root/sys``."""
        return bool(pci_functions(root / "sys", cls.pci_vendor))

    def close(self) -> None:
        """Nothing to release: every read runs fresh tool processes."""

    def readings(self) -> list[Reading]:
        """The cards of one read; raises `QueryFailed` or `UnknownFormat` when the tool gave nothing usable."""
        raise NotImplementedError

    def read(self) -> list[CardSample]:
        """One sample per card; a failed read marks every known card as errored, or raises if none is known."""
        now = self.clock()
        try:
            found = self.readings()
        except (QueryFailed, UnknownFormat) as exc:
            return self._all_failed(str(exc), now)
        self._known = [self._sample(reading, now) for reading in found]
        return self._known

    def query(self, *args: str, tool: str | None = None) -> str:
        """Run the tool (or another one) once; every failure becomes `QueryFailed` or `CollectorUnavailable`."""
        argv = (tool or self.tool, *args)
        command = " ".join(argv)
        try:
            return self.run(argv, self.timeout_s)
        except FileNotFoundError:
            raise CollectorUnavailable(f"{argv[0]} was not found on PATH: {self.install_hint}") from None
        except (subprocess.TimeoutExpired, TimeoutError):
            raise QueryFailed(f"{command} timed out after {self.timeout_s:g} s") from None
        except subprocess.CalledProcessError as exc:
            output = _text(exc.stderr) + _text(exc.output)
            raise QueryFailed(
                f"{command} exited with status {exc.returncode}: {_first_line(output)}"
            ) from None
        except Exception as exc:
            raise QueryFailed(f"{command} failed: {exc}") from None

    def _sample(self, reading: Reading, now: float) -> CardSample:
        return CardSample(
            node=self.node,
            vendor=self.vendor,
            source=self.name,
            index=reading.index,
            ts=now,
            state=reading.state,
            state_reason=reading.reason,
            field_errors=dict(reading.errors),
            **reading.values,  # type: ignore[arg-type]
        )

    def _all_failed(self, reason: str, now: float) -> list[CardSample]:
        if not self._known:
            raise CollectorUnavailable(reason)
        return [
            CardSample(
                node=s.node,
                vendor=s.vendor,
                source=s.source,
                index=s.index,
                ts=now,
                uuid=s.uuid,
                serial=s.serial,
                model=s.model,
                bus_id=s.bus_id,
                state=CardState.ERROR,
                state_reason=reason,
            )
            for s in self._known
        ]
