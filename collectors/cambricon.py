"""Cambricon MLUs (MLU370 / MLU590) through `cnmon`.

A read runs the plain ``cnmon`` table once: temperature, board power and cap, MLU %, memory, fan. cnmon's
detailed views (``cnmon info``, whose ``-j`` form writes ``cnmon_info.json`` into the working directory)
have no public capture, so HBM temperature, clocks, throttle reasons and split ECC counters stay unknown.
"""

from __future__ import annotations

from typing import ClassVar

from cardwatch.collectors import cnmon
from cardwatch.collectors.tool import Reading, ToolCollector


class CambriconCollector(ToolCollector):
    """Cambricon MLUs of this node: ``CambriconCollector(node="mlu-01")``."""

    name: ClassVar[str] = "cambricon"
    vendor: ClassVar[str] = "cambricon"
    tool: ClassVar[str] = "cnmon"
    pci_vendor: ClassVar[str] = "0xcabc"
    install_hint: ClassVar[str] = (
        "install the Cambricon driver package (it ships /usr/bin/cnmon) or bind-mount /usr/bin/cnmon "
        "into the container"
    )

    def readings(self) -> list[Reading]:
        """The cards of the cnmon table."""
        return cnmon.parse_table(self.query())
