"""Pure parsers for Moore Threads' `mthreads-gmi` table and its `--query --json` output.

The table is read in the layouts of mthreads-gmi 1.x and 2.x (captured on S80 and S5000; 2.4 adds a
``Perf`` column); another major version, a missing banner or a changed header raises `UnknownFormat`.
The JSON carries what the table lacks (power draw and limit, UUID, serial); its keys are matched after
``strip()``, since mthreads-gmi prints ``"Power Draw "`` with a trailing space.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from cardwatch.collectors.tool import Reading, UnknownFormat, bus_id, card_index, number
from cardwatch.model import CardState

KNOWN_MAJOR_VERSIONS: Final = frozenset({1, 2})
HEADER: Final = (("ID Name", "PCIe", "%GPU Mem"), ("Pcie Lane Width", "Temp MPC Capable"), ("ECC Mode",))

_BANNER: Final = re.compile(r"mthreads-gmi:([0-9]+)\.(\S+)\s+Driver Version:(\S+)")
_HEAD: Final = re.compile(r"([0-9]{1,4})\s+(.+)")
_MEMORY: Final = re.compile(r"(\S+)MiB\((\S+)MiB\)")
_LANES: Final = re.compile(r"([0-9]{1,2})x\(([0-9]{1,2})x\)")


def parse_table(text: str) -> list[Reading]:
    """One reading per GPU block (three lines) of the plain `mthreads-gmi` view."""
    version = _version(text)
    rows = [_cells(line) for line in text.split("Processes:")[0].splitlines()]
    cells = [row for row in rows if row]
    headers = tuple(tuple(cell for cell in row if cell) for row in cells[:3])
    if not _header_known(headers):
        raise UnknownFormat(f"mthreads-gmi {version}: the table header is not the 1.x/2.x one")
    body = cells[3:]
    starts = [i for i, row in enumerate(body) if len(row) == 3 and _HEAD.fullmatch(row[0])]
    return [_gpu(body[i : i + 3], position) for position, i in enumerate(starts)]


def _version(text: str) -> str:
    match = _BANNER.search(text)
    if match is None:
        raise UnknownFormat(f"no mthreads-gmi banner in the output (starts {text.strip()[:60]!r})")
    major, rest, _ = match.groups()
    if int(major) not in KNOWN_MAJOR_VERSIONS:
        raise UnknownFormat(f"mthreads-gmi {major}.{rest}: cardwatch knows the tables of 1.x and 2.x only")
    return f"{major}.{rest}"


def _cells(line: str) -> list[str]:
    """The ``|``-separated cells of a table line, stripped; rules and blank lines give none."""
    if "|" not in line or set(line.strip()) <= set("+-|"):
        return []
    return [" ".join(cell.split()) for cell in line.split("|")]


def _header_known(headers: tuple[tuple[str, ...], ...]) -> bool:
    if len(headers) != 3 or headers[0] != HEADER[0] or headers[2] != HEADER[2]:
        return False
    return headers[1][0] in ("Device Type", "Device Type Perf") and headers[1][1:] == HEADER[1]


def _gpu(rows: list[list[str]], position: int) -> Reading:
    head = _HEAD.fullmatch(rows[0][0])
    index = int(head.group(1)) if head else position
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        "model": head.group(2) if head else None,
        "bus_id": bus_id(rows[0][1], errors),
    }
    if len(rows) < 2 or len(rows[1]) != 3:
        return Reading(index, values, errors, CardState.ERROR, "mthreads-gmi: the GPU block is cut short")
    util_raw, _, memory_raw = rows[0][2].partition(" ")
    values["util_pct"] = number(util_raw, "util_pct", errors, unit="%")
    values.update(_pair(_MEMORY, memory_raw.strip(), ("mem_used_mib", "mem_total_mib"), errors))
    values.update(_pair(_LANES, rows[1][1], ("pcie_width", "pcie_width_max"), errors))
    values["temp_c"] = number(rows[1][2].partition(" ")[0], "temp_c", errors, unit="C", signed=True)
    return Reading(index, values, errors)


def _pair(
    pattern: re.Pattern[str], raw: str, names: tuple[str, str], errors: dict[str, str]
) -> dict[str, Any]:
    """``2MiB(16384MiB)`` or ``4x(16x)``: the current value and the one in brackets."""
    match = pattern.fullmatch(raw)
    if match is None:
        if raw not in ("N/A", ""):
            errors.update(dict.fromkeys(names, f"unreadable value {raw[:40]!r}"))
        return dict.fromkeys(names)
    found = {name: number(text, name, errors) for name, text in zip(names, match.groups(), strict=True)}
    if names[0].startswith("pcie"):
        return {name: int(value) if value is not None else None for name, value in found.items()}
    return found


JSON_FIELDS: Final = {
    "bus_id": ("PCI", "Bus ID"),
    "uuid": ("GPU UUID",),
    "serial": ("Serial Number",),
    "power_w": ("Power Readings", "Power Draw"),
    "power_limit_w": ("Power Readings", "Current Power Limit"),
}


def parse_query_json(text: str) -> dict[int, dict[str, Any]]:
    """`mthreads-gmi --query --json`: GPU index -> the `CardSample` values the table lacks (power, UUID)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnknownFormat(f"mthreads-gmi --query --json printed no JSON ({exc})") from None
    gpus = _stripped(data).get("GPU") if isinstance(data, dict) else None
    if not isinstance(gpus, list):
        raise UnknownFormat("mthreads-gmi --query --json has no GPU list")
    result: dict[int, dict[str, Any]] = {}
    for gpu in gpus:
        index = card_index(str(gpu.get("Index", ""))) if isinstance(gpu, dict) else None
        if index is not None:
            result[index] = _json_values(gpu)
    return result


def _stripped(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k).strip(): _stripped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stripped(v) for v in value]
    return value


def _json_values(gpu: dict[str, Any]) -> dict[str, Any]:
    """Values and errors (under ``"field_errors"``) of one GPU object; absent keys are left out."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, path in JSON_FIELDS.items():
        raw: Any = gpu
        for key in path:
            raw = raw.get(key) if isinstance(raw, dict) else None
        if raw is None:
            if name.startswith("power"):
                errors[name] = f"mthreads-gmi --query --json printed no {path[-1]!r}"
        elif name == "bus_id":
            values[name] = bus_id(str(raw), errors)
        else:
            values[name] = (
                str(raw) if name in ("uuid", "serial") else number(str(raw), name, errors, unit="W")
            )
    values["field_errors"] = errors
    return values
