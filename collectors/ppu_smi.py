"""Pure parser for T-Head's `ppu-smi --query-gpu=... --format=csv,nounits` (nvidia-smi's CSV form).

ppu-smi mirrors nvidia-smi's query interface, so the CSV header echoes the requested field names (with
``[unit]`` suffixes); the header must name exactly the fields asked for, or the output raises
`UnknownFormat`. Cells use nvidia-smi's markers: ``[N/A]`` / ``[Not Supported]`` are unknown,
``[GPU is lost]`` marks the card lost, any other bracketed text is a field error.
"""

from __future__ import annotations

import csv
import re
from typing import Final

from cardwatch.collectors.nvml_card import THROTTLE_BITS
from cardwatch.collectors.tool import Reading, UnknownFormat, bus_id, card_index, count, number
from cardwatch.model import CardState

MAIN_FIELDS: Final = {
    "index": "index",
    "uuid": "uuid",
    "name": "model",
    "pci.bus_id": "bus_id",
    "temperature.gpu": "temp_c",
    "power.draw": "power_w",
    "power.limit": "power_limit_w",
    "utilization.gpu": "util_pct",
    "memory.used": "mem_used_mib",
    "memory.total": "mem_total_mib",
    "clocks.sm": "sm_clock_mhz",
    "clocks.max.sm": "sm_clock_max_mhz",
}
"""ppu-smi query field -> CardSample field, for the query run on every read."""
HEALTH_FIELDS: Final = {
    "index": "index",
    "clocks_throttle_reasons.active": "throttle",
    "ecc.errors.corrected.volatile.total": "ecc_corrected_volatile",
    "ecc.errors.uncorrected.volatile.total": "ecc_uncorrected_volatile",
}
"""The second query: throttle mask and ECC, which ppu-smi may not mirror; its failure costs only these."""
ABSENT: Final = frozenset({"[N/A]", "[Not Supported]", "N/A", ""})
LOST: Final = "[GPU is lost]"
TEXT_FIELDS: Final = frozenset({"uuid", "model"})
COUNT_FIELDS: Final = frozenset({"ecc_corrected_volatile", "ecc_uncorrected_volatile"})

_UNIT: Final = re.compile(r"\s*\[[^\]]*\]$")
_MASK: Final = re.compile(r"0x[0-9A-Fa-f]{1,16}")


def query_args(fields: dict[str, str]) -> tuple[str, str]:
    """The ppu-smi arguments that ask for `fields` in CSV with a header and without units in cells."""
    return f"--query-gpu={','.join(fields)}", "--format=csv,nounits"


def parse_csv(text: str, fields: dict[str, str]) -> list[Reading]:
    """One reading per CSV row; the header must echo exactly the requested `fields`."""
    rows = [row for row in csv.reader(text.splitlines(), skipinitialspace=True) if row]
    if not rows:
        raise UnknownFormat("ppu-smi printed no CSV")
    header = [_UNIT.sub("", name.strip()) for name in rows[0]]
    if header != list(fields):
        raise UnknownFormat(f"ppu-smi CSV header is {', '.join(header)[:120]!r}, not the fields asked for")
    return [
        _row(dict(zip(fields.values(), row, strict=False)), len(row) == len(fields), i)
        for i, row in enumerate(rows[1:])
    ]


def _row(cells: dict[str, str], complete: bool, position: int) -> Reading:
    raw_index = cells.pop("index", "")
    index = card_index(raw_index)
    index = position if index is None else index
    errors: dict[str, str] = {}
    values = {name: _value(name, raw.strip(), errors) for name, raw in cells.items()}
    if not complete:
        return Reading(
            index, values, errors, CardState.ERROR, f"ppu-smi: a CSV row has {len(cells) + 1} cells"
        )
    if LOST in (raw.strip() for raw in cells.values()):
        return Reading(index, values, errors, CardState.LOST, "ppu-smi reports the GPU is lost")
    return Reading(index, values, errors)


def _value(name: str, raw: str, errors: dict[str, str]) -> object:
    if raw in ABSENT or raw == LOST:
        return None
    if raw.startswith("["):
        errors[name] = f"ppu-smi says {raw[:60]}"
        return None
    if name in TEXT_FIELDS:
        return raw
    if name == "bus_id":
        return bus_id(raw, errors)
    if name == "throttle":
        return _throttle(raw, errors)
    if name in COUNT_FIELDS:
        return count(raw, name, errors)
    return number(raw, name, errors, signed=name == "temp_c")


def _throttle(raw: str, errors: dict[str, str]) -> frozenset[str] | None:
    """NVML's clocks event reason bits; the raw mask is kept as ``ppu-smi:<mask>`` when any bit is set."""
    if not _MASK.fullmatch(raw):
        errors["throttle"] = f"unreadable throttle mask {raw[:40]!r}"
        return None
    mask = int(raw, 16)
    reasons = {reason.replace("nvml:", "ppu-smi:") for bit, reason in THROTTLE_BITS.items() if mask & bit}
    return frozenset(reasons | {f"ppu-smi:{raw}"}) if mask else frozenset()
