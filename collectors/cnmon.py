"""Pure parser for Cambricon's `cnmon` table (MLU370 / MLU590).

The layout is picked by the ``CNMON vX`` banner: v4 prints ``Inited Driver`` and ``vMemory-Usage``
columns (captured on v4.20.11), v5 prints ``Bus-Id`` and ``SR-IOV Compute-Mode`` (captured on v5.10.10 and
v5.10.13). Other versions (v6 on MLU590 among them: no capture yet) and headers that do not match their
version raise `UnknownFormat`. ``Ecc-Error`` is one total that cnmon does not split into corrected and
uncorrected, so it is kept as vendor text, never put into an ECC counter.
"""

from __future__ import annotations

import re
from typing import Final

from cardwatch.collectors.tool import Reading, UnknownFormat, bus_id, card_index, count, number
from cardwatch.model import CardState

HEADERS: Final = {
    4: (
        ("Card VF Name Firmware", "Inited Driver", "Util Ecc-Error"),
        ("Fan Temp Pwr:Usage/Cap", "Memory-Usage", "vMemory-Usage"),
    ),
    5: (
        ("Card VF Name Firmware", "Bus-Id", "Util Ecc-Error"),
        ("Fan Temp Pwr:Usage/Cap", "Memory-Usage", "SR-IOV Compute-Mode"),
    ),
}
ECC_FIELDS: Final = ("ecc_corrected_volatile", "ecc_uncorrected_volatile")

_BANNER: Final = re.compile(r"CNMON v([0-9]+)\.([0-9.]+)")
_POWER: Final = re.compile(r"(\S+) W\s*/\s*(\S+) W")
_MEMORY: Final = re.compile(r"(\S+) MiB\s*/\s*(\S+) MiB")


def parse_table(text: str) -> list[Reading]:
    """One reading per card (two rows) of the plain `cnmon` view."""
    match = _BANNER.search(text)
    if match is None:
        raise UnknownFormat(f"no CNMON banner in the output (starts {text.strip()[:60]!r})")
    major, shown = int(match.group(1)), f"v{match.group(1)}.{match.group(2)}"
    if major not in HEADERS:
        raise UnknownFormat(f"cnmon {shown}: cardwatch knows the tables of CNMON v4 and v5 only")
    rows = [cells for line in text.split("Processes:")[0].splitlines() if (cells := _cells(line))]
    if tuple(tuple(row) for row in rows[:2]) != HEADERS[major]:
        raise UnknownFormat(f"cnmon {shown}: the table header is not the v{major} one")
    body = rows[2:]
    return [
        _card(body[i], body[i + 1] if i + 1 < len(body) else None, major, i // 2)
        for i in range(0, len(body), 2)
    ]


def _cells(line: str) -> list[str] | None:
    stripped = line.strip()
    if not stripped.startswith("|") or set(stripped) <= set("|-=+ "):
        return None
    cells = [" ".join(cell.split()) for cell in stripped.strip("|").split("|")]
    return cells if len(cells) == 3 else None


def _card(first: list[str], second: list[str] | None, major: int, position: int) -> Reading:
    head = first[0].split()
    index = card_index(head[0]) if head else None
    errors: dict[str, str] = {}
    values: dict[str, object] = {"model": " ".join(head[2:-1]) or None}
    if index is None or second is None or len(head) < 4:
        reason = f"cnmon: unrecognised card rows at {' | '.join(first)[:80]!r}"
        return Reading(index if index is not None else position, values, errors, CardState.ERROR, reason)
    if major == 5:
        values["bus_id"] = bus_id(first[1], errors)
    util, _, ecc = first[2].partition(" ")
    values["util_pct"] = number(util, "util_pct", errors, unit="%")
    values.update(_ecc(ecc.strip(), errors))
    fan, _, rest = second[0].partition(" ")
    temp, _, power = rest.strip().partition(" ")
    values["fan_pct"] = number(fan, "fan_pct", errors, unit="%")
    values["temp_c"] = number(temp, "temp_c", errors, unit="C", signed=True)
    values.update(_pair(_POWER, power.strip(), ("power_w", "power_limit_w"), errors))
    values.update(_pair(_MEMORY, second[1], ("mem_used_mib", "mem_total_mib"), errors))
    if head[1] != "/":
        return Reading(
            index, values, errors, CardState.ERROR, f"cnmon: VF {head[1]!r} rows are not read (SR-IOV)"
        )
    inited = first[1].split()[0] if major == 4 and first[1] else "On"
    if inited != "On":
        return Reading(index, values, errors, CardState.ERROR, f"cnmon reports the card Inited {inited!r}")
    return Reading(index, values, errors)


def _ecc(raw: str, errors: dict[str, str]) -> dict[str, object]:
    """``N/A`` means inline ECC is off; a number is a total cnmon does not split, kept as vendor text."""
    if raw in ("N/A", ""):
        errors.update(dict.fromkeys(ECC_FIELDS, "cnmon Ecc-Error is N/A (inline ECC off)"))
        return {}
    total = count(raw, "vendor_health_detail", errors)
    if total is None:
        return {}
    errors.update(
        dict.fromkeys(ECC_FIELDS, f"cnmon prints one Ecc-Error total ({total}), not corrected/uncorrected")
    )
    return {"vendor_health_detail": f"cnmon Ecc-Error {total}"} if total else {}


def _pair(
    pattern: re.Pattern[str], raw: str, names: tuple[str, str], errors: dict[str, str]
) -> dict[str, float | None]:
    match = pattern.fullmatch(raw)
    if match is None:
        if raw not in ("N/A", ""):
            errors.update(dict.fromkeys(names, f"unreadable value {raw[:40]!r}"))
        return dict.fromkeys(names)
    return {name: number(text, name, errors) for name, text in zip(names, match.groups(), strict=True)}
