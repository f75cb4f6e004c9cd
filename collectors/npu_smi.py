"""Pure parsers for Huawei `npu-smi` output: text in, dataclasses out, no I/O.

The parsers never raise on bad input. A value that is absent (``NA``, ``-``, ``Failed``) becomes `None`;
a value that is present but unreadable becomes `None` plus a reason in ``errors`` (keyed by the
`CardSample` field it would have filled). Tables are read by splitting on ``|`` and whitespace and keying
on leading numeric cells, never by column offsets or separator lines, because widths change between
npu-smi releases (80 to 116 columns).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

ABSENT: Final = frozenset({"NA", "N/A", "-", "--", "Failed", ""})
HEALTH_STATES: Final = ("OK", "Warning", "Alarm", "Critical", "UNKNOWN")
MAX_COUNT: Final = 2**63 - 1

_DECIMAL: Final = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
_COUNT: Final = re.compile(r"[0-9]+", re.ASCII)
_HEX_CODE: Final = re.compile(r"(?:0x)?[0-9A-Fa-f]{1,16}", re.ASCII)
_BUS_ID: Final = re.compile(r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]", re.ASCII)
_PAIR: Final = re.compile(r"(\S+?)\s*/\s*(\S+)")
_WORD: Final = re.compile(r"[A-Za-z]*", re.ASCII)
_ERROR_PREFIXES: Final = ("Invalid ", "Error parameter", "Usage: npu-smi")


@dataclass(frozen=True, slots=True)
class TableChip:
    """One chip (die) row pair of the `npu-smi info` table, named after the `CardSample` fields."""

    npu_id: int
    chip_id: int
    model: str | None = None
    health: str | None = None
    bus_id: str | None = None
    power_w: float | None = None
    temp_c: float | None = None
    util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    problem: str | None = None  # the row is incomplete (truncated output)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NpuTable:
    """The device section of `npu-smi info`; `error` says why no table was found."""

    chips: tuple[TableChip, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class KvBlock:
    """One chip's (or the MCU's, or the card's) key/value lines from `npu-smi info -t ...`."""

    chip_id: int | None
    is_mcu: bool
    values: dict[str, str]


@dataclass(frozen=True, slots=True)
class ChipCommon:
    """What `npu-smi info -t common` says about one chip."""

    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommonInfo:
    """`npu-smi info -t common -i N`: per-chip blocks plus the MCU's card-level power (310P)."""

    chips: dict[int, ChipCommon]
    mcu_power_w: float | None = None


@dataclass(frozen=True, slots=True)
class HealthInfo:
    """`npu-smi info -t health -i N -c C`: the vendor's verdict, its error codes and their text."""

    status: str | None = None
    error_codes: tuple[str, ...] = ()
    detail: str | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EccCounts:
    """`npu-smi info -t ecc` counters of one chip, named after the `CardSample` fields."""

    ecc_corrected_volatile: int | None = None
    ecc_uncorrected_volatile: int | None = None
    ecc_corrected_aggregate: int | None = None
    ecc_uncorrected_aggregate: int | None = None
    retired_pages_sbe: int | None = None
    retired_pages_dbe: int | None = None
    errors: dict[str, str] = field(default_factory=dict)


def parse_decimal(raw: str, name: str, errors: dict[str, str], *, signed: bool = False) -> float | None:
    """A plain decimal as printed by npu-smi; absent markers give `None`, anything else an error."""
    text = raw.strip()
    if text in ABSENT:
        return None
    if not _DECIMAL.fullmatch(text):
        errors[name] = f"unreadable value {text[:40]!r}"
        return None
    if text.startswith("-") and not signed:
        errors[name] = f"negative value {text[:40]!r}"
        return None
    return float(text)


def parse_count(raw: str, name: str, errors: dict[str, str]) -> int | None:
    """A non-negative integer counter; absent markers give `None`, anything else an error."""
    text = raw.strip()
    if text in ABSENT:
        return None
    if not _COUNT.fullmatch(text) or int(text) > MAX_COUNT:
        errors[name] = f"unreadable count {text[:40]!r}"
        return None
    return int(text)


def error_message(text: str) -> str | None:
    """The error npu-smi printed instead of data (``Invalid card id.``), or `None`."""
    for line in text.splitlines():
        if line.strip().startswith(_ERROR_PREFIXES):
            return line.strip()
    return None


def parse_table(text: str) -> NpuTable:
    """The chips of `npu-smi info`, one per die, in table order."""
    chips: list[TableChip] = []
    head: list[str] | None = None
    seen_header = False
    in_devices = False
    for line in text.splitlines():
        cells = _cells(line)
        if cells is None:
            continue
        joined = " ".join(cells)
        if "Process id" in joined or "running processes" in joined:
            in_devices = False
        elif "Name" in joined and "Health" in joined:
            seen_header = in_devices = True
        elif in_devices and _BUS_ID.fullmatch(cells[-2]):
            if head is not None:
                chips.append(_chip(head, cells, chips))
            head = None
        elif in_devices and _leading_int(cells) is not None and _WORD.fullmatch(cells[-2]):
            if head is not None:
                chips.append(_chip(head, None, chips))
            head = cells
    if head is not None:
        chips.append(_chip(head, None, chips))
    if not seen_header:
        return NpuTable(error="no npu-smi device table in the output")
    return NpuTable(chips=tuple(chips))


def _cells(line: str) -> list[str] | None:
    """The stripped cells of a table row with at least three cells, else `None`."""
    stripped = line.strip()
    if not stripped.startswith("|"):
        return None
    cells = [cell.strip() for cell in stripped.strip("|").split("|")]
    return cells if len(cells) >= 3 else None


def _leading_int(cells: list[str]) -> int | None:
    tokens = " ".join(cells[:-2]).split()
    return int(tokens[0]) if tokens and _COUNT.fullmatch(tokens[0]) else None


def _chip(head: list[str], detail: list[str] | None, done: list[TableChip]) -> TableChip:
    """Merge the two rows of one chip; a missing or unnumbered detail row counts chips of the NPU."""
    npu_id = _leading_int(head) or 0  # parse_table passes only heads with a leading NPU id
    errors: dict[str, str] = {}
    chip_id = _leading_int(detail) if detail is not None else None
    if chip_id is None:
        chip_id = sum(1 for chip in done if chip.npu_id == npu_id)
    tokens = head[-1].replace("/", " / ").split()
    values = {
        "model": " ".join(" ".join(head[:-2]).split()[1:]) or None,
        "health": head[-2] or None,
        "power_w": parse_decimal(_nth(tokens, 0, "power_w", errors), "power_w", errors),
        "temp_c": parse_decimal(_nth(tokens, 1, "temp_c", errors), "temp_c", errors, signed=True),
    }
    if detail is None:
        return TableChip(npu_id, chip_id, problem="the table row is truncated", errors=errors, **values)
    return TableChip(
        npu_id, chip_id, bus_id=detail[-2], errors=errors, **values, **_usage(detail[-1], errors)
    )


def _nth(tokens: list[str], n: int, name: str, errors: dict[str, str]) -> str:
    """Token `n` of a table cell; a cell cut short records why the value is missing."""
    if n < len(tokens):
        return tokens[n]
    errors[name] = "missing from the table row"
    return ""


def _usage(cell: str, errors: dict[str, str]) -> dict[str, float | None]:
    """AICore % and memory from the second row: HBM when the card has it, else Memory-Usage (DDR)."""
    util_raw, _, rest = cell.partition(" ")
    util = parse_decimal(_nth([util_raw] if util_raw else [], 0, "util_pct", errors), "util_pct", errors)
    pairs = _PAIR.findall(rest)
    if not pairs:
        errors["mem_used_mib"] = errors["mem_total_mib"] = "no memory usage in the table"
        return {"util_pct": util}
    used_raw, total_raw = (
        pairs[1] if len(pairs) > 1 and pairs[1][1].strip() not in ("0", *ABSENT) else pairs[0]
    )
    used = parse_decimal(used_raw, "mem_used_mib", errors)
    total = parse_decimal(total_raw, "mem_total_mib", errors)
    if total == 0:
        return {"util_pct": util}
    return {"util_pct": util, "mem_used_mib": used, "mem_total_mib": total}


def parse_mapping(text: str) -> dict[tuple[int, int], int]:
    """`npu-smi info -m`: (NPU ID, Chip ID) -> Chip Logic ID; MCU rows (logic id ``-``) are left out.

    Columns are found by their header names (A3 adds ``Chip Phy-ID``, 950 adds ``Slot ID`` and has no
    logic id), so output without a ``Chip Logic ID`` column gives an empty mapping.
    """
    mapping: dict[tuple[int, int], int] = {}
    columns: list[str] = []
    for line in text.splitlines():
        if "NPU ID" in line:
            columns = re.split(r"\s{2,}", line.strip())
            continue
        if not {"NPU ID", "Chip ID", "Chip Logic ID"} <= set(columns):
            continue
        tokens = line.split()
        ids = [
            tokens[columns.index(name)]
            for name in ("NPU ID", "Chip ID", "Chip Logic ID")
            if len(tokens) >= len(columns)
        ]
        if len(ids) == 3 and all(_COUNT.fullmatch(t) for t in ids):
            mapping[(int(ids[0]), int(ids[1]))] = int(ids[2])
    return mapping


def parse_blocks(text: str, *, chip_id_trails: bool) -> list[KvBlock]:
    """Split TAB + ``%-30s : value`` output into per-chip blocks.

    In ``-t usages/power/ecc/temp`` a block ends with ``Chip ID : N`` (`chip_id_trails`); in ``-t common``
    and ``-t health`` it starts with it. ``Chip Name : mcu`` names the MCU's block, leading in ``-t common``
    and trailing in card-level ``-t health``. A key seen twice always starts a new block.
    """
    blocks: list[KvBlock] = []
    current: dict[str, str] = {}
    last_key: str | None = None
    for key, value in _kv_lines(text):
        if not key and last_key is not None:
            current[last_key] = f"{current[last_key]}; {value}" if value else current[last_key]
            continue
        if current and (key in current or (not chip_id_trails and _starts_block(key, current))):
            blocks.append(_block(current))
            current = {}
        current[key] = value
        last_key = key
        if chip_id_trails and (key == "Chip ID" or (key == "Chip Name" and value.lower() == "mcu")):
            blocks.append(_block(current))
            current, last_key = {}, None
    if current:
        blocks.append(_block(current))
    return blocks


def _starts_block(key: str, current: dict[str, str]) -> bool:
    """In header-style output: ``Chip ID`` opens a block; ``Chip Name`` opens one after a chip's block."""
    return key == "Chip ID" or (key == "Chip Name" and "Chip ID" in current)


def _kv_lines(text: str) -> list[tuple[str, str]]:
    """(key, value) of every indented ``key : value`` line; continuation lines have an empty key."""
    pairs = []
    for line in text.splitlines():
        if not line[:1].isspace() or ":" not in line:
            continue
        key, _, value = line.partition(":")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _block(values: dict[str, str]) -> KvBlock:
    chip_raw = values.get("Chip ID", "")
    chip_id = int(chip_raw) if _COUNT.fullmatch(chip_raw) else None
    is_mcu = values.get("Chip Name", "").lower() == "mcu"
    return KvBlock(chip_id=None if is_mcu else chip_id, is_mcu=is_mcu, values=values)


def parse_common(text: str) -> CommonInfo:
    """`npu-smi info -t common -i N`: AI core clocks, temperature and power per chip."""
    chips: dict[int, ChipCommon] = {}
    mcu_power: float | None = None
    for block in parse_blocks(text, chip_id_trails=False):
        values = {_norm(k): v for k, v in block.values.items()}
        errors: dict[str, str] = {}
        power = parse_decimal(values.get("npu real-time power(w)", "NA"), "power_w", errors)
        if block.is_mcu:
            mcu_power = power
        elif block.chip_id is not None:
            chips[block.chip_id] = ChipCommon(
                sm_clock_mhz=parse_decimal(values.get("aicore curfreq(mhz)", "NA"), "sm_clock_mhz", errors),
                sm_clock_max_mhz=parse_decimal(
                    values.get("aicore freq(mhz)", "NA"), "sm_clock_max_mhz", errors
                ),
                temp_c=parse_decimal(values.get("temperature(c)", "NA"), "temp_c", errors, signed=True),
                power_w=power,
                errors=errors,
            )
    return CommonInfo(chips=chips, mcu_power_w=mcu_power)


def parse_health(text: str) -> HealthInfo:
    """`npu-smi info -t health -i N -c C`: status, hex error codes and the (multi-line) error text."""
    values: dict[str, str] = {}
    for block in parse_blocks(text, chip_id_trails=False):
        if not block.is_mcu:
            values.update(block.values)
    errors: dict[str, str] = {}
    status = values.get("Health Status", values.get("Health"))
    if status in ABSENT:
        status = None
    elif status is not None and status not in HEALTH_STATES:
        errors["vendor_health"] = f"unknown health state {status[:40]!r}"
        status = None
    codes_raw = values.get("Error Code", "NA")
    codes = () if codes_raw in ABSENT else tuple(codes_raw.split())
    if not all(_HEX_CODE.fullmatch(code) for code in codes):
        errors["error_codes"] = f"unreadable error codes {codes_raw[:60]!r}"
        codes = ()
    detail = values.get("Error Information")
    return HealthInfo(status, codes, None if detail in ABSENT else detail, errors)


_ECC_FIELDS: Final = {
    "single bit error count": "ecc_corrected_volatile",
    "double bit error count": "ecc_uncorrected_volatile",
    "single bit aggregate total err cnt": "ecc_corrected_aggregate",
    "double bit aggregate total err cnt": "ecc_uncorrected_aggregate",
    "single bit isolated pages count": "retired_pages_sbe",
    "double bit isolated pages count": "retired_pages_dbe",
}


def parse_ecc(text: str) -> dict[int, EccCounts]:
    """`npu-smi info -t ecc -i N`: per-chip ECC counters, HBM when the chip has HBM, else DDR."""
    result: dict[int, EccCounts] = {}
    for block in parse_blocks(text, chip_id_trails=True):
        if block.chip_id is None:
            continue
        by_memory: dict[str, dict[str, str]] = {}
        for key, value in block.values.items():
            memory, _, rest = _norm(key).replace("-", " ").partition(" ")
            if memory not in ("hbm", "ddr"):
                memory, rest = "", f"{memory} {rest}"
            by_memory.setdefault(memory, {})[rest] = value
        counters = next((by_memory[m] for m in ("hbm", "ddr", "") if m in by_memory), {})
        errors: dict[str, str] = {}
        found = {
            name: parse_count(counters[key], name, errors)
            for key, name in _ECC_FIELDS.items()
            if key in counters
        }
        if not found:
            errors = dict.fromkeys(_ECC_FIELDS.values(), "npu-smi printed no ECC counters for this chip")
        result[block.chip_id] = EccCounts(**found, errors=errors)
    return result


def _norm(key: str) -> str:
    return " ".join(key.lower().split())
