"""Enflame GCUs (S60 / S60G / L300 / T20) through `efsmi`.

A read runs the plain ``efsmi`` table once: temperature, power and cap (``N/A`` under SR-IOV), GCU %,
total memory, serial. efsmi has no JSON or CSV output, and its ``-q`` view exists publicly only as an
elided code comment, so memory used, HBM temperature, health/RMA flags and PCIe link state stay unknown.
"""

from __future__ import annotations

from typing import ClassVar

from cardwatch.collectors import efsmi
from cardwatch.collectors.tool import Reading, ToolCollector


class EnflameCollector(ToolCollector):
    """Enflame GCUs of this node: ``EnflameCollector(node="gcu-01")``."""

    name: ClassVar[str] = "enflame"
    vendor: ClassVar[str] = "enflame"
    tool: ClassVar[str] = "efsmi"
    pci_vendor: ClassVar[str] = "0x1e36"
    install_hint: ClassVar[str] = "install the Enflame TopsRider driver package, which provides efsmi"

    def readings(self) -> list[Reading]:
        """The devices of the efsmi table."""
        return efsmi.parse_table(self.query())
