"""Pure parsers for MetaX's `mx-smi` table and `mx-smi --count-ecc`.

MOFFETT ships a tool of the same name, so output is first identified by MetaX's banner. The table layout
is picked by version: 2.2.0-2.2.8 print ``GPU NAME | Bus-id | GPU-Util`` (captured on 2.2.4), 2.2.9 and
later 2.x print ``Board Name | GPU Persist-M | Bus-id | GPU-Util sGPU-M`` (captured on 2.2.9 and 2.3.1).
Any other version, or a header that does not match its version's layout, raises `UnknownFormat`.
"""

from __future__ import annotations

import re
from typing import Final

from cardwatch.collectors.tool import Reading, UnknownFormat, bus_id, card_index, count, number
from cardwatch.model import CardState

BANNER: Final = "MetaX System Management Interface Log"
AVAILABLE: Final = "Available"
OLD_HEADER: Final = (("GPU NAME", "Bus-id", "GPU-Util"), ("Temp Pwr:Usage/Cap", "Memory-Usage", "GPU-State"))
NEW_HEADER: Final = (
    ("Board Name", "GPU Persist-M", "Bus-id", "GPU-Util sGPU-M"),
    ("Pwr:Usage/Cap", "Temp Perf", "Memory-Usage", ("GPU-State", "GPU-Util")),
)

_VERSION: Final = re.compile(r"MX-SMI ([0-9]+)\.([0-9]+)\.([0-9]+)")
_MEMORY: Final = re.compile(r"(\S+)/(\S+) MiB")
_POWER: Final = re.compile(r"(\S+)\s*/\s*(\S+)")
_GPU_LINE: Final = re.compile(r"GPU#([0-9]{1,4})\s+\S+\s+(\S+)")


def identify(text: str) -> None:
    """Raise `UnknownFormat` unless the output is MetaX's mx-smi (MOFFETT's tool has the same name)."""
    if "MOFFETT" in text:
        raise UnknownFormat("the mx-smi on PATH is MOFFETT's (SPU cards), not MetaX's")
    if BANNER not in text:
        raise UnknownFormat(f"no MetaX mx-smi banner in the output (starts {text.strip()[:60]!r})")


def parse_table(text: str) -> list[Reading]:
    """One reading per GPU row pair of the plain `mx-smi` view."""
    identify(text)
    match = _VERSION.search(text)
    if match is None:
        raise UnknownFormat("mx-smi printed no MX-SMI version line above its table")
    version = tuple(int(part) for part in match.groups())
    shown = ".".join(match.groups())
    if (2, 2, 0) <= version < (2, 2, 9):
        layout, parse = OLD_HEADER, _old_card
    elif (2, 2, 9) <= version < (3, 0, 0):
        layout, parse = NEW_HEADER, _new_card
    else:
        raise UnknownFormat(f"mx-smi {shown}: cardwatch knows the tables of mx-smi 2.2 to 2.x only")
    rows = [cells for line in text.split("Process:")[0].splitlines() if (cells := _cells(line))]
    if len(rows) < 2 or not _matches(rows[0], layout[0]) or not _matches(rows[1], layout[1]):
        raise UnknownFormat(f"mx-smi {shown}: the table header is not the one this version prints")
    body = rows[2:]
    return [
        parse(body[i], body[i + 1] if i + 1 < len(body) else None, i // 2) for i in range(0, len(body), 2)
    ]


def _cells(line: str) -> list[str] | None:
    """Cells of a table row with more than one cell; rules, banners and one-cell rows give `None`."""
    stripped = line.strip()
    if not stripped.startswith("|") or set(stripped) <= set("|-=+ "):
        return None
    cells = [" ".join(cell.split()) for cell in stripped.strip("|").split("|")]
    return cells if len(cells) > 1 else None


def _matches(cells: list[str], expected: tuple[str | tuple[str, ...], ...]) -> bool:
    if len(cells) != len(expected):
        return False
    return all(
        cell in (want if isinstance(want, tuple) else (want,))
        for cell, want in zip(cells, expected, strict=True)
    )


def _old_card(first: list[str], second: list[str] | None, position: int) -> Reading:
    """2.2.4: ``GPU NAME | Bus-id | GPU-Util`` over ``Temp Pwr:Usage/Cap | Memory-Usage | GPU-State``."""
    if second is None or len(first) != 3 or len(second) != 3:
        return _cut_short(first, position)
    temp, _, power = second[0].partition(" ")
    return _card(first[0], first[1], first[2], power, temp, second[1], second[2], position)


def _new_card(first: list[str], second: list[str] | None, position: int) -> Reading:
    """2.2.9+: ``Board Name | GPU Persist-M | Bus-id | GPU-Util sGPU-M`` over ``Pwr | Temp Perf | Mem | State``."""
    if second is None or len(first) != 4 or len(second) != 4:
        return _cut_short(first, position)
    name = first[0].partition(" ")[2]
    gpu = first[1].partition(" ")[0]
    util = first[3].partition(" ")[0]
    temp = second[1].partition(" ")[0]
    return _card(f"{gpu} {name}", first[2], util, second[0], temp, second[2], second[3], position)


def _card(
    gpu_name: str, bus: str, util: str, power: str, temp: str, memory: str, state: str, position: int
) -> Reading:
    errors: dict[str, str] = {}
    index_raw, _, name = gpu_name.partition(" ")
    index = card_index(index_raw)
    values: dict[str, object] = {"model": name.strip() or None, "bus_id": bus_id(bus, errors)}
    values["util_pct"] = number(util, "util_pct", errors, unit="%")
    values["temp_c"] = number(temp, "temp_c", errors, unit="C", signed=True)
    values.update(_split(_POWER, power, ("power_w", "power_limit_w"), "W", errors))
    values.update(_split(_MEMORY, memory, ("mem_used_mib", "mem_total_mib"), "", errors))
    values["vendor_health"] = state or None
    if index is None:
        return Reading(
            position, values, errors, CardState.ERROR, f"mx-smi: no GPU number in {gpu_name[:40]!r}"
        )
    if state != AVAILABLE:
        return Reading(
            index, values, errors, CardState.ERROR, f"mx-smi reports the GPU {state[:60] or 'in no state'}"
        )
    return Reading(index, values, errors)


def _split(
    pattern: re.Pattern[str], raw: str, names: tuple[str, str], unit: str, errors: dict[str, str]
) -> dict[str, float | None]:
    match = pattern.fullmatch(raw)
    if match is None:
        if raw not in ("N/A", ""):
            errors.update(dict.fromkeys(names, f"unreadable value {raw[:40]!r}"))
        return dict.fromkeys(names)
    return {
        name: number(text, name, errors, unit=unit) for name, text in zip(names, match.groups(), strict=True)
    }


def _cut_short(first: list[str], position: int) -> Reading:
    return Reading(
        position, {}, {}, CardState.ERROR, f"mx-smi: the GPU rows are cut short at {' | '.join(first)[:80]!r}"
    )


ECC_KEYS: Final = {
    "ecc_corrected_volatile": ("SRAM Correctable", "DRAM Correctable"),
    "ecc_uncorrected_volatile": ("SRAM Uncorrectable", "DRAM Uncorrectable"),
    "retired_pages_sbe": ("Single Bit ECC",),
    "retired_pages_dbe": ("Double Bit ECC",),
}
"""CardSample field -> the `--count-ecc` lines summed into it (ECC Errors and Retired Pages sections)."""


def parse_count_ecc(text: str) -> dict[int, tuple[str | None, dict[str, object], dict[str, str]]]:
    """`mx-smi --count-ecc`: GPU number -> (its bus id, ECC values, why a value is missing)."""
    identify(text)
    blocks: dict[int, tuple[str | None, dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        gpu = _GPU_LINE.fullmatch(line.strip())
        if gpu is not None:
            current = {}
            blocks[int(gpu.group(1))] = (bus_id(gpu.group(2), {}), current)
        elif current is not None and ":" in line:
            key, _, value = line.partition(":")
            current[" ".join(key.split())] = value.strip()
    return {index: (bus, *_ecc_values(lines)) for index, (bus, lines) in blocks.items()}


def _ecc_values(lines: dict[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    for name, keys in ECC_KEYS.items():
        found = [count(lines[key], name, errors) for key in keys if key in lines]
        if not found:
            errors[name] = f"mx-smi --count-ecc printed no {' or '.join(keys)} line"
        elif None not in found:
            values[name] = sum(n for n in found if n is not None)
    return values, errors
