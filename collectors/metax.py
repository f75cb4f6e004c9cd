"""MetaX GPUs (C500 / C550) through MetaX's `mx-smi`.

A read runs the plain ``mx-smi`` table (temperature, board power and cap, GPU %, memory, GPU-State) and
``mx-smi --count-ecc`` (SRAM/DRAM ECC counts and retired pages). A GPU whose GPU-State is not
``Available`` is marked errored with that state as the reason. The output is identified by MetaX's banner
first: MOFFETT's tool is also called mx-smi.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, Final

from cardwatch.collectors import mx_smi
from cardwatch.collectors.tool import QueryFailed, Reading, ToolCollector, UnknownFormat

ECC_ARGS: Final = ("--count-ecc",)
EccAnswer = dict[int, tuple[str | None, dict[str, object], dict[str, str]]]


class MetaxCollector(ToolCollector):
    """MetaX GPUs of this node: ``MetaxCollector(node="mx-01")``."""

    name: ClassVar[str] = "metax"
    vendor: ClassVar[str] = "metax"
    tool: ClassVar[str] = "mx-smi"
    pci_vendor: ClassVar[str] = "0x9999"
    install_hint: ClassVar[str] = (
        "install the MetaX driver (it ships /opt/mxdriver/bin/mx-smi) and add it to PATH"
    )

    def readings(self) -> list[Reading]:
        """The table's GPUs, each with its ECC counts."""
        cards = mx_smi.parse_table(self.query())
        try:
            ecc: EccAnswer | str = mx_smi.parse_count_ecc(self.query(*ECC_ARGS))
        except (QueryFailed, UnknownFormat) as exc:
            ecc = str(exc)
        return [_with_ecc(card, ecc) for card in cards]


def _with_ecc(card: Reading, ecc: EccAnswer | str) -> Reading:
    found = ecc.get(card.index) if isinstance(ecc, dict) else ecc
    if found is None:
        found = f"mx-smi --count-ecc printed no GPU#{card.index}"
    elif not isinstance(found, str) and found[0] != card.values.get("bus_id"):
        found = f"mx-smi --count-ecc GPU#{card.index} is at {found[0]}, not {card.values.get('bus_id')}"
    if isinstance(found, str):
        return replace(card, errors={**card.errors, **dict.fromkeys(mx_smi.ECC_KEYS, found)})
    _, values, errors = found
    return replace(card, values={**card.values, **values}, errors={**card.errors, **errors})
