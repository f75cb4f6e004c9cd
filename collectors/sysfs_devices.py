"""Finding cards in sysfs: devfreq accelerators, AMD PCI functions, the devicetree board and cpufreq policies.

Discovery lists one directory's entries and reads attribute files by name; it never walks the tree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from cardwatch.collectors.sysfs_read import AttrError, entries, read_int, read_strings, read_text

ACCELERATOR_WORDS: Final = {"npu": "npu", "gpu": "gpu", "vpu": "vpu", "mali": "gpu"}
_ACCELERATOR_WORD: Final = re.compile("|".join(ACCELERATOR_WORDS))
SOC_VENDORS: Final = frozenset({"thead", "sophgo", "starfive", "spacemit", "rockchip"})
AMD_PCI_VENDOR: Final = "0x1002"
ACCELERATOR_PCI_CLASSES: Final = ("0x03", "0x12")
"""PCI base classes of cards: display controllers and processing accelerators (not the HDMI audio function)."""


def devfreq_accelerators(sysfs: Path) -> list[tuple[str, str]]:
    """(devfreq device name, accelerator kind) for every devfreq device that is an NPU/GPU/VPU."""
    base = sysfs / "class" / "devfreq"
    found = [(name, _accelerator_kind([name, *device_compatible(base / name)])) for name in entries(base)]
    return [(name, kind) for name, kind in found if kind]


def _accelerator_kind(names: list[str]) -> str | None:
    matches = (_ACCELERATOR_WORD.search(name.lower()) for name in names)
    return next((ACCELERATOR_WORDS[m.group(0)] for m in matches if m), None)


def device_compatible(devfreq_dir: Path) -> list[str]:
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


def amdgpu_hwmon_present(sysfs: Path) -> bool:
    """Is any hwmon chip named ``amdgpu`` (an AMD GPU whose PCI entry we may not see)?"""
    base = sysfs / "class" / "hwmon"
    return any(_hwmon_name(base / name) == "amdgpu" for name in entries(base))


def amdgpu_hwmon(pci: Path) -> Path | None:
    """The amdgpu hwmon directory of one PCI function; None when the driver is not bound."""
    hwmons = [pci / "hwmon" / name for name in entries(pci / "hwmon", r"hwmon\d+")]
    return next((path for path in hwmons if _hwmon_name(path) == "amdgpu"), None)


def _hwmon_name(path: Path) -> str | None:
    try:
        return read_text(path / "name")
    except AttrError:
        return None


def amd_model(pci: Path) -> str:
    """The marketing name where the driver has one (``product_name``), else the PCI device id."""
    for attr, prefix in (("product_name", ""), ("device", "AMD GPU ")):
        try:
            return prefix + read_text(pci / attr)
        except AttrError:
            continue
    return "AMD GPU"


def labelled(hwmon: Path, kind: str, defaults: dict[int, str]) -> dict[str, int]:
    """hwmon channel label -> channel number for `kind` (``temp``, ``freq``); unlabelled ones use `defaults`."""
    labels: dict[str, int] = {}
    for name in entries(hwmon, rf"{kind}[0-9]+_input"):
        channel = int(name[len(kind) : -len("_input")])
        try:
            label = read_text(hwmon / f"{kind}{channel}_label")
        except AttrError:
            label = defaults.get(channel, f"{kind}{channel}")
        labels.setdefault(label, channel)
    return labels


def fastest_policy(sysfs: Path) -> Path | None:
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
