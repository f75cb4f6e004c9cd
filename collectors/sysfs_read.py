"""Reading sysfs attribute files strictly: one raw read, ABI units, and a reason instead of a wrong number.

Real sysfs has symlink loops, so nothing here walks a tree: callers list one directory's entries and
read attribute files by name.
"""

from __future__ import annotations

import errno
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_ATTR_BYTES: Final = 4096
"""A sysfs attribute is at most one page; anything longer is not a kernel attribute."""

_INT: Final = re.compile(r"-?[0-9]{1,19}")
_TRANS_STAT_ROW: Final = re.compile(r"^[* ] *([0-9]{1,19}):", re.MULTILINE)
_LINK_SPEED: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?) GT/s(?: PCIe)?")
PCIE_GEN_BY_GTS: Final = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}
PCIE_WIDTHS: Final = frozenset({1, 2, 4, 8, 12, 16, 32})


class AttrError(Exception):
    """An attribute file could not be read or did not hold what the kernel ABI promises."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason

    def describe(self, root: Path) -> str:
        """The reason, naming the file relative to the sysfs root (stable across machines)."""
        try:
            shown = self.path.relative_to(root)
        except ValueError:
            shown = self.path
        return f"{shown}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Unit:
    """How a raw ABI integer becomes a cardwatch unit, and the range a real reading can fall in."""

    divisor: float
    low: float
    high: float


MILLI_C: Final = Unit(1000, -273.15, 1000.0)
MICRO_W: Final = Unit(1e6, 0.0, 100_000.0)
HZ_AS_MHZ: Final = Unit(1e6, 0.0, 1e6)
KHZ_AS_MHZ: Final = Unit(1e3, 0.0, 1e6)
BYTES_AS_MIB: Final = Unit(1024 * 1024, 0.0, math.inf)
PERCENT: Final = Unit(1, 0.0, 100.0)
PWM_AS_PERCENT: Final = Unit(2.55, 0.0, 100.0)


def read_text(path: Path) -> str:
    """The stripped text of one attribute; an empty one is refused."""
    text = _read_ascii(path).strip(" \t\n")
    if not text:
        raise AttrError(path, "empty")
    return text


def _read_ascii(path: Path) -> str:
    """One attribute read with a single read(2), as node_exporter does for hwmon drivers that misbehave."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            raw = os.read(fd, MAX_ATTR_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise AttrError(path, _os_reason(exc)) from None
    if len(raw) > MAX_ATTR_BYTES:
        raise AttrError(path, f"longer than {MAX_ATTR_BYTES} bytes")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise AttrError(path, "not ASCII text") from None


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "missing"
    name = errno.errorcode.get(exc.errno or 0, "error")
    return f"{name} ({exc.strerror})"


def read_int(path: Path) -> int:
    """One decimal integer, exactly as the ABI prints it ("%d\\n"); "N/A" and garbage are refused."""
    text = read_text(path)
    if not _INT.fullmatch(text):
        raise AttrError(path, f"not an integer: {text[:24]!r}")
    return int(text)


def read_ints(path: Path) -> list[int]:
    """A space-separated list of integers (devfreq available_frequencies); empty lists are refused."""
    words = read_text(path).split()
    if not all(_INT.fullmatch(word) for word in words):
        raise AttrError(path, f"not a list of integers: {' '.join(words)[:24]!r}")
    return [int(word) for word in words]


def read_value(path: Path, unit: Unit) -> float:
    """An integer attribute converted to `unit`, refused when outside what hardware can report."""
    return _in_unit(path, read_int(path), unit)


def _in_unit(path: Path, raw: int, unit: Unit) -> float:
    value = raw / unit.divisor
    if not unit.low <= value <= unit.high:
        raise AttrError(path, f"implausible value {raw}")
    return value


def read_max(path: Path, unit: Unit) -> float:
    """The largest entry of an integer list attribute (devfreq available_frequencies) in `unit`."""
    return _in_unit(path, max(read_ints(path)), unit)


def read_trans_stat_max(path: Path, unit: Unit) -> float:
    """The top frequency of a devfreq ``trans_stat`` table in `unit`, taken from its row labels.

    The header fuses frequencies of ten or more digits ("6000000001000000000"), so only the ``"%10lu:"``
    labels that start each row are trusted.
    """
    rows = _TRANS_STAT_ROW.findall(_read_ascii(path))
    if not rows:
        raise AttrError(path, "no transition table")
    return _in_unit(path, max(int(row) for row in rows), unit)


def read_strings(path: Path) -> list[str]:
    """A devicetree string list (NUL-separated, e.g. ``compatible``)."""
    return [s for s in _read_ascii(path).split("\0") if s]


def read_pcie_gen(path: Path) -> int:
    """A PCI ``*_link_speed`` ("16.0 GT/s PCIe") as the PCIe generation."""
    text = read_text(path)
    match = _LINK_SPEED.fullmatch(text)
    gen = PCIE_GEN_BY_GTS.get(float(match.group(1))) if match else None
    if gen is None:
        raise AttrError(path, f"unknown link speed {text[:24]!r}")
    return gen


def read_pcie_width(path: Path) -> int:
    """A PCI ``*_link_width`` as lanes; widths no PCIe link trains to are refused."""
    width = read_int(path)
    if width not in PCIE_WIDTHS:
        raise AttrError(path, f"not a PCIe link width: {width}")
    return width


def entries(directory: Path, pattern: str = ".*") -> list[str]:
    """Names in `directory` matching `pattern`, naturally sorted; an unreadable directory has none."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    regex = re.compile(pattern)
    return sorted((n for n in names if regex.fullmatch(n)), key=natural_key)


def natural_key(name: str) -> tuple[tuple[int, str], ...]:
    """Sort key putting ``thermal_zone10`` after ``thermal_zone9``."""
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"(\d+)", name))


def link_name(path: Path) -> str | None:
    """The last component of a symlink's target, read without following it."""
    try:
        return Path(os.readlink(path)).name
    except OSError:
        return None
