"""Pure parser for Enflame's `efsmi` table (S60 / S60G / L300 / T20).

efsmi has changed its banner and columns with nearly every release, and its version numbers are not
ordered across product lines (V1.20.0 for T20 is older than V1.2.0.301 for S60), so the layout is picked
by the banner's exact form and version:

- ``| EFSMI: 1.6.x`` / ``1.7.x``: ``TEMP Lpm Pwr(Usage/Cap) | Mem GCU Virt | DUsed SN`` (S60G, L300);
- ``|EFSMI    V1.2.x``: ``TEMP Dpm Pwr(Usage/Cap) | Mem GCU Virt | DUsed SN`` (S60);
- ``*EFSMI    V1.20.x``: ``TEMP DPM Pwr(Usage/Cap) | Mem vGCU | DEV-Util UUID`` (T20, ``*`` borders).

Anything else raises `UnknownFormat`. The table gives total memory only, so memory used stays unknown.
"""

from __future__ import annotations

import re
from typing import Final

from cardwatch.collectors.tool import Reading, UnknownFormat, bus_id, card_index, number
from cardwatch.model import CardState

LAYOUTS: Final = {
    ("colon", "1.6"): ("TEMP Lpm Pwr(Usage/Cap)", "Mem GCU Virt", "DUsed SN"),
    ("colon", "1.7"): ("TEMP Lpm Pwr(Usage/Cap)", "Mem GCU Virt", "DUsed SN"),
    ("v", "1.2"): ("TEMP Dpm Pwr(Usage/Cap)", "Mem GCU Virt", "DUsed SN"),
    ("star", "1.20"): ("TEMP DPM Pwr(Usage/Cap)", "Mem vGCU", "DEV-Util UUID"),
}
"""(banner form, major.minor) -> the second header row that form prints."""
FIRST_HEADERS: Final = (("DEV NAME", "FW VER", "BUS-ID ECC"), ("DEV NAME", "Boot FW VER", "BUS-ID ECC"))
MIB_PER_GIB: Final = 1024.0

_BANNERS: Final = (
    ("colon", re.compile(r"^\| EFSMI: ([0-9]+\.[0-9]+)\.\S+\s+Driver Ver:", re.MULTILINE)),
    ("v", re.compile(r"^\|EFSMI\s+V([0-9]+\.[0-9]+)\.\S+\s+Driver Ver:", re.MULTILINE)),
    ("star", re.compile(r"^\*EFSMI\s+V([0-9]+\.[0-9]+)\.\S+\s+Driver Ver:", re.MULTILINE)),
)
_SECOND: Final = re.compile(r"(?P<temp>N/A|-?[0-9.]+\s?(?:C|℃|°C))\s+(?P<pm>\S+)\s+(?P<power>.+)")
_POWER: Final = re.compile(r"([0-9.]+)W\s*/?\s*([0-9.]+)W")
_MEMORY: Final = re.compile(r"([0-9.]+)(MiB|G)")


def parse_table(text: str) -> list[Reading]:
    """One reading per device (two rows) of the plain `efsmi` view."""
    form, version = _banner(text)
    rows = [cells for line in text.splitlines() if (cells := _cells(line))]
    headers = [i for i, row in enumerate(rows) if tuple(row) in FIRST_HEADERS]
    expected = LAYOUTS.get((form, version))
    if expected is None:
        raise UnknownFormat(
            f"efsmi {version} ({form} banner): cardwatch knows efsmi 1.2, 1.6, 1.7 and 1.20 only"
        )
    if not headers or headers[0] + 1 >= len(rows) or tuple(rows[headers[0] + 1]) != expected:
        raise UnknownFormat(f"efsmi {version}: the table header is not the one this version prints")
    body = rows[headers[0] + 2 :]
    return [
        _device(body[i], body[i + 1] if i + 1 < len(body) else None, i // 2, form)
        for i in range(0, len(body), 2)
    ]


def _banner(text: str) -> tuple[str, str]:
    for form, pattern in _BANNERS:
        match = pattern.search(text)
        if match is not None:
            return form, match.group(1)
    if "Enflame System Management Interface" not in text:
        raise UnknownFormat(f"no Enflame efsmi banner in the output (starts {text.strip()[:60]!r})")
    raise UnknownFormat("efsmi printed a banner line cardwatch does not know")


def _cells(line: str) -> list[str] | None:
    """Cells of a three-cell row bordered by ``|`` or ``*``; rules and one-cell rows give `None`."""
    stripped = line.strip()
    if stripped[:1] not in ("|", "*") or set(stripped) <= set("|*-=+ "):
        return None
    cells = [" ".join(cell.split()) for cell in stripped[1:-1].split("|")]
    return cells if len(cells) == 3 else None


def _device(first: list[str], second: list[str] | None, position: int, form: str) -> Reading:
    head = first[0].split(" ", 1)
    index = card_index(head[0])
    errors: dict[str, str] = {}
    values: dict[str, object] = {"model": head[1] if len(head) > 1 else None}
    values["bus_id"] = bus_id(first[2].split(" ")[0], errors)
    row = _SECOND.fullmatch(second[0]) if second is not None else None
    if index is None or second is None or row is None:
        reason = f"efsmi: unrecognised device rows at {' | '.join(first)[:80]!r}"
        return Reading(index if index is not None else position, values, errors, CardState.ERROR, reason)
    values["temp_c"] = number(row["temp"].rstrip("C℃°").strip(), "temp_c", errors, signed=True)
    values.update(_power(row["power"].strip(), errors))
    values["mem_total_mib"] = _memory(second[1].split(" ")[0], errors)
    util, _, ident = second[2].partition(" ")
    values["util_pct"] = number(util, "util_pct", errors, unit="%")
    values["uuid" if form == "star" else "serial"] = ident.strip() or None
    return Reading(index, values, errors)


def _power(raw: str, errors: dict[str, str]) -> dict[str, float | None]:
    """``68W / 300W``, ``105W  300W`` or ``48.0W  300W``; ``N/A`` (SR-IOV) gives two `None`s."""
    match = _POWER.fullmatch(raw)
    if match is None:
        if raw != "N/A":
            errors["power_w"] = errors["power_limit_w"] = f"unreadable value {raw[:40]!r}"
        return {"power_w": None, "power_limit_w": None}
    return {
        "power_w": number(match.group(1), "power_w", errors),
        "power_limit_w": number(match.group(2), "power_limit_w", errors),
    }


def _memory(raw: str, errors: dict[str, str]) -> float | None:
    """``147456MiB`` or ``32G`` (GiB) as MiB."""
    match = _MEMORY.fullmatch(raw)
    if match is None:
        if raw != "N/A":
            errors["mem_total_mib"] = f"unreadable value {raw[:40]!r}"
        return None
    value = number(match.group(1), "mem_total_mib", errors)
    return value * MIB_PER_GIB if value is not None and match.group(2) == "G" else value
