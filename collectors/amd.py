"""AMD Instinct and Radeon GPUs through `amd-smi`, with `rocm-smi --json` as the fallback.

A read runs the plain ``amd-smi`` view (temperature, power and cap, GFX use, fan, VRAM, uncorrectable ECC
count) and ``amd-smi metric --throttle`` (PPT / thermal / PROCHOT violation status, MI300 and newer).
Where amd-smi is missing or prints a layout cardwatch has not seen, ``rocm-smi ... --json`` is read
instead; that choice is remembered, since neither fact changes while the agent runs. The sysfs collector
reads the same GPUs through the amdgpu hwmon, so `auto` keeps only one of the two (`overlaps`).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Final

from cardwatch.collectors import CollectorUnavailable, amd_smi
from cardwatch.collectors.sysfs_devices import (
    AMD_PCI_VENDOR,
    amd_gpus,
    board_compatible,
    devfreq_accelerators,
)
from cardwatch.collectors.tool import QueryFailed, Reading, ToolCollector, UnknownFormat

ROCM_SMI_ARGS: Final = (
    "-i",
    "--showmeminfo",
    "vram",
    "--showpower",
    "--showserial",
    "--showuse",
    "--showtemp",
    "--showproductname",
    "--showuniqueid",
    "--json",
)
THROTTLE_ARGS: Final = ("metric", "--throttle")


class AmdCollector(ToolCollector):
    """AMD GPUs of this node through amd-smi or rocm-smi: ``AmdCollector(node="mi300-01")``."""

    name: ClassVar[str] = "amd"
    vendor: ClassVar[str] = "amd"
    tool: ClassVar[str] = "amd-smi"
    pci_vendor: ClassVar[str] = AMD_PCI_VENDOR
    install_hint: ClassVar[str] = (
        "install amd-smi (package amd-smi-lib, ROCm 6 or newer) or rocm-smi; without either, "
        "the sysfs collector still reads the amdgpu hwmon"
    )

    _fallback_reason: str | None = None

    @classmethod
    def probe(cls, root: Path = Path("/")) -> bool:
        """An AMD GPU under ``root/sys`` and amd-smi or rocm-smi on PATH (else sysfs is the way in)."""
        tool = shutil.which("amd-smi") or shutil.which("rocm-smi")
        return tool is not None and bool(amd_gpus(root / "sys"))

    @classmethod
    def overlaps(cls, found: Sequence[str], root: Path = Path("/")) -> frozenset[str]:
        """Which of `found` to drop so no GPU is counted twice: sysfs when it would read only AMD GPUs."""
        if "sysfs" not in found:
            return frozenset()
        sysfs = root / "sys"
        only_amd = not devfreq_accelerators(sysfs) and not board_compatible(sysfs)
        return frozenset({"sysfs"} if only_amd else {cls.name})

    def readings(self) -> list[Reading]:
        """amd-smi's cards with their throttle reasons, else rocm-smi's."""
        if self._fallback_reason is None:
            try:
                return self._amd_smi()
            except CollectorUnavailable:
                self._fallback_reason = "amd-smi was not found on PATH"
            except UnknownFormat as exc:
                self._fallback_reason = str(exc)
        try:
            return amd_smi.parse_rocm_json(self.query(*ROCM_SMI_ARGS, tool="rocm-smi"))
        except CollectorUnavailable:
            raise QueryFailed(
                f"{self._fallback_reason}, and rocm-smi was not found on PATH: {self.install_hint}"
            ) from None

    def _amd_smi(self) -> list[Reading]:
        cards = amd_smi.parse_default(self.query())
        try:
            throttle: dict[int, frozenset[str] | str] | str = amd_smi.parse_throttle(
                self.query(*THROTTLE_ARGS)
            )
        except QueryFailed as exc:
            throttle = str(exc)
        return [_with_throttle(card, throttle) for card in cards]


def _with_throttle(card: Reading, throttle: dict[int, frozenset[str] | str] | str) -> Reading:
    """The card's throttle reasons, or the reason they are unknown in ``field_errors``."""
    found = throttle.get(card.index) if isinstance(throttle, dict) else throttle
    if found is None:
        found = f"amd-smi metric --throttle printed nothing for GPU {card.index}"
    if isinstance(found, str):
        return replace(card, errors={**card.errors, "throttle": found})
    return replace(card, values={**card.values, "throttle": found})
