"""Pure parsers for AMD's `amd-smi` default view, `amd-smi metric --throttle` and `rocm-smi --json`.

The default view is read only in the layout of AMD-SMI 26.x, the one captured on hardware; another version
or header raises `UnknownFormat` (the collector then tries rocm-smi). rocm-smi's JSON is keyed by names,
so it is read by key in any version; a Hygon DCU's JSON (same tool, other keys) is refused by its vendor.
"""

from __future__ import annotations

import json
import re
from typing import Final

from cardwatch.collectors.tool import ABSENT, Reading, UnknownFormat, bus_id, count, number
from cardwatch.model import CardState, Throttle

KNOWN_MAJOR_VERSIONS: Final = frozenset({26})
HEADER_ROWS: Final = (
    ("BDF GPU-Name", "Mem-Uti Temp UEC Power-Usage"),
    ("GPU HIP-ID OAM-ID Partition-Mode", "GFX-Uti Fan Mem-Usage"),
)
MIB_PER_BYTE: Final = 1 / (1024 * 1024)

_BANNER: Final = re.compile(r"\|\s*AMD-SMI ([0-9]+)\.([0-9.]+)\S*\s")
_ROW1: Final = re.compile(
    r"(?P<mem_util>\S+(?: %)?)\s+(?P<temp>N/A|\S+ °C)\s+(?P<uec>\S+)\s+(?P<power>N/A|\S+ W)"
)
_ROW2: Final = re.compile(r"(?P<gfx>N/A|\S+ %)\s+(?P<fan>N/A|\S+(?: %)?)\s+(?P<mem>N/A|\S+ MB)")
_INDEX: Final = re.compile(r"[0-9]{1,4}")

VIOLATIONS: Final = {
    "PROCHOT": Throttle.HW_SLOWDOWN,
    "PPT": Throttle.SW_POWER_CAP,
    "SOCKET_THERMAL": Throttle.HW_THERMAL,
    "VR_THERMAL": Throttle.HW_THERMAL,
    "HBM_THERMAL": Throttle.HW_THERMAL,
}
"""amd-smi violation names -> the throttle reason they mean; the raw name travels as ``amd-smi:<NAME>``."""


def parse_default(text: str) -> list[Reading]:
    """The cards of the plain `amd-smi` view: two table rows per GPU, keyed by the GPU column."""
    version = _version(text)
    rows = [_cells(line) for line in text.splitlines()]
    table = [cells for cells in rows if cells is not None]
    headers = tuple((" ".join(left.split()), " ".join(right.split())) for left, right in table[:2])
    if headers != HEADER_ROWS:
        raise UnknownFormat(f"amd-smi {version}: the table header is not the AMD-SMI 26.x one")
    body = table[2:]
    return [
        _card(body[i], body[i + 1] if i + 1 < len(body) else None, i // 2) for i in range(0, len(body), 2)
    ]


def _version(text: str) -> str:
    match = _BANNER.search(text)
    if match is None:
        raise UnknownFormat(f"no AMD-SMI banner in the output (starts {text.strip()[:60]!r})")
    major, rest = match.groups()
    if int(major) not in KNOWN_MAJOR_VERSIONS:
        raise UnknownFormat(f"amd-smi {major}.{rest}: cardwatch knows the default view of AMD-SMI 26.x only")
    return f"{major}.{rest}"


def _cells(line: str) -> tuple[str, str] | None:
    """The two cells of a GPU-table row (``| left | right |``); borders, banner and processes give `None`."""
    stripped = line.strip()
    if not (stripped.startswith("|") and stripped.endswith("|")) or set(stripped) <= set("|-=+ "):
        return None
    cells = stripped[1:-1].split("|")
    return (cells[0].strip(), cells[1].strip()) if len(cells) == 2 else None


def _card(first: tuple[str, str], second: tuple[str, str] | None, position: int) -> Reading:
    """One GPU's two rows; rows that do not match the 26.x layout give an errored card at its table position."""
    errors: dict[str, str] = {}
    bdf, _, name = first[0].partition(" ")
    left2 = second[0].split() if second is not None else []
    index = int(left2[0]) if left2 and _INDEX.fullmatch(left2[0]) else None
    values: dict[str, object] = {"bus_id": bus_id(bdf, errors), "model": name.strip() or None}
    row1 = _ROW1.fullmatch(first[1])
    row2 = _ROW2.fullmatch(second[1]) if second is not None else None
    if index is None or row1 is None or row2 is None:
        shown = " | ".join(first) if second is None else " | ".join((*first, *second))
        return Reading(
            index=index if index is not None else position,
            values=values,
            errors=errors,
            state=CardState.ERROR,
            reason=f"amd-smi: unrecognised GPU rows {shown[:120]!r}",
        )
    values["temp_c"] = number(row1["temp"], "temp_c", errors, unit="°C", signed=True)
    values["ecc_uncorrected_volatile"] = count(row1["uec"], "ecc_uncorrected_volatile", errors)
    values.update(_pair(row1["power"], "W", ("power_w", "power_limit_w"), errors))
    values["util_pct"] = number(row2["gfx"], "util_pct", errors, unit="%")
    values["fan_pct"] = number(row2["fan"], "fan_pct", errors, unit="%")
    values.update(_pair(row2["mem"], "MB", ("mem_used_mib", "mem_total_mib"), errors))
    return Reading(index=index, values=values, errors=errors)


def _pair(raw: str, unit: str, names: tuple[str, str], errors: dict[str, str]) -> dict[str, float | None]:
    """``103/300 W`` -> two fields; `N/A` gives two `None`s."""
    text = raw.removesuffix(unit).strip()
    used, slash, total = text.partition("/")
    if text in ABSENT or not slash:
        return {names[0]: number(text, names[0], errors), names[1]: None}
    return {names[0]: number(used, names[0], errors), names[1]: number(total, names[1], errors)}


def parse_throttle(text: str) -> dict[int, frozenset[str] | str]:
    """`amd-smi metric --throttle`: GPU index -> active throttle reasons, or why they could not be read."""
    result: dict[int, frozenset[str] | str] = {}
    gpu: int | None = None
    statuses: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        if key == "GPU" and _INDEX.fullmatch(value.strip()):
            gpu = int(value)
            statuses[gpu] = {}
        elif gpu is not None and key.endswith("_VIOLATION_STATUS"):
            statuses[gpu][key.removesuffix("_VIOLATION_STATUS")] = value.strip()
    for index, by_name in statuses.items():
        result[index] = _reasons(by_name) if by_name else "amd-smi printed no violation status for this GPU"
    return result


def _reasons(by_name: dict[str, str]) -> frozenset[str] | str:
    reasons: set[str] = set()
    for name, status in by_name.items():
        if status not in ("ACTIVE", "NOT ACTIVE"):
            return f"unreadable violation status {name}: {status[:40]!r}"
        if status == "ACTIVE":
            reasons.add(f"amd-smi:{name}")
            if name in VIOLATIONS:
                reasons.add(VIOLATIONS[name])
    return frozenset(reasons)


ROCM_FIELDS: Final = {
    "temp_c": ("Temperature (Sensor junction) (C)", "Temperature (Sensor edge) (C)"),
    "mem_temp_c": ("Temperature (Sensor memory) (C)",),
    "power_w": ("Average Graphics Package Power (W)", "Current Socket Graphics Package Power (W)"),
    "util_pct": ("GPU use (%)",),
}
"""CardSample field -> rocm-smi JSON keys, first present wins (junction before edge: the hottest spot)."""


def parse_rocm_json(text: str) -> list[Reading]:
    """`rocm-smi ... --json`: one reading per ``cardN`` object."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UnknownFormat(f"rocm-smi printed no JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise UnknownFormat("rocm-smi JSON is not an object of cards")
    readings = []
    for key, card in data.items():
        if not (key.startswith("card") and _INDEX.fullmatch(key[4:])) or not isinstance(card, dict):
            continue
        vendor = str(card.get("Card Vendor", ""))
        if vendor and "Advanced Micro Devices" not in vendor:
            raise UnknownFormat(f"rocm-smi reports a card of {vendor[:60]!r}, not AMD")
        readings.append(_rocm_card(int(key[4:]), {k: str(v) for k, v in card.items()}))
    if not readings:
        raise UnknownFormat("rocm-smi JSON has no cardN entries")
    return readings


def _rocm_card(index: int, card: dict[str, str]) -> Reading:
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        "model": card.get("Card Series") or card.get("Device Name"),
        "uuid": _present(card.get("Unique ID")),
        "serial": _present(card.get("Serial Number")),
    }
    for name, keys in ROCM_FIELDS.items():
        key = next((k for k in keys if k in card), None)
        if key is not None:
            values[name] = number(card[key], name, errors, signed=name.startswith(("temp", "mem_temp")))
    for name, key in (
        ("mem_total_mib", "VRAM Total Memory (B)"),
        ("mem_used_mib", "VRAM Total Used Memory (B)"),
    ):
        raw = count(card.get(key, "N/A"), name, errors)
        values[name] = raw * MIB_PER_BYTE if raw is not None else None
    return Reading(index=index, values=values, errors=errors)


def _present(raw: str | None) -> str | None:
    return None if raw is None or raw.strip() in ("", "N/A") else raw.strip()
