"""Alibaba T-Head PPUs (PPU-ZW810E) through `ppu-smi`, which mirrors nvidia-smi's CSV queries.

A read runs two ``ppu-smi --query-gpu=... --format=csv,nounits`` queries: identity, temperature, power
and limit, utilization, memory and SM clocks on every read; then the clocks event reason mask and
volatile ECC totals, whose failure (ppu-smi need not mirror every nvidia-smi field) costs only those
fields. PPU hosts can also answer NVML in their CUDA-compatible mode, so `auto` drops the nvml collector
when the node has no NVIDIA PCI device (`overlaps`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Final

from cardwatch.collectors import ppu_smi
from cardwatch.collectors.tool import QueryFailed, Reading, ToolCollector, UnknownFormat, pci_functions

NVIDIA_PCI_VENDOR: Final = "0x10de"
HEALTH_ONLY: Final = tuple(name for name in ppu_smi.HEALTH_FIELDS.values() if name != "index")


class PpuCollector(ToolCollector):
    """T-Head PPUs of this node: ``PpuCollector(node="ppu-01")``."""

    name: ClassVar[str] = "ppu"
    vendor: ClassVar[str] = "thead"
    tool: ClassVar[str] = "ppu-smi"
    pci_vendor: ClassVar[str] = "0x1ded"
    install_hint: ClassVar[str] = "install the T-Head PPU SDK and add ${PPU_SDK}/ppu-smi/bin to PATH"

    @classmethod
    def overlaps(cls, found: Sequence[str], root: Path = Path("/")) -> frozenset[str]:
        """Drop nvml when it can only be the PPUs answering NVML (no NVIDIA PCI device on the node)."""
        if "nvml" in found and not pci_functions(root / "sys", NVIDIA_PCI_VENDOR):
            return frozenset({"nvml"})
        return frozenset()

    def readings(self) -> list[Reading]:
        """Every PPU of the main query, with throttle and ECC from the second where it answered."""
        fields = ppu_smi.MAIN_FIELDS
        cards = ppu_smi.parse_csv(self.query(*ppu_smi.query_args(fields)), fields)
        try:
            health_fields = ppu_smi.HEALTH_FIELDS
            answer = ppu_smi.parse_csv(self.query(*ppu_smi.query_args(health_fields)), health_fields)
            health: dict[int, Reading] | str = {reading.index: reading for reading in answer}
        except (QueryFailed, UnknownFormat) as exc:
            health = str(exc)
        return [_merge(card, health) for card in cards]


def _merge(card: Reading, health: dict[int, Reading] | str) -> Reading:
    found = health.get(card.index) if isinstance(health, dict) else health
    if found is None:
        found = f"ppu-smi printed no throttle/ECC row for PPU {card.index}"
    if isinstance(found, str):
        return replace(card, errors={**card.errors, **dict.fromkeys(HEALTH_ONLY, found)})
    return replace(card, values={**card.values, **found.values}, errors={**card.errors, **found.errors})
