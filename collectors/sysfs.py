"""Accelerators seen through Linux sysfs: devfreq NPUs/GPUs, amdgpu hwmon, and SoC boards' thermal zones.

What counts as a card, in enumeration order (the sample's ``index``):
1. each devfreq device whose name or devicetree ``compatible`` says npu/gpu/vpu/mali;
2. each AMD PCI display or processing-accelerator function (vendor 0x1002), read through its amdgpu hwmon;
3. when neither exists, a devicetree (SoC) board with thermal zones is one card standing for the SoC.
A plain x86 server or VM is none of these, so ``auto`` never reports its CPU package as a card.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar

from cardwatch.collectors import CollectorUnavailable, default_node
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
    entries,
    read_int,
    read_max,
    read_pcie_gen,
    read_strings,
    read_text,
    read_value,
)
from cardwatch.collectors.sysfs_thermal import Thermal, Zone, trip_c
from cardwatch.model import CardSample, CardState

T = TypeVar("T")

ACCELERATOR_WORDS: Final = {"npu": "npu", "gpu": "gpu", "vpu": "vpu", "mali": "gpu"}
SOC_VENDORS: Final = frozenset({"thead", "sophgo", "starfive", "spacemit", "rockchip"})
AMD_PCI_VENDOR: Final = "0x1002"
ACCELERATOR_PCI_CLASSES: Final = ("0x03", "0x12")
"""PCI base classes of cards: display controllers and processing accelerators (not the HDMI audio function)."""
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
            or _amdgpu_hwmon_present(sysfs)
            or (board_compatible(sysfs) and Thermal.scan(sysfs).zones)
        )

    def read(self) -> list[CardSample]:
        """One sample per card (see the module docstring for what a card is)."""
        if not (self.sysfs / "class").is_dir():
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
        compatible = _device_compatible(dev)
        f.read("sm_clock_mhz", lambda: read_value(dev / "cur_freq", HZ_AS_MHZ))
        f.read("sm_clock_max_mhz", lambda: read_max(dev / "available_frequencies", HZ_AS_MHZ))
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
        model = _amd_model(pci)
        hwmon = _amdgpu_hwmon(pci)
        if hwmon is None:
            reason = f"no amdgpu hwmon under bus/pci/devices/{address} (is the amdgpu driver bound?)"
            return f.sample(vendor="amd", model=model, bus_id=address, failure=reason)
        temps = _labelled(hwmon, "temp", AMDGPU_TEMP_LABELS)
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
        freqs = _labelled(hwmon, "freq", AMDGPU_FREQ_LABELS)
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
        policy = _fastest_policy(self.sysfs)
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


def devfreq_accelerators(sysfs: Path) -> list[tuple[str, str]]:
    """(devfreq device name, accelerator kind) for every devfreq device that is an NPU/GPU/VPU."""
    base = sysfs / "class" / "devfreq"
    found = [(name, _accelerator_kind([name, *_device_compatible(base / name)])) for name in entries(base)]
    return [(name, kind) for name, kind in found if kind]


def _accelerator_kind(names: list[str]) -> str | None:
    for name in names:
        match = re.search("|".join(ACCELERATOR_WORDS), name.lower())
        if match:
            return ACCELERATOR_WORDS[match.group(0)]
    return None


def _device_compatible(devfreq_dir: Path) -> list[str]:
    """The parent device's devicetree ``compatible`` (the devfreq node sits at <device>/devfreq/<name>)."""
    device = Path(os.path.realpath(devfreq_dir)).parent.parent
    try:
        return read_strings(device / "of_node" / "compatible")
    except AttrError:
        return []


def amd_gpus(sysfs: Path) -> list[str]:
    """PCI addresses of AMD display and accelerator functions."""
    base = sysfs / "bus" / "pci" / "devices"
    return [address for address in entries(base) if _is_amd_gpu(base / address)]


def _is_amd_gpu(pci: Path) -> bool:
    try:
        return read_text(pci / "vendor") == AMD_PCI_VENDOR and read_text(pci / "class").startswith(
            ACCELERATOR_PCI_CLASSES
        )
    except AttrError:
        return False


def _amdgpu_hwmon_present(sysfs: Path) -> bool:
    base = sysfs / "class" / "hwmon"
    return any(_hwmon_name(base / name) == "amdgpu" for name in entries(base))


def _amdgpu_hwmon(pci: Path) -> Path | None:
    hwmons = [pci / "hwmon" / name for name in entries(pci / "hwmon", r"hwmon\d+")]
    return next((path for path in hwmons if _hwmon_name(path) == "amdgpu"), None)


def _hwmon_name(path: Path) -> str | None:
    try:
        return read_text(path / "name")
    except AttrError:
        return None


def _amd_model(pci: Path) -> str:
    """The marketing name where the driver has one (``product_name``), else the PCI device id."""
    for attr, prefix in (("product_name", ""), ("device", "AMD GPU ")):
        try:
            return prefix + read_text(pci / attr)
        except AttrError:
            continue
    return "AMD GPU"


def _labelled(hwmon: Path, kind: str, defaults: dict[int, str]) -> dict[str, int]:
    """hwmon channel label -> channel number for `kind` (``temp``, ``freq``); unlabelled ones use `defaults`."""
    labels: dict[str, int] = {}
    for name in entries(hwmon, rf"{kind}\d+_input"):
        channel = int(name[len(kind) : -len("_input")])
        try:
            label = read_text(hwmon / f"{kind}{channel}_label")
        except AttrError:
            label = defaults.get(channel, f"{kind}{channel}")
        labels.setdefault(label, channel)
    return labels


def _read_pcie(f: _Fields, pci: Path) -> None:
    f.read("pcie_gen", lambda: read_pcie_gen(pci / "current_link_speed"))
    f.read("pcie_gen_max", lambda: read_pcie_gen(pci / "max_link_speed"))
    f.read("pcie_width", lambda: read_int(pci / "current_link_width"))
    f.read("pcie_width_max", lambda: read_int(pci / "max_link_width"))


def _devfreq_capped(dev: Path) -> set[str]:
    """``devfreq:capped`` when max_freq (thermal/QoS cap) sits below the hardware's top frequency."""
    capped = read_value(dev / "max_freq", HZ_AS_MHZ) < read_max(dev / "available_frequencies", HZ_AS_MHZ)
    return {"devfreq:capped"} if capped else set()


def _cpufreq_capped(policy: Path) -> set[str]:
    """``cpufreq:capped`` when the policy's limit (cpufreq cooling uses it) sits below the hardware max."""
    capped = read_value(policy / "scaling_max_freq", KHZ_AS_MHZ) < read_value(
        policy / "cpuinfo_max_freq", KHZ_AS_MHZ
    )
    return {"cpufreq:capped"} if capped else set()


def _fastest_policy(sysfs: Path) -> Path | None:
    """The cpufreq policy with the highest hardware max (the big cluster), if cpufreq is there."""
    base = sysfs / "devices" / "system" / "cpu" / "cpufreq"
    policies = [base / name for name in entries(base, r"policy\d+")]
    return max(policies, key=_policy_max_khz, default=None)


def _policy_max_khz(policy: Path) -> int:
    try:
        return read_int(policy / "cpuinfo_max_freq")
    except AttrError:
        return -1


def board_compatible(sysfs: Path) -> list[str]:
    """The board's devicetree ``compatible`` list (board first, SoC last); empty on ACPI machines."""
    try:
        return read_strings(sysfs / "firmware" / "devicetree" / "base" / "compatible")
    except AttrError:
        return []


def soc_vendor(compatible: list[str]) -> str:
    """The first known SoC vendor prefix among `compatible` strings, else ``generic``."""
    prefixes = (entry.partition(",")[0] for entry in compatible)
    return next((prefix for prefix in prefixes if prefix in SOC_VENDORS), "generic")
