"""Thermal zones, their trip points and cooling devices, as the thermal core exposes them in sysfs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cardwatch.collectors.sysfs_read import (
    MILLI_C,
    AttrError,
    entries,
    link_name,
    read_int,
    read_text,
    read_value,
)
from cardwatch.model import Throttle

SOC_ZONE_PREFERENCE: Final = ("soc", "package", "cpu", "cluster", "top")
"""Zone-type words that mark the zone standing for a whole SoC, best first (types are free-form)."""

COOLING_THROTTLE: Final = frozenset({Throttle.SW_THERMAL.value, "sysfs:cooling_device"})


@dataclass(frozen=True, slots=True)
class Zone:
    """One thermal zone: its directory, its free-form type and the cooling devices bound to it."""

    path: Path
    type: str
    cooling: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Thermal:
    """The node's thermal zones and cooling device types, listed once per read."""

    sysfs: Path
    zones: tuple[Zone, ...]
    cooling_types: dict[str, str]

    @classmethod
    def scan(cls, sysfs: Path) -> Thermal:
        """List zones and cooling devices under ``class/thermal`` (entries only, no tree walk)."""
        base = sysfs / "class" / "thermal"
        zones = tuple(zone for name in entries(base, r"thermal_zone\d+") if (zone := _zone(base / name)))
        types = {name: kind for name in entries(base, r"cooling_device\d+") if (kind := _type(base / name))}
        return cls(sysfs, zones, types)

    def device_zone(self, device: str, keyword: str) -> Zone | None:
        """The zone a devfreq device's cooling device is bound to, else the first whose type names `keyword`."""
        cooling = f"devfreq-{device}"
        bound = [z for z in self.zones if any(self.cooling_types.get(c) == cooling for c in z.cooling)]
        named = [z for z in self.zones if keyword in z.type.lower()]
        return (bound + named + [None])[0]

    def soc_zone(self) -> Zone | None:
        """The zone standing for the whole SoC (`SOC_ZONE_PREFERENCE`), else the first zone."""
        for word in SOC_ZONE_PREFERENCE:
            for zone in self.zones:
                if word in zone.type.lower():
                    return zone
        return self.zones[0] if self.zones else None

    def cooling_for(self, zone: Zone | None, device: str | None = None) -> list[str]:
        """Cooling devices that slow the card: bound to its zone or registered for it, fans left out."""
        bound = list(zone.cooling) if zone else []
        own = [name for name, kind in self.cooling_types.items() if device and kind == f"devfreq-{device}"]
        names = dict.fromkeys(bound + own)
        return [n for n in names if "fan" not in self.cooling_types.get(n, "").lower()]

    def cooling_throttle(self, names: list[str]) -> set[str]:
        """`COOLING_THROTTLE` when any of the cooling devices is engaged (cur_state > 0)."""
        base = self.sysfs / "class" / "thermal"
        failures: list[AttrError] = []
        for name in names:
            try:
                if read_int(base / name / "cur_state") > 0:
                    return set(COOLING_THROTTLE)
            except AttrError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        return set()


def _zone(path: Path) -> Zone | None:
    kind = _type(path)
    if kind is None:
        return None
    cooling = (link_name(path / name) for name in entries(path, r"cdev\d+"))
    return Zone(path, kind, tuple(name for name in cooling if name))


def _type(path: Path) -> str | None:
    try:
        return read_text(path / "type")
    except AttrError:
        return None


def trip_c(zone: Zone, trip_type: str) -> float | None:
    """The lowest trip point of `trip_type` (``passive``, ``critical`` ...) in °C; None when there is none."""
    temps = [
        read_value(zone.path / name.replace("_type", "_temp"), MILLI_C)
        for name in entries(zone.path, r"trip_point_\d+_type")
        if read_text(zone.path / name) == trip_type
    ]
    return min(temps, default=None)
