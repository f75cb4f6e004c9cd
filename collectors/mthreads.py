"""Moore Threads GPUs (MTT S80 / S3000 / S4000 / S5000) through `mthreads-gmi`.

A read runs the plain ``mthreads-gmi`` table (temperature, GPU %, memory, PCIe lanes current(max)) and
``mthreads-gmi --query --json`` (power draw and limit, UUID, serial). When the JSON query fails, the
table's values still stand and the power fields say why they are missing. mthreads-gmi exposes no
throttle reasons or ECC counters, so those stay unknown.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Final

from cardwatch.collectors import mthreads_gmi
from cardwatch.collectors.tool import QueryFailed, Reading, ToolCollector, UnknownFormat

JSON_ARGS: Final = ("--query", "--json")


class MthreadsCollector(ToolCollector):
    """Moore Threads GPUs of this node: ``MthreadsCollector(node="mt-01")``."""

    name: ClassVar[str] = "mthreads"
    vendor: ClassVar[str] = "mthreads"
    tool: ClassVar[str] = "mthreads-gmi"
    pci_vendor: ClassVar[str] = "0x1ed5"
    install_hint: ClassVar[str] = (
        "install the Moore Threads driver (it ships /usr/bin/mthreads-gmi) or bind-mount mthreads-gmi "
        "into the container"
    )

    def readings(self) -> list[Reading]:
        """The table's GPUs, each with its power and identity from the JSON query."""
        cards = mthreads_gmi.parse_table(self.query())
        try:
            extra: dict[int, dict[str, Any]] | str = mthreads_gmi.parse_query_json(self.query(*JSON_ARGS))
        except (QueryFailed, UnknownFormat) as exc:
            extra = str(exc)
        return [_merge(card, extra) for card in cards]


def _merge(card: Reading, extra: dict[int, dict[str, Any]] | str) -> Reading:
    found = extra.get(card.index) if isinstance(extra, dict) else extra
    if found is None:
        found = f"mthreads-gmi --query --json printed no GPU {card.index}"
    elif isinstance(found, dict) and found.get("bus_id", card.values["bus_id"]) != card.values["bus_id"]:
        found = f"mthreads-gmi --query --json GPU {card.index} is at {found['bus_id']}, not {card.values['bus_id']}"
    if isinstance(found, str):
        return replace(card, errors={**card.errors, "power_w": found, "power_limit_w": found})
    values = {k: v for k, v in found.items() if k != "field_errors"}
    return replace(card, values={**card.values, **values}, errors={**card.errors, **found["field_errors"]})
