"""Accelerators seen through Linux sysfs: devfreq NPUs/GPUs, amdgpu hwmon, and SoC boards' thermal zones.

What counts as a card, in enumeration order (the sample's ``index``):
1. each devfreq device whose name or devicetree ``compatible`` says npu/gpu/vpu/mali;
2. each AMD PCI display or processing-accelerator function (vendor 0x1002), read through its amdgpu hwmon;
3. when neither exists, a devicetree (SoC) board with thermal zones is one card standing for the SoC.
A plain x86 server or VM is none of these, so ``auto`` never reports its CPU package as a card.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from cardwatch.collectors import CollectorUnavailable, default_node
from cardwatch.collectors.sysfs_devices import (
    amd_gpus,
    amd_model,
    amdgpu_hwmon,
    amdgpu_hwmon_present,
    board_compatible,
    devfreq_accelerators,
    device_compatible,
    fastest_policy,
    labelled,
    soc_vendor,
)
from cardwatch.collectors.sysfs_read import (
    BYTES_AS_MIB,
    HZ_AS_MHZ,
    KHZ_AS_MHZ,
    MICRO_W,
    MILLI_C,
    PERCENT,
    PWM_AS_PERCENT,
    AttrError,
    Unit,
    read_max,
    read_pcie_gen,
    read_pcie_width,
    read_trans_stat_max,
    read_value,
)
from cardwatch.collectors.sysfs_thermal import Thermal, Zone, trip_c
from cardwatch.model import CardSample, CardState

T = TypeVar("T")

AMDGPU_TEMP_LABELS: Final = {1: "edge", 2: "junction", 3: "mem"}
AMDGPU_FREQ_LABELS: Final = {1: "sclk", 2: "mclk"}


class SysfsCollector:
    """Cards of one Linux node read from sysfs: ``SysfsCollector(sysfs=Path("/sys"))``.

    `sysfs` is node_exporter's ``--path.sysfs``: tests and ``cardwatch probe --sysfs-root`` point it at a
    fixture tree.
    """

    name: ClassVar[str] = "sysfs"

    def __init__(self, node: str | None = None, sysfs: Path = Path("/sys")) -> None:
        self.node = node or default_node()
        self.sysfs = sysfs

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """Is there an accelerator under ``root/sys``, or an SoC board with thermal zones?"""
        sysfs = root / "sys"
        return bool(
            devfreq_accelerators(sysfs)
            or amd_gpus(sysfs)
            or amdgpu_hwmon_present(sysfs)
            or (board_compatible(sysfs) and Thermal.scan(sysfs).zones)
        )

    def read(self) -> list[CardSample]:
        """One sample per card (see the module docstring for what a card is)."""
        if not os.path.isdir(self.sysfs / "class"):
            raise CollectorUnavailable(f"{self.sysfs} is not a sysfs tree (no class/ directory)")
        thermal = Thermal.scan(self.sysfs)
        cards = [
            partial(self._devfreq_card, thermal, name, kind)
            for name, kind in devfreq_accelerators(self.sysfs)
        ]
        cards += [partial(self._amdgpu_card, address) for address in amd_gpus(self.sysfs)]
        if not cards and board_compatible(self.sysfs) and thermal.zones:
            cards.append(partial(self._soc_card, thermal))
        return [card(_Fields(self.sysfs, self.node, index)) for index, card in enumerate(cards)]

    def close(self) -> None:
        """Nothing to release."""

    def _devfreq_card(self, thermal: Thermal, name: str, kind: str, f: _Fields) -> CardSample:
        dev = self.sysfs / "class" / "devfreq" / name
        compatible = device_compatible(dev)
        f.read("sm_clock_mhz", lambda: read_value(dev / "cur_freq", HZ_AS_MHZ))
        f.read("sm_clock_max_mhz", lambda: _hardware_max_mhz(dev))
        zone = thermal.device_zone(name, kind)
        f.zone(zone, f"no thermal zone belongs to {name}")
        f.throttle(
            [lambda: _devfreq_capped(dev), lambda: thermal.cooling_throttle(thermal.cooling_for(zone, name))]
        )
        model = compatible[0].partition(",")[2] if compatible else name
        vendor = soc_vendor(compatible + board_compatible(self.sysfs)[::-1])
        return f.sample(vendor=vendor, model=model or name, bus_id=name)

    def _amdgpu_card(self, address: str, f: _Fields) -> CardSample:
        pci = self.sysfs / "bus" / "pci" / "devices" / address
        model = amd_model(pci)
        hwmon = amdgpu_hwmon(pci)
        if hwmon is None:
            reason = f"no amdgpu hwmon under bus/pci/devices/{address} (is the amdgpu driver bound?)"
            return f.sample(vendor="amd", model=model, bus_id=address, failure=reason)
        temps = labelled(hwmon, "temp", AMDGPU_TEMP_LABELS)
        core = temps.get("junction", temps.get("edge", 1))
        f.read("temp_c", lambda: read_value(hwmon / f"temp{core}_input", MILLI_C))
        f.optional("temp_slowdown_c", hwmon / f"temp{core}_crit", MILLI_C)
        f.optional("temp_shutdown_c", hwmon / f"temp{core}_emergency", MILLI_C)
        if "mem" in temps:
            f.read("mem_temp_c", lambda: read_value(hwmon / f"temp{temps['mem']}_input", MILLI_C))
            f.optional("mem_temp_max_c", hwmon / f"temp{temps['mem']}_crit", MILLI_C)
        power = (
            hwmon / "power1_average" if os.path.lexists(hwmon / "power1_average") else hwmon / "power1_input"
        )
        f.read("power_w", lambda: read_value(power, MICRO_W))
        f.optional("power_limit_w", hwmon / "power1_cap", MICRO_W)
        f.optional("power_default_limit_w", hwmon / "power1_cap_default", MICRO_W)
        freqs = labelled(hwmon, "freq", AMDGPU_FREQ_LABELS)
        f.optional("sm_clock_mhz", hwmon / f"freq{freqs.get('sclk', 1)}_input", HZ_AS_MHZ)
        f.optional("mem_clock_mhz", hwmon / f"freq{freqs.get('mclk', 2)}_input", HZ_AS_MHZ)
        f.optional("fan_pct", hwmon / "pwm1", PWM_AS_PERCENT, digits=1)
        f.read("util_pct", lambda: read_value(pci / "gpu_busy_percent", PERCENT))
        f.read("mem_used_mib", lambda: read_value(pci / "mem_info_vram_used", BYTES_AS_MIB))
        f.read("mem_total_mib", lambda: read_value(pci / "mem_info_vram_total", BYTES_AS_MIB))
        _read_pcie(f, pci)
        return f.sample(vendor="amd", model=model, bus_id=address)

    def _soc_card(self, thermal: Thermal, f: _Fields) -> CardSample:
        compatible = board_compatible(self.sysfs)
        zone = thermal.soc_zone()
        f.zone(zone, "no thermal zone")
        policy = fastest_policy(self.sysfs)
        checks: list[Callable[[], set[str]]] = [lambda: thermal.cooling_throttle(thermal.cooling_for(zone))]
        if policy is not None:
            f.read("sm_clock_mhz", lambda: read_value(policy / "scaling_cur_freq", KHZ_AS_MHZ))
            f.read("sm_clock_max_mhz", lambda: read_value(policy / "cpuinfo_max_freq", KHZ_AS_MHZ))
            checks.append(lambda: _cpufreq_capped(policy))
        f.throttle(checks)
        model = compatible[-1].partition(",")[2] or compatible[-1]
        return f.sample(vendor=soc_vendor(compatible[::-1]), model=model)


class _Fields:
    """One card's values and, per failed field, why: the collector's single place for read errors."""

    def __init__(self, sysfs: Path, node: str, index: int) -> None:
        self.sysfs = sysfs
        self.node = node
        self.index = index
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}

    def read(self, field: str, reader: Callable[[], T]) -> T | None:
        """Run `reader` for `field`; a failure leaves the field unknown and records the reason."""
        try:
            value = reader()
        except AttrError as exc:
            self.errors[field] = exc.describe(self.sysfs)
            return None
        if value is not None:
            self.values[field] = value
        return value

    def optional(self, field: str, path: Path, unit: Unit, digits: int | None = None) -> None:
        """Read an attribute the driver hides when unsupported: absent is unknown, not an error."""
        if os.path.lexists(path):
            value = self.read(field, lambda: read_value(path, unit))
            if value is not None and digits is not None:
                self.values[field] = round(value, digits)

    def zone(self, zone: Zone | None, missing: str) -> None:
        """Temperature and trip points from the card's thermal zone."""
        if zone is None:
            self.errors["temp_c"] = missing
            return
        self.read("temp_c", lambda: read_value(zone.path / "temp", MILLI_C))
        self.read("temp_slowdown_c", lambda: trip_c(zone, "passive"))
        self.read("temp_shutdown_c", lambda: trip_c(zone, "critical"))

    def throttle(self, checks: list[Callable[[], set[str]]]) -> None:
        """Active clock limits; unknown (None) only when a check failed and none found a reason."""
        reasons: set[str] = set()
        failures: list[str] = []
        for check in checks:
            try:
                reasons |= check()
            except AttrError as exc:
                failures.append(exc.describe(self.sysfs))
        if failures:
            self.errors["throttle"] = "; ".join(failures)
        if reasons or not failures:
            self.values["throttle"] = frozenset(reasons)

    def sample(self, failure: str | None = None, **identity: Any) -> CardSample:
        """The card's sample; a card that cannot be read, or whose every reading failed, is an error."""
        if failure is None and self.errors and not set(self.values) - {"throttle"}:
            failure = "no attribute could be read"
        return CardSample(
            node=self.node,
            source=SysfsCollector.name,
            index=self.index,
            ts=time.time(),
            state=CardState.OK if failure is None else CardState.ERROR,
            state_reason=failure,
            field_errors=dict(self.errors),
            **identity,
            **self.values,
        )


def _read_pcie(f: _Fields, pci: Path) -> None:
    f.read("pcie_gen", lambda: read_pcie_gen(pci / "current_link_speed"))
    f.read("pcie_gen_max", lambda: read_pcie_gen(pci / "max_link_speed"))
    f.read("pcie_width", lambda: read_pcie_width(pci / "current_link_width"))
    f.read("pcie_width_max", lambda: read_pcie_width(pci / "max_link_width"))


def _devfreq_capped(dev: Path) -> set[str]:
    """``devfreq:capped`` when max_freq (thermal/QoS cap) sits below the hardware's top frequency."""
    capped = read_value(dev / "max_freq", HZ_AS_MHZ) < _hardware_max_mhz(dev)
    return {"devfreq:capped"} if capped else set()


def _hardware_max_mhz(dev: Path) -> float:
    """The top of a devfreq device's frequency table: available_frequencies, else trans_stat's rows."""
    try:
        return read_max(dev / "available_frequencies", HZ_AS_MHZ)
    except AttrError as first:
        try:
            return read_trans_stat_max(dev / "trans_stat", HZ_AS_MHZ)
        except AttrError as second:
            raise AttrError(first.path, f"{first.reason}; trans_stat: {second.reason}") from None


def _cpufreq_capped(policy: Path) -> set[str]:
    """``cpufreq:capped`` when the policy's limit (cpufreq cooling uses it) sits below the hardware max."""
    capped = read_value(policy / "scaling_max_freq", KHZ_AS_MHZ) < read_value(
        policy / "cpuinfo_max_freq", KHZ_AS_MHZ
    )
    return {"cpufreq:capped"} if capped else set()
